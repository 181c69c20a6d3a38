"""Writes for billing: trials, checkout and portal sessions, the organization
status a subscription calls for, and seat sync. Stripe's webhooks are in
``webhooks.py`` (ingest, processing, the copy of a Stripe subscription), the
hourly dunning sweep in ``dunning.py``.

Stripe is the source of truth for paid subscriptions (``webhooks.py``).

The organization's status follows the subscription (``organization_status_sync``):
trialing/active/past_due serve normally; past_due beyond the grace period,
unpaid and cancelled make it read-only (``suspended``/``cancelled``,
``Subscription.suspended_by_billing``), and paying again resumes it. Status
changes go through ``tenants.provisioning.set_tenant_status`` (a model save),
which drops the host cache entry of every domain of the organization.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import stripe
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from apps.common.errors import ApplicationError, ConflictError
from apps.organizations.constants import (
    INTERNAL_STATUSES,
    MembershipStatus,
    OrganizationStatus,
    Role,
)
from apps.organizations.models import Membership, Organization
from apps.organizations.permissions import role_has
from apps.organizations.selectors import organization_url
from apps.organizations.signals import organization_status_changed_on_commit
from tenants.provisioning import set_tenant_status

from . import gateway
from .constants import SEAT_BILLED_STATUSES, PlanCode, SubscriptionStatus
from .models import Plan, Subscription

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser
    from stripe.params.checkout import SessionCreateParams, SessionCreateParamsSubscriptionData

logger = logging.getLogger(__name__)

#: Who hears about billing (``billing.manage`` in the permission table: owners, admins).
BILLING_MANAGER_ROLES = tuple(role for role in Role if role_has(role, "billing.manage"))
#: Plan an organization's trial runs on.
TRIAL_PLAN = PlanCode.PRO
#: Stripe refuses a Checkout ``trial_end`` less than 48 hours ahead.
MIN_CHECKOUT_TRIAL = datetime.timedelta(hours=49)


def billable_members(organization_id: uuid.UUID | str) -> int:
    """Seats = active memberships, whatever the role (documented in README)."""
    return Membership.objects.filter(
        organization_id=organization_id, status=MembershipStatus.ACTIVE
    ).count()


def stripe_timestamp(value: int | str | None) -> datetime.datetime | None:
    """Stripe's unix timestamps → aware datetimes."""
    if value in (None, ""):
        return None
    return datetime.datetime.fromtimestamp(int(value), tz=datetime.UTC)


# --- subscriptions and trials --------------------------------------------------


def subscription_ensure(*, organization_id: uuid.UUID | str) -> Subscription | None:
    """The organization's subscription, creating a trial of ``TRIAL_PLAN`` for
    ``NOVATIME_TRIAL_DAYS`` if it has none (called when an organization gets
    its first member: signup or CLI). ``None`` for template/pooled rows."""
    existing = Subscription.objects.filter(organization_id=organization_id).first()
    if existing is not None:
        return existing
    org = Organization.objects.filter(pk=organization_id).first()
    if org is None or org.status in INTERNAL_STATUSES:
        return None
    now = timezone.now()
    try:
        with transaction.atomic():
            subscription = Subscription.objects.create(
                organization=org,
                plan=Plan.objects.get(code=TRIAL_PLAN),
                status=SubscriptionStatus.TRIALING,
                trial_ends_at=now + datetime.timedelta(days=settings.NOVATIME_TRIAL_DAYS),
                seats=max(1, billable_members(org.pk)),
            )
    except IntegrityError:  # created concurrently (two first members at once)
        return Subscription.objects.get(organization_id=organization_id)
    logger.info("billing: trial started for organization %s", org.pk)
    return subscription


def _locked_subscription(organization: Organization) -> Subscription:
    subscription = subscription_ensure(organization_id=organization.pk)
    if subscription is None:
        raise ApplicationError("This organization cannot be billed.", code="not_billable")
    return Subscription.objects.select_for_update().select_related("plan").get(pk=subscription.pk)


# --- checkout and portal -------------------------------------------------------


class StripeRefusedError(ApplicationError):
    """Stripe failed or refused a request made for the caller: 502, logged."""

    status_code = 502
    code = "stripe_error"


@contextmanager
def _stripe_refusal_as_error() -> Iterator[None]:
    try:
        yield
    except stripe.StripeError as exc:
        logger.warning("billing: Stripe refused a request: %s", exc)
        raise StripeRefusedError(
            "The payment provider could not handle the request; try again later."
        ) from exc


def _purchasable_plan(plan_code: str) -> Plan:
    plan = Plan.objects.filter(code=plan_code).first()
    if plan is None:
        raise ApplicationError(
            f"Unknown plan {plan_code!r}.",
            code="unknown_plan",
            extra={"fields": {"plan": [f"Choose one of: {', '.join(PlanCode.values)}."]}},
        )
    if not plan.is_paid:
        raise ApplicationError(
            f"The {plan.name} plan needs no checkout.",
            code="plan_not_purchasable",
            extra={"fields": {"plan": ["Choose a paid plan."]}},
        )
    return plan


def checkout_session_create(
    *, organization: Organization, plan_code: str, user: AbstractBaseUser | AnonymousUser
) -> str:
    """A Stripe Checkout Session (subscription mode) for ``plan_code`` with one
    seat per billable member → its URL.

    ``client_reference_id`` and the subscription's metadata carry the
    organization id, so the webhooks can link the new Stripe customer and
    subscription to it whatever order they arrive in. A running trial carries
    over (``trial_end``) so that upgrading early does not cost trial days.
    """
    plan = _purchasable_plan(plan_code)
    client = gateway.stripe_client()
    if not plan.stripe_price_id:
        raise gateway.BillingNotConfiguredError(
            f"The {plan.name} plan has no Stripe price configured "
            f"(STRIPE_PRICE_{plan.code.upper()})."
        )
    with transaction.atomic():
        subscription = _locked_subscription(organization)
        live = subscription.stripe_subscription_id and subscription.status not in (
            SubscriptionStatus.CANCELLED,
            SubscriptionStatus.INCOMPLETE,
        )
        if live:
            raise ConflictError(
                "This organization already has a subscription: change it in the billing portal.",
                code="subscription_exists",
            )
        quantity = max(1, billable_members(organization.pk))
        base = organization_url(organization)
        org_ref = str(organization.pk)
        subscription_data: SessionCreateParamsSubscriptionData = {
            "metadata": {"organization_id": org_ref, "plan": plan.code}
        }
        params: SessionCreateParams = {
            "mode": "subscription",
            "line_items": [{"price": plan.stripe_price_id, "quantity": quantity}],
            "client_reference_id": org_ref,
            "success_url": f"{base}billing?checkout=success",
            "cancel_url": f"{base}billing?checkout=cancelled",
            "metadata": {"organization_id": org_ref, "plan": plan.code},
            "subscription_data": subscription_data,
        }
        if subscription.stripe_customer_id:
            params["customer"] = subscription.stripe_customer_id
        elif email := getattr(user, "email", ""):
            params["customer_email"] = email
        trial_end = subscription.trial_ends_at
        if (
            subscription.status == SubscriptionStatus.TRIALING
            and trial_end is not None
            and trial_end - timezone.now() > MIN_CHECKOUT_TRIAL
        ):
            subscription_data["trial_end"] = int(trial_end.timestamp())
    with _stripe_refusal_as_error():
        session = client.v1.checkout.sessions.create(params)
    logger.info("billing: checkout session %s for organization %s", session.id, organization.pk)
    return str(session.url)


def portal_session_create(*, organization: Organization) -> str:
    """A Stripe Customer Portal session → its URL (409 before any checkout)."""
    client = gateway.stripe_client()
    subscription = Subscription.objects.filter(organization_id=organization.pk).first()
    if subscription is None or not subscription.stripe_customer_id:
        raise ConflictError(
            "This organization has no billing account yet: choose a plan first.",
            code="no_billing_account",
        )
    with _stripe_refusal_as_error():
        session = client.v1.billing_portal.sessions.create(
            {
                "customer": subscription.stripe_customer_id,
                "return_url": f"{organization_url(organization)}billing",
            }
        )
    return str(session.url)


# --- organization status ---------------------------------------------------------


def grace_over(subscription: Subscription, now: datetime.datetime) -> bool:
    since = subscription.past_due_since
    grace = datetime.timedelta(days=settings.NOVATIME_PAST_DUE_GRACE_DAYS)
    return since is not None and now >= since + grace


def organization_status_for(subscription: Subscription, *, now: datetime.datetime) -> str | None:
    """The organization status a subscription state calls for (``None``: leave it)."""
    status = subscription.status
    if status == SubscriptionStatus.PAST_DUE:
        return (
            OrganizationStatus.SUSPENDED
            if grace_over(subscription, now)
            else OrganizationStatus.PAST_DUE
        )
    by_status: dict[str, str] = {
        SubscriptionStatus.TRIALING: OrganizationStatus.TRIALING,
        SubscriptionStatus.ACTIVE: OrganizationStatus.ACTIVE,
        SubscriptionStatus.UNPAID: OrganizationStatus.SUSPENDED,
        SubscriptionStatus.CANCELLED: OrganizationStatus.CANCELLED,
    }
    return by_status.get(status)


def organization_status_sync(subscription: Subscription, *, now: datetime.datetime) -> None:
    """Move the organization to the status its subscription calls for.

    An organization suspended by an operator (``tenants suspend``, admin) is
    left alone: paying does not lift a suspension billing did not impose.
    The save goes through ``set_tenant_status``, which invalidates the host
    cache, so the next request on any web process sees the new status, and
    ``organization_status_changed`` goes out after commit (the WebSocket
    server closes the sockets of an organization that became read-only).
    """
    target = organization_status_for(subscription, now=now)
    if target is None:
        return
    org = Organization.objects.select_for_update().get(pk=subscription.organization_id)
    if org.status in INTERNAL_STATUSES or org.status == OrganizationStatus.PROVISIONING:
        return
    if org.status == OrganizationStatus.SUSPENDED and not subscription.suspended_by_billing:
        return  # an operator's suspension
    read_only = target in (OrganizationStatus.SUSPENDED, OrganizationStatus.CANCELLED)
    subscription.suspended_by_billing = read_only
    if org.status != target:
        previous = org.status
        set_tenant_status(org, target)
        organization_status_changed_on_commit(org, previous=previous)
        logger.info("billing: organization %s is now %s", org.pk, target)
        if read_only:
            admins_notify(
                subscription,
                subject="Your NovaTime organization is read-only",
                body="Billing for your organization is not settled, so it is read-only. "
                "Update your payment method in the billing portal to resume it.",
            )


def organization_status_resync(
    *, subscription: Subscription, now: datetime.datetime | None = None
) -> None:
    """Give the organization the status its subscription calls for, once an
    operator has lifted a suspension (``apps.organizations.services.
    organization_resume``, which holds the subscription's row lock).

    While an operator's suspension lasts, billing leaves the organization
    alone (``organization_status_sync``); whatever happened meanwhile applies now:
    a trial that ended comes back ``active``, a past-due grace period that
    ran out comes back ``suspended`` by billing (lifted when paid)."""
    organization_status_sync(subscription, now=now or timezone.now())
    subscription.save(update_fields=["suspended_by_billing", "updated_at"])


def admins_notify(subscription: Subscription, *, subject: str, body: str) -> None:
    """Email the organization's owners and admins after commit (robust: a mail
    failure never undoes a billing state change)."""
    emails = list(
        Membership.objects.filter(
            organization_id=subscription.organization_id,
            status=MembershipStatus.ACTIVE,
            role__in=BILLING_MANAGER_ROLES,
        ).values_list("user__email", flat=True)
    )
    if not emails:
        return
    transaction.on_commit(
        lambda: send_mail(f"[NovaTime] {subject}", body, None, emails), robust=True
    )


# --- seats -----------------------------------------------------------------------


def seats_refresh_local(*, organization_id: uuid.UUID | str) -> bool:
    """Recount the seats of a subscription Stripe does not bill (no item, or not
    in a billed state) in one UPDATE; ``False`` if Stripe must be told (or there
    is no subscription), so the caller queues ``seats_sync`` instead."""
    active = (
        Membership.objects.filter(organization_id=OuterRef("organization_id"))
        .filter(status=MembershipStatus.ACTIVE)
        .order_by()
        .values("organization_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    updated = (
        Subscription.objects.filter(organization_id=organization_id)
        .filter(Q(stripe_item_id="") | ~Q(status__in=SEAT_BILLED_STATUSES))
        .update(
            seats=Greatest(
                Coalesce(Subquery(active, output_field=IntegerField()), Value(0)), Value(1)
            ),
            updated_at=timezone.now(),
        )
    )
    return bool(updated)


def seats_sync(*, organization_id: uuid.UUID | str, idempotency_key: str) -> Subscription | None:
    """Count billable members and push the quantity to the Stripe subscription
    item (prorated) when it differs from what Stripe has.

    ``idempotency_key`` must be stable across retries of one sync (the task
    passes its id): a retried request after a lost response is then applied
    once by Stripe. Transient Stripe errors propagate for the task to retry.
    """
    with transaction.atomic():
        subscription = (
            Subscription.objects.select_for_update().filter(organization_id=organization_id).first()
        )
        if subscription is None:
            return None
        seats = max(1, billable_members(organization_id))
        subscription.seats = seats
        needs_push = (
            subscription.stripe_item_id
            and subscription.status in SEAT_BILLED_STATUSES
            and subscription.seats_synced != seats
        )
        if needs_push:
            item = gateway.stripe_client().v1.subscription_items.update(
                subscription.stripe_item_id,
                {"quantity": seats, "proration_behavior": "create_prorations"},
                {"idempotency_key": f"{idempotency_key}:{subscription.stripe_item_id}:{seats}"},
            )
            if item.quantity is None:  # only metered prices have none; ours are per seat
                raise TypeError(f"Stripe item {subscription.stripe_item_id} has no quantity")
            subscription.seats_synced = int(item.quantity)
            logger.info("billing: organization %s seats → %s", organization_id, seats)
        subscription.save(update_fields=["seats", "seats_synced", "updated_at"])
    return subscription
