"""Stripe webhooks: ingest (verify, store once, queue) and processing (apply
one stored event by copying the Stripe subscription it is about).

A webhook is only a trigger: processing re-reads the Stripe subscription and
copies its state, with the local row locked, so whatever order events arrive
in (and however often), the last one applied leaves the current state. Each
event row is marked processed in the same transaction as its effect.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.common.errors import ApplicationError
from apps.common.parsers import InputError, json_loads

from . import gateway
from .constants import (
    HANDLED_EVENT_TYPES,
    STRIPE_STATUS_MAP,
    SubscriptionStatus,
    WebhookEventStatus,
)
from .models import Plan, Subscription, WebhookEvent
from .services import admins_notify, organization_status_sync, stripe_timestamp, subscription_ensure

logger = logging.getLogger(__name__)


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
            transaction.on_commit(lambda: webhook_event_enqueue(stored_pk), robust=True)
    except IntegrityError:
        return Ingested(event=WebhookEvent.objects.get(stripe_event_id=event_id), created=False)
    return Ingested(event=stored, created=True)


#: Latest ``created`` a webhook may carry (9999-12-31T23:59:59Z).
_MAX_TIMESTAMP = 253_402_300_799


def _webhook_fields_check(
    event_id: str, event_type: str, created: object
) -> datetime.datetime | None:
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
    return stripe_timestamp(created)


def _event_timestamp(value: object, name: str) -> datetime.datetime | None:
    """A timestamp field of a stored event's object (Unix seconds), held to
    the rule ``_webhook_fields_check`` applies to ``created``."""
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_TIMESTAMP:
        raise UnusableEventError(f"The event's {name} is not a Unix timestamp in range.")
    return stripe_timestamp(value)


def webhook_event_enqueue(event_pk: uuid.UUID | str) -> None:
    """Queue the processing of a stored event (ingest, after commit; the
    dunning sweep for events a broker outage left unqueued)."""
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


def _mapping(value: object, name: str) -> dict[str, Any]:
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


def _valid_uuid(value: object) -> str | None:
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


def webhook_event_process(*, event_pk: uuid.UUID | str) -> WebhookEvent:
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


def webhook_event_mark_failed(*, event_pk: uuid.UUID | str, error: str) -> None:
    """After the last retry of a transient error: failed, with the reason (replayable)."""
    WebhookEvent.objects.filter(pk=event_pk, status=WebhookEventStatus.PENDING).update(
        status=WebhookEventStatus.FAILED, error=error[:2000], updated_at=timezone.now()
    )


def webhook_event_reset(*, event: WebhookEvent) -> WebhookEvent:
    """Make an event pending again so it is re-processed (replay)."""
    event.status, event.error, event.processed_at = WebhookEventStatus.PENDING, "", None
    event.save(update_fields=["status", "error", "processed_at", "updated_at"])
    return event


def _apply_event(event: WebhookEvent) -> uuid.UUID:
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
        admins_notify(
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
    subscription.current_period_end = stripe_timestamp(item.get("current_period_end"))
    subscription.trial_ends_at = (
        stripe_timestamp(remote.get("trial_end")) or subscription.trial_ends_at
    )
    subscription.cancel_at_period_end = bool(remote.get("cancel_at_period_end"))
    if status == SubscriptionStatus.PAST_DUE:
        subscription.past_due_since = subscription.past_due_since or now
    else:
        subscription.past_due_since = None
        subscription.last_warning_at = None
    subscription.synced_at = now
    organization_status_sync(subscription, now=now)
    subscription.save()
    return subscription


def _plan_for_price(price_id: str) -> Plan | None:
    if not price_id:
        return None
    for code, configured in (settings.STRIPE_PRICES or {}).items():
        if configured and configured == price_id:
            return Plan.objects.filter(code=code).first()
    return None
