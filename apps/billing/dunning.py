"""The hourly dunning sweep (``billing.dunning_sweep`` on beat): past-due
warnings and suspensions, ended trials, webhook events never queued."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .constants import PlanCode, SubscriptionStatus, WebhookEventStatus
from .models import Plan, Subscription, WebhookEvent
from .services import admins_notify, grace_over, organization_status_sync
from .webhooks import webhook_event_enqueue

#: Plan an organization falls back to when its trial ends without paying.
FALLBACK_PLAN = PlanCode.FREE
#: At most one past-due warning email per this interval.
WARNING_INTERVAL = datetime.timedelta(days=1)


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
            if grace_over(subscription, now):
                was = subscription.suspended_by_billing
                organization_status_sync(subscription, now=now)
                result.suspended += int(subscription.suspended_by_billing and not was)
            elif (
                subscription.last_warning_at is None
                or now - subscription.last_warning_at >= WARNING_INTERVAL
            ):
                grace_end = subscription.past_due_since + datetime.timedelta(
                    days=settings.NOVATIME_PAST_DUE_GRACE_DAYS
                )
                admins_notify(
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
            organization_status_sync(subscription, now=now)
            subscription.save()
            admins_notify(
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
        webhook_event_enqueue(pk)
        result.requeued += 1
    return result
