"""Celery tasks of billing (all run in the public schema: billing is public).

Thin and idempotent: each fetches by id and calls one service. Transient
Stripe errors (network, 5xx, 429) are retried with exponential backoff and
jitter; the Stripe idempotency key of a seat sync is derived from the task id,
which stays the same across its retries.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from celery import shared_task
from django.core.cache import cache

from . import dunning, gateway, services, webhooks
from .models import WebhookEvent

logger = logging.getLogger(__name__)

#: Membership changes within this window become one seat sync.
SEAT_SYNC_DEBOUNCE_SECONDS = 10
MAX_RETRIES = 8
#: First retry delay of a webhook event after a transient Stripe error (doubles each time).
RETRY_BASE_SECONDS = 5


def _seat_sync_key(organization_id: uuid.UUID | str) -> str:
    return f"billing:seat-sync:v1:{organization_id}"


def schedule_seat_sync(organization_id: uuid.UUID | str) -> bool:
    """Queue one seat sync per organization per debounce window (a burst of
    invitations accepted in a row is one Stripe update). Returns whether a
    task was queued. Call after commit."""
    key = _seat_sync_key(organization_id)
    if not cache.add(key, 1, timeout=SEAT_SYNC_DEBOUNCE_SECONDS * 6):
        return False
    try:
        sync_seats.apply_async((str(organization_id),), countdown=SEAT_SYNC_DEBOUNCE_SECONDS)
    except Exception:  # broker outage: do not fail the membership change
        cache.delete(key)
        logger.exception("billing: could not queue seat sync for %s", organization_id)
        return False
    return True


@shared_task(
    bind=True,
    name="billing.sync_seats",
    ignore_result=True,
    autoretry_for=gateway.TRANSIENT_ERRORS,
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=MAX_RETRIES,
)
def sync_seats(self: Any, organization_id: str) -> int | None:
    """Push the organization's billable member count to its Stripe subscription item."""
    # Drop the debounce key first: a change from now on queues a fresh sync,
    # so no change can fall between this count and the next window.
    cache.delete(_seat_sync_key(organization_id))
    subscription = services.seats_sync(
        organization_id=organization_id, idempotency_key=f"novatime-seats:{self.request.id}"
    )
    return subscription.seats if subscription else None


@shared_task(
    bind=True,
    name="billing.process_webhook_event",
    ignore_result=True,
    max_retries=MAX_RETRIES,
)
def process_webhook_event(self: Any, event_pk: str) -> str | None:
    """Apply one stored Stripe event (no-op if already processed)."""
    try:
        return webhooks.webhook_event_process(event_pk=event_pk).status
    except gateway.TRANSIENT_ERRORS as exc:
        if self.request.retries >= MAX_RETRIES:
            webhooks.webhook_event_mark_failed(
                event_pk=event_pk, error=f"{type(exc).__name__}: {exc}"
            )
            raise
        countdown = min(600, RETRY_BASE_SECONDS * 2**self.request.retries)
        raise self.retry(exc=exc, countdown=countdown) from exc
    except WebhookEvent.DoesNotExist:
        logger.warning("billing: webhook event %s no longer exists", event_pk)
        return None


@shared_task(name="billing.dunning_sweep", ignore_result=True)
def dunning_sweep() -> dict[str, int]:
    """Hourly (beat): past-due warnings and suspensions, ended trials, lost events."""
    result = dunning.dunning_sweep()
    logger.info("billing: dunning sweep %s", result)
    return result.__dict__
