"""Writes for billing: trials, checkout and portal sessions, webhook ingest and
processing, seat sync, dunning.

Stripe is the source of truth for paid subscriptions. A webhook is only a
trigger: processing re-reads the Stripe subscription and copies its state,
with the local row locked, so whatever order events arrive in (and however
often), the last one applied leaves the current state. Each event row is
marked processed in the same transaction as its effect.

The organization's status follows the subscription (``_organization_sync``):
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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import stripe
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from apps.common.errors import ApplicationError, ConflictError
from apps.common.parsers import InputError, json_loads
from apps.organizations.constants import (
    INTERNAL_STATUSES,
    MembershipStatus,
    OrganizationStatus,
    Role,
)
from apps.organizations.models import Membership, Organization
from apps.organizations.selectors import organization_url
from tenants.provisioning import set_tenant_status

from . import gateway
from .constants import (
    HANDLED_EVENT_TYPES,
    SEAT_BILLED_STATUSES,
    STRIPE_STATUS_MAP,
    PlanCode,
    SubscriptionStatus,
    WebhookEventStatus,
)
from .models import Plan, Subscription, WebhookEvent

if TYPE_CHECKING:
    from stripe.params.checkout import SessionCreateParams, SessionCreateParamsSubscriptionData

logger = logging.getLogger(__name__)

#: Plan an organization's trial runs on.
TRIAL_PLAN = PlanCode.PRO
#: Plan an organization falls back to when its trial ends without paying.
FALLBACK_PLAN = PlanCode.FREE
#: At most one past-due warning email per this interval.
WARNING_INTERVAL = datetime.timedelta(days=1)
#: Stripe refuses a Checkout ``trial_end`` less than 48 hours ahead.
MIN_CHECKOUT_TRIAL = datetime.timedelta(hours=49)


def billable_members(organization_id: Any) -> int:
    """Seats = active memberships, whatever the role (documented in README)."""
    return Membership.objects.filter(
        organization_id=organization_id, status=MembershipStatus.ACTIVE
    ).count()


def _ts(value: Any) -> datetime.datetime | None:
    """Stripe's unix timestamps → aware datetimes."""
    if value in (None, ""):
        return None
    return datetime.datetime.fromtimestamp(int(value), tz=datetime.UTC)


# --- subscriptions and trials --------------------------------------------------


def subscription_ensure(*, organization_id: Any) -> Subscription | None:
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


def checkout_session_create(*, organization: Organization, plan_code: str, user: Any) -> str:
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
        elif getattr(user, "email", ""):
            params["customer_email"] = user.email
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


# --- webhooks: ingest ------------------------------------------------------------


class WebhookSignatureError(ApplicationError):
    code = "invalid_signature"


class WebhookPayloadError(ApplicationError):
    code = "invalid_payload"


@dataclass(frozen=True)
class Ingested:
    event: WebhookEvent
    created: bool


def webhook_event_ingest(*, payload: bytes, signature: str | None) -> Ingested:
    """Verify, store once, and queue processing after commit.

    The signature is checked on the raw body with Stripe's default tolerance
    (300 s: a replayed old delivery is refused). The unique event id makes a
    duplicate delivery (even 20 at once) store and queue nothing the second
    time: concurrent inserts wait on the unique index, the losers get an
    ``IntegrityError`` and answer "duplicate".

    A signed body is still untrusted input (a leaked secret, a test tool):
    it is parsed by the API's own JSON reader (``apps.common.parsers``: depth,
    NUL, lone surrogates) and the stored fields are checked against their
    columns before any write, so an unusable event is a 400
    ``invalid_payload`` (which Stripe retries, then reports in the
    dashboard), never a 500.
    """
    secret = gateway.webhook_secret()
    try:
        stripe.WebhookSignature.verify_header(
            payload, signature, secret, tolerance=stripe.Webhook.DEFAULT_TOLERANCE
        )
    except stripe.SignatureVerificationError as exc:
        raise WebhookSignatureError("The Stripe signature does not match.") from exc
    except ValueError as exc:  # not UTF-8: cannot be what Stripe signed
        raise WebhookPayloadError("The webhook body is not a Stripe event.") from exc
    try:
        body = json_loads(payload)
    except InputError as exc:
        raise WebhookPayloadError(f"The webhook body is not usable: {exc.detail}") from exc
    if not isinstance(body, dict):
        raise WebhookPayloadError("The webhook body is not a Stripe event.")
    # Signature checked, body parsed once: the event is the parsed dict (a
    # stripe.Event built from it would add nothing we read; construct_event
    # verified the signature and parsed the body a second time).
    event_id, event_type = body.get("id"), body.get("type")
    if not isinstance(event_id, str) or not isinstance(event_type, str) or not event_id:
        raise WebhookPayloadError("The webhook body is not a Stripe event.")
    created = _webhook_fields_check(event_id, event_type, body.get("created"))
    try:
        with transaction.atomic():
            stored = WebhookEvent.objects.create(
                stripe_event_id=event_id,
                type=event_type,
                livemode=bool(body.get("livemode", False)),
                stripe_created_at=created,
                payload=body,
            )
            stored_pk = stored.pk
            transaction.on_commit(lambda: _enqueue_processing(stored_pk), robust=True)
    except IntegrityError:
        return Ingested(event=WebhookEvent.objects.get(stripe_event_id=event_id), created=False)
    return Ingested(event=stored, created=True)


#: Latest ``created`` a webhook may carry (9999-12-31T23:59:59Z).
_MAX_TIMESTAMP = 253_402_300_799


def _webhook_fields_check(event_id: str, event_type: str, created: Any) -> datetime.datetime | None:
    """The fields ``WebhookEvent`` stores from a signed body fit their
    columns, or 400 ``invalid_payload`` naming the field; the creation time
    as an aware datetime."""
    limits = (("id", event_id, WebhookEvent._meta.get_field("stripe_event_id").max_length),
              ("type", event_type, WebhookEvent._meta.get_field("type").max_length))  # fmt: skip
    for name, value, limit in limits:
        if limit is not None and len(value) > limit:
            raise WebhookPayloadError(f"The event's {name} is longer than {limit} characters.")
    if created in (None, ""):
        return None
    if isinstance(created, bool) or not isinstance(created, int):
        raise WebhookPayloadError("The event's created is not a Unix timestamp.")
    if not 0 <= created <= _MAX_TIMESTAMP:
        raise WebhookPayloadError("The event's created is out of range.")
    return _ts(created)


def _event_timestamp(value: Any, name: str) -> datetime.datetime | None:
    """A timestamp field of a stored event's object (Unix seconds), held to
    the rule ``_webhook_fields_check`` applies to ``created``."""
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_TIMESTAMP:
        raise UnusableEventError(f"The event's {name} is not a Unix timestamp in range.")
    return _ts(value)


def _enqueue_processing(event_pk: Any) -> None:
    from .tasks import process_webhook_event

    try:
        process_webhook_event.delay(str(event_pk))
    except Exception:  # broker down: the event is stored; the dunning sweep re-queues it
        logger.exception("billing: could not queue webhook event %s", event_pk)


# --- webhooks: processing --------------------------------------------------------


class UnusableEventError(Exception):
    """A signed event whose fields cannot be what Stripe sends (a reference
    that is not a string or does not fit its column, an object that is not
    an object): ``failed`` with the reason, never retried by itself."""


#: Longest reference (Stripe id, organization id) an event may name: the
#: ``Subscription`` columns they are looked up in and stored to.
_MAX_REFERENCE = 255


def _mapping(value: Any, name: str) -> dict[str, Any]:
    """``value`` where the event has an object (absent: empty)."""
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise UnusableEventError(f"The event's {name} is not an object.")
    return value


def _references(event_type: str, obj: dict[str, Any]) -> dict[str, str | None]:
    """Stripe subscription id, customer id and organization id named by an
    event, each ``None`` or a string that fits its column (the rule
    ``_webhook_fields_check`` applies at ingest); else
    :class:`UnusableEventError` naming it."""
    refs: dict[str, Any] = {"subscription": None, "customer": obj.get("customer")}
    metadata = _mapping(obj.get("metadata"), "metadata")
    refs["organization"] = metadata.get("organization_id")
    if event_type == "checkout.session.completed":
        refs["subscription"] = obj.get("subscription")
        refs["organization"] = obj.get("client_reference_id") or refs["organization"]
    elif event_type.startswith("customer.subscription."):
        refs["subscription"] = obj.get("id")
    elif event_type.startswith("invoice."):
        # Current API: invoice.parent.subscription_details.subscription;
        # older versions: invoice.subscription.
        parent = _mapping(obj.get("parent"), "parent")
        details = _mapping(parent.get("subscription_details"), "subscription_details")
        refs["subscription"] = details.get("subscription") or obj.get("subscription")
        refs["organization"] = (
            _mapping(details.get("metadata"), "metadata").get("organization_id")
            or refs["organization"]
        )
    for key, value in list(refs.items()):
        if isinstance(value, dict):  # an expanded object
            value = refs[key] = value.get("id")
        if value in (None, ""):
            refs[key] = None
        elif not isinstance(value, str):
            raise UnusableEventError(f"The event's {key} reference is not a string.")
        elif len(value) > _MAX_REFERENCE:
            raise UnusableEventError(
                f"The event's {key} reference is longer than {_MAX_REFERENCE} characters."
            )
    return refs


def _valid_uuid(value: Any) -> str | None:
    try:
        return str(uuid.UUID(str(value)))
    except (TypeError, ValueError):
        return None


def _find_subscription(refs: dict[str, str | None]) -> Subscription | None:
    """The local subscription an event is about: by Stripe subscription id, then
    customer id (both unique), then by the organization id we put in
    metadata/``client_reference_id`` at checkout — the latter only when that
    organization is not already bound to a *different* Stripe customer."""
    if refs["subscription"]:
        found = Subscription.objects.filter(stripe_subscription_id=refs["subscription"]).first()
        if found:
            return found
    if refs["customer"]:
        found = Subscription.objects.filter(stripe_customer_id=refs["customer"]).first()
        if found:
            return found
    org_id = _valid_uuid(refs["organization"])
    if org_id:
        subscription = subscription_ensure(organization_id=org_id)
        if subscription is not None and subscription.stripe_customer_id in (
            None,
            refs["customer"],
        ):
            return subscription
    return None


class UnknownCustomerError(Exception):
    """The event names no subscription, customer or organization we know."""


def webhook_event_process(*, event_pk: Any) -> WebhookEvent:
    """Apply one stored event (idempotent; the event row is locked throughout).

    Processed/ignored events are left alone. Transient Stripe errors propagate
    (the task retries with backoff and the row stays pending); an event about
    an unknown customer is ``ignored`` with the reason; any other Stripe
    refusal marks it ``failed`` with the error, for the admin and the replay
    command.
    """
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().get(pk=event_pk)
        if event.status in (WebhookEventStatus.PROCESSED, WebhookEventStatus.IGNORED):
            return event
        event.attempts += 1
        now = timezone.now()
        try:
            with transaction.atomic():
                event.organization_id = _apply_event(event)
            event.status, event.error = WebhookEventStatus.PROCESSED, ""
        except UnknownCustomerError as exc:
            event.status, event.error = WebhookEventStatus.IGNORED, str(exc)
        except UnusableEventError as exc:  # retrying cannot help: the replay command can
            event.status, event.error = WebhookEventStatus.FAILED, str(exc)
            logger.warning("billing: event %s unusable: %s", event.stripe_event_id, exc)
        except gateway.TRANSIENT_ERRORS:
            raise
        except (stripe.StripeError, gateway.BillingNotConfiguredError) as exc:
            event.status, event.error = WebhookEventStatus.FAILED, f"{type(exc).__name__}: {exc}"
            logger.warning("billing: event %s failed: %s", event.stripe_event_id, exc)
        event.processed_at = now
        event.save(
            update_fields=[
                "status",
                "error",
                "attempts",
                "processed_at",
                "organization",
                "updated_at",
            ]
        )
    return event


def webhook_event_mark_failed(*, event_pk: Any, error: str) -> None:
    """After the last retry of a transient error: failed, with the reason (replayable)."""
    WebhookEvent.objects.filter(pk=event_pk, status=WebhookEventStatus.PENDING).update(
        status=WebhookEventStatus.FAILED, error=error[:2000], updated_at=timezone.now()
    )


def webhook_event_reset(*, event: WebhookEvent) -> WebhookEvent:
    """Make an event pending again so it is re-processed (replay)."""
    event.status, event.error, event.processed_at = WebhookEventStatus.PENDING, "", None
    event.save(update_fields=["status", "error", "processed_at", "updated_at"])
    return event


def _apply_event(event: WebhookEvent) -> Any:
    """The effect of one event; returns the organization id it concerned."""
    obj = _mapping(_mapping(event.payload.get("data"), "data").get("object"), "object")
    if event.type not in HANDLED_EVENT_TYPES:
        raise UnknownCustomerError(f"Event type {event.type} is not handled.")
    if event.type == "checkout.session.completed" and obj.get("mode") != "subscription":
        raise UnknownCustomerError("Checkout session not in subscription mode.")
    refs = _references(event.type, obj)
    found = _find_subscription(refs)
    if found is None:
        raise UnknownCustomerError(
            f"No organization for customer {refs['customer']!r} / subscription "
            f"{refs['subscription']!r}."
        )
    subscription = Subscription.objects.select_for_update().select_related("plan").get(pk=found.pk)
    if refs["customer"] and not subscription.stripe_customer_id:  # first link (checkout)
        subscription.stripe_customer_id = refs["customer"]
        subscription.save(update_fields=["stripe_customer_id", "updated_at"])
    if refs["subscription"]:
        subscription_sync(subscription=subscription, stripe_subscription_id=refs["subscription"])
    if event.type == "customer.subscription.trial_will_end":
        _notify_admins(
            subscription,
            subject="Your NovaTime trial ends soon",
            body="Your trial ends on {date}. Add a payment method to keep your plan.".format(
                date=_event_timestamp(obj.get("trial_end"), "trial_end")
                or subscription.trial_ends_at
            ),
        )
    return subscription.organization_id


def subscription_sync(*, subscription: Subscription, stripe_subscription_id: str) -> Subscription:
    """Re-read a Stripe subscription and copy its state (caller holds the row lock).

    An event about another Stripe subscription than the current one (an old,
    cancelled one whose late ``deleted`` event arrives after the new checkout)
    is only adopted when the current one is gone: stale news never cancels a
    live subscription.
    """
    client = gateway.stripe_client()
    remote = gateway.as_dict(client.v1.subscriptions.retrieve(stripe_subscription_id))
    status = STRIPE_STATUS_MAP.get(remote.get("status", ""), SubscriptionStatus.INCOMPLETE)
    current = subscription.stripe_subscription_id
    if current and current != remote["id"]:
        current_gone = subscription.status in (
            SubscriptionStatus.CANCELLED,
            SubscriptionStatus.INCOMPLETE,
        )
        remote_live = status not in (SubscriptionStatus.CANCELLED, SubscriptionStatus.INCOMPLETE)
        if not (current_gone and remote_live):
            logger.info("billing: ignoring stale Stripe subscription %s", remote["id"])
            return subscription
    items = (remote.get("items") or {}).get("data") or []
    item = items[0] if items else {}
    price_id = (item.get("price") or {}).get("id", "")
    plan = _plan_for_price(price_id)
    if plan is None:
        logger.warning("billing: unknown Stripe price %r; plan left unchanged", price_id)
        plan = subscription.plan
    now = timezone.now()
    subscription.stripe_subscription_id = remote["id"]
    if remote.get("customer"):
        customer = remote["customer"]
        subscription.stripe_customer_id = customer["id"] if isinstance(customer, dict) else customer
    subscription.stripe_item_id = item.get("id", "") or ""
    subscription.plan = plan
    subscription.status = status
    if item.get("quantity") is not None:
        subscription.seats_synced = int(item["quantity"])
    # The current Stripe API keeps the billing period on the items, not the subscription.
    subscription.current_period_end = _ts(item.get("current_period_end"))
    subscription.trial_ends_at = _ts(remote.get("trial_end")) or subscription.trial_ends_at
    subscription.cancel_at_period_end = bool(remote.get("cancel_at_period_end"))
    if status == SubscriptionStatus.PAST_DUE:
        subscription.past_due_since = subscription.past_due_since or now
    else:
        subscription.past_due_since = None
        subscription.last_warning_at = None
    subscription.synced_at = now
    _organization_sync(subscription, now=now)
    subscription.save()
    return subscription


def _plan_for_price(price_id: str) -> Plan | None:
    if not price_id:
        return None
    for code, configured in (settings.STRIPE_PRICES or {}).items():
        if configured and configured == price_id:
            return Plan.objects.filter(code=code).first()
    return None


# --- organization status ---------------------------------------------------------


def _grace_over(subscription: Subscription, now: datetime.datetime) -> bool:
    since = subscription.past_due_since
    grace = datetime.timedelta(days=settings.NOVATIME_PAST_DUE_GRACE_DAYS)
    return since is not None and now >= since + grace


def organization_status_for(subscription: Subscription, *, now: datetime.datetime) -> str | None:
    """The organization status a subscription state calls for (``None``: leave it)."""
    status = subscription.status
    if status == SubscriptionStatus.PAST_DUE:
        return (
            OrganizationStatus.SUSPENDED
            if _grace_over(subscription, now)
            else OrganizationStatus.PAST_DUE
        )
    by_status: dict[str, str] = {
        SubscriptionStatus.TRIALING: OrganizationStatus.TRIALING,
        SubscriptionStatus.ACTIVE: OrganizationStatus.ACTIVE,
        SubscriptionStatus.UNPAID: OrganizationStatus.SUSPENDED,
        SubscriptionStatus.CANCELLED: OrganizationStatus.CANCELLED,
    }
    return by_status.get(status)


def _organization_sync(subscription: Subscription, *, now: datetime.datetime) -> None:
    """Move the organization to the status its subscription calls for.

    An organization suspended by an operator (``tenants suspend``, admin) is
    left alone: paying does not lift a suspension billing did not impose.
    The save goes through ``set_tenant_status``, which invalidates the host
    cache, so the next request on any web process sees the new status.
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
        set_tenant_status(org, target)
        logger.info("billing: organization %s is now %s", org.pk, target)
        if read_only:
            _notify_admins(
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
    alone (``_organization_sync``); whatever happened meanwhile applies now:
    a trial that ended comes back ``active``, a past-due grace period that
    ran out comes back ``suspended`` by billing (lifted when paid)."""
    _organization_sync(subscription, now=now or timezone.now())
    subscription.save(update_fields=["suspended_by_billing", "updated_at"])


def _notify_admins(subscription: Subscription, *, subject: str, body: str) -> None:
    """Email the organization's owners and admins after commit (robust: a mail
    failure never undoes a billing state change)."""
    emails = list(
        Membership.objects.filter(
            organization_id=subscription.organization_id,
            status=MembershipStatus.ACTIVE,
            role__in=[Role.OWNER, Role.ADMIN],
        ).values_list("user__email", flat=True)
    )
    if not emails:
        return
    transaction.on_commit(
        lambda: send_mail(f"[NovaTime] {subject}", body, None, emails), robust=True
    )


# --- seats -----------------------------------------------------------------------


def seats_refresh_local(*, organization_id: Any) -> bool:
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


def seats_sync(*, organization_id: Any, idempotency_key: str) -> Subscription | None:
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


# --- dunning ---------------------------------------------------------------------


@dataclass
class SweepResult:
    warned: int = 0
    suspended: int = 0
    trials_ended: int = 0
    requeued: int = 0


#: A pending event older than this was never queued (broker outage): queue it again.
STALE_PENDING_EVENT = datetime.timedelta(minutes=10)


def dunning_sweep(*, now: datetime.datetime | None = None) -> SweepResult:
    """Hourly: warn past-due organizations (at most daily), suspend them once the
    grace period is over, move unpaid-for ended trials to the Free plan, and
    re-queue webhook events that were stored but never queued."""
    now = now or timezone.now()
    result = SweepResult()
    for pk in Subscription.objects.filter(status=SubscriptionStatus.PAST_DUE).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            subscription = (
                Subscription.objects.select_for_update()
                .filter(pk=pk, status=SubscriptionStatus.PAST_DUE)
                .first()
            )
            if subscription is None:
                continue
            if subscription.past_due_since is None:
                subscription.past_due_since = now
            if _grace_over(subscription, now):
                was = subscription.suspended_by_billing
                _organization_sync(subscription, now=now)
                result.suspended += int(subscription.suspended_by_billing and not was)
            elif (
                subscription.last_warning_at is None
                or now - subscription.last_warning_at >= WARNING_INTERVAL
            ):
                grace_end = subscription.past_due_since + datetime.timedelta(
                    days=settings.NOVATIME_PAST_DUE_GRACE_DAYS
                )
                _notify_admins(
                    subscription,
                    subject="Payment failed: please update your payment method",
                    body="We could not collect your NovaTime payment. Your organization "
                    f"becomes read-only on {grace_end:%Y-%m-%d %H:%M} UTC unless the "
                    "payment goes through: update your payment method in the billing portal.",
                )
                subscription.last_warning_at = now
                result.warned += 1
            subscription.save()
    ended = Subscription.objects.filter(
        status=SubscriptionStatus.TRIALING,
        stripe_subscription_id__isnull=True,
        trial_ends_at__lte=now,
    ).values_list("pk", flat=True)
    free = Plan.objects.get(code=FALLBACK_PLAN)
    for pk in ended:
        with transaction.atomic():
            subscription = (
                Subscription.objects.select_for_update()
                .filter(pk=pk, status=SubscriptionStatus.TRIALING, stripe_subscription_id=None)
                .first()
            )
            if subscription is None:
                continue
            subscription.plan = free
            subscription.status = SubscriptionStatus.ACTIVE
            _organization_sync(subscription, now=now)
            subscription.save()
            _notify_admins(
                subscription,
                subject="Your NovaTime trial has ended",
                body="Your organization is now on the Free plan (3 members, 5 projects, "
                "no AI). Choose a plan in billing settings to upgrade.",
            )
            result.trials_ended += 1
    stale = WebhookEvent.objects.filter(
        status=WebhookEventStatus.PENDING, created_at__lt=now - STALE_PENDING_EVENT
    ).values_list("pk", flat=True)[:500]
    for pk in stale:
        _enqueue_processing(pk)
        result.requeued += 1
    return result
