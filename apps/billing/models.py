"""Models of ``apps.billing``: plans, one subscription per organization, and the
Stripe webhook events received (all in the public schema).

Stripe is the source of truth for paid subscriptions: a ``Subscription`` row
is NovaTime's cached copy, refreshed by re-reading the Stripe subscription
whenever a webhook arrives (events are triggers, never trusted as state:
they come out of order and more than once).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

from apps.common.models import TimestampedModel
from apps.organizations.models import Organization

from .constants import PlanCode, SubscriptionStatus, WebhookEventStatus


class Plan(TimestampedModel):
    """A plan's limits and list price. Seeded by migration 0002.

    ``max_*`` is ``None`` for "no limit". The Stripe price id is *not* stored:
    it differs between Stripe test and live mode, so it comes from
    ``settings.STRIPE_PRICES`` at runtime (``stripe_price_id``).
    """

    code = models.CharField(max_length=20, choices=PlanCode.choices, unique=True)
    name = models.CharField(max_length=60)
    description = models.CharField(max_length=300, blank=True)
    max_members = models.PositiveIntegerField(null=True, blank=True)
    max_projects = models.PositiveIntegerField(null=True, blank=True)
    ai_enabled = models.BooleanField(default=False)
    sso_enabled = models.BooleanField(default=False, help_text="SSO-ready (SAML/OIDC later).")
    price_per_seat = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Per member per month.",
    )
    currency = models.CharField(max_length=3, default="USD")
    interval = models.CharField(max_length=10, default="month")
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "code"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(price_per_seat__gte=0), name="billing_plan_price_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def stripe_price_id(self) -> str:
        return (getattr(settings, "STRIPE_PRICES", {}) or {}).get(self.code, "") or ""

    @property
    def is_paid(self) -> bool:
        return self.price_per_seat > 0

    def limit(self, name: str) -> int | None:
        return getattr(self, f"max_{name}")

    def has_feature(self, name: str) -> bool:
        return bool(getattr(self, f"{name}_enabled", False))


class Subscription(TimestampedModel):
    """An organization's plan and billing state (one per organization).

    Created with a trial when the organization gets its first member (signup
    or CLI). ``suspended_by_billing`` records that *billing* made the
    organization read-only, so that paying again resumes it, while a
    suspension by an operator is left alone.
    """

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="subscription"
    )
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    status = models.CharField(
        max_length=20,
        choices=SubscriptionStatus.choices,
        default=SubscriptionStatus.TRIALING,
        db_index=True,
    )
    stripe_customer_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    stripe_subscription_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    stripe_item_id = models.CharField(max_length=255, blank=True, default="")
    seats = models.PositiveIntegerField(default=1, help_text="Billable members (last count).")
    seats_synced = models.PositiveIntegerField(
        null=True, blank=True, help_text="Quantity last confirmed by Stripe."
    )
    trial_ends_at = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    past_due_since = models.DateTimeField(null=True, blank=True)
    last_warning_at = models.DateTimeField(null=True, blank=True)
    suspended_by_billing = models.BooleanField(default=False)
    synced_at = models.DateTimeField(
        null=True, blank=True, help_text="Last time the state was re-read from Stripe."
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.organization} · {self.plan.code} ({self.status})"


class WebhookEvent(TimestampedModel):
    """A Stripe event as received, stored once (unique ``stripe_event_id``).

    The row is written by the endpoint before answering 2xx; a Celery task
    applies it and marks it processed in the same transaction as its effect,
    so a duplicate delivery or a retried task finds it processed and stops.
    """

    stripe_event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    livemode = models.BooleanField(default=False)
    stripe_created_at = models.DateTimeField(null=True, blank=True)
    payload = models.JSONField()
    status = models.CharField(
        max_length=20,
        choices=WebhookEventStatus.choices,
        default=WebhookEventStatus.PENDING,
        db_index=True,
    )
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)
    organization = models.ForeignKey(
        Organization,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="billing_events",
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_event_id} ({self.status})"
