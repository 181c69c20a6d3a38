"""Organizations (the django-tenants tenant model), their domains, memberships
and invitations.

All live in the public schema. The schema name is opaque (``t_<hex>``) and
never derived from the slug, so an organization can change its subdomain
without touching its schema.
"""

from __future__ import annotations

import datetime
import hashlib
import uuid
from collections.abc import Collection, Iterable
from typing import Any, Self

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone as dj_timezone
from django_tenants.models import DomainMixin, TenantMixin

from apps.common.validators import validate_currency, validate_timezone

from .constants import (
    INTERNAL_STATUSES,
    READ_ONLY_STATUSES,
    ROUNDING_MINUTES,
    SERVING_STATUSES,
    MembershipStatus,
    OrganizationStatus,
    Role,
    RoundingMode,
    TimesheetPeriod,
)


class OrganizationQuerySet(models.QuerySet):
    def customers(self) -> OrganizationQuerySet:
        """Real organizations: excludes the template and pooled schemas."""
        return self.exclude(status__in=INTERNAL_STATUSES)


class Organization(TenantMixin):
    """A customer organization, owning one PostgreSQL schema."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, blank=True)
    slug = models.SlugField(max_length=40, unique=True, null=True, blank=True)
    status = models.CharField(
        max_length=20,
        choices=OrganizationStatus.choices,
        default=OrganizationStatus.PROVISIONING,
        db_index=True,
    )
    status_before_suspension = models.CharField(
        max_length=20,
        choices=OrganizationStatus.choices,
        blank=True,
        editable=False,
        help_text="What an operator's suspension interrupted; resuming restores it "
        "(services.organization_resume). Blank when not suspended by an operator.",
    )
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    week_start = models.PositiveSmallIntegerField(
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(6)],
        help_text="0 = Monday … 6 = Sunday",
    )
    currency = models.CharField(
        max_length=3, default="USD", validators=[validate_currency], help_text="ISO 4217 code."
    )
    default_hourly_rate = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    idle_threshold_minutes = models.PositiveSmallIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(240)]
    )
    rounding_mode = models.CharField(
        max_length=10, choices=RoundingMode.choices, default=RoundingMode.NONE
    )
    rounding_minutes = models.PositiveSmallIntegerField(
        default=15, choices=[(m, f"{m} min") for m in ROUNDING_MINUTES]
    )
    require_two_factor = models.BooleanField(
        default=False, help_text="Members must turn on two-factor authentication."
    )
    # --- time tracking (apps.time_entries) ---
    allow_overlapping_entries = models.BooleanField(
        default=False, help_text="Allow a user's time entries to overlap."
    )
    members_see_rates = models.BooleanField(
        default=False, help_text="Members see the rate and amount of their own entries."
    )
    forgotten_timer_hours = models.PositiveSmallIntegerField(
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(72)],
        help_text="A timer running longer than this is reported as forgotten.",
    )
    auto_stop_timers = models.BooleanField(
        default=False,
        help_text="Stop forgotten timers at their last activity (and at local midnight).",
    )
    # --- timesheets (apps.timesheets) ---
    timesheet_period = models.CharField(
        max_length=20, choices=TimesheetPeriod.choices, default=TimesheetPeriod.WEEKLY
    )
    allow_self_approval = models.BooleanField(
        default=False, help_text="Owners may approve their own timesheet."
    )
    approvers_limited_to_managed_projects = models.BooleanField(
        default=False,
        help_text="Managers approve only sheets of members of projects they manage.",
    )
    auto_submit_timesheets = models.BooleanField(
        default=False, help_text="Submit draft sheets automatically at period end."
    )
    # --- AI (apps.ai_services) ---
    ai_external_llm_enabled = models.BooleanField(
        default=False,
        help_text="Allow sending this organization's data to the configured external LLM.",
    )
    created_at = models.DateTimeField(default=dj_timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    # Provisioning is done by tenants.provisioning, never implicitly on save().
    auto_create_schema = False
    auto_drop_schema = False

    objects = OrganizationQuerySet.as_manager()

    class Meta:
        ordering = ["name", "created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(week_start__gte=0, week_start__lte=6),
                name="organizations_week_start_range",
            ),
            models.CheckConstraint(
                condition=models.Q(default_hourly_rate__isnull=True)
                | models.Q(default_hourly_rate__gte=0),
                name="organizations_default_rate_positive",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["template", "pooled"])
                | models.Q(slug__isnull=False),
                name="organizations_customer_has_slug",
            ),
        ]

    #: ``currency`` as loaded from the database (``None`` for a new object).
    _stored_currency: str | None = None

    @classmethod
    def from_db(cls, db: str | None, field_names: Collection[str], values: Collection[Any]) -> Self:
        instance = super().from_db(db, field_names, values)
        instance._stored_currency = instance.__dict__.get("currency")
        return instance

    def clean_fields(self, exclude: Iterable[str] | None = None) -> None:
        """The currency is checked only when it changes: a code accepted when
        it was stored and withdrawn since (``BGN`` in 2026) must not stop
        every other change of the organization (settings API, admin form)."""
        skip = set(exclude or ())
        if self._stored_currency is not None and self.currency == self._stored_currency:
            skip.add("currency")
        super().clean_fields(exclude=skip)

    def __str__(self) -> str:
        return self.name or self.slug or self.schema_name

    @property
    def is_serving(self) -> bool:
        return self.status in SERVING_STATUSES

    @property
    def is_read_only(self) -> bool:
        return self.status in READ_ONLY_STATUSES


class Domain(DomainMixin):
    """A host name that resolves to an organization (``acme.<base>``)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=dj_timezone.now, editable=False)

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain


class Membership(models.Model):
    """A user's role in an organization (public schema).

    Authentication says who someone is; an active membership in the host's
    organization says what they may do there.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.MEMBER)
    status = models.CharField(
        max_length=20, choices=MembershipStatus.choices, default=MembershipStatus.ACTIVE
    )
    joined_at = models.DateTimeField(default=dj_timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    hourly_rate = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="The member's default rate (below project rates, above the organization's).",
    )
    weekly_expected_hours = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(168)],
        help_text="Expected hours per week; timesheets flag missing days against it.",
    )

    class Meta:
        ordering = ["organization", "joined_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organization"], name="organizations_membership_unique"
            ),
        ]
        indexes = [models.Index(fields=["organization", "role"])]

    def __str__(self) -> str:
        return f"{self.user} @ {self.organization} ({self.role})"


# --- invitations ---------------------------------------------------------------


def invitation_default_expiry() -> datetime.datetime:
    """Now + ``NOVATIME_INVITATION_TTL_DAYS`` (7 unless configured).

    Read at call time (not import time) so tests and deployments can change it.
    """
    days = getattr(settings, "NOVATIME_INVITATION_TTL_DAYS", 7)
    return dj_timezone.now() + datetime.timedelta(days=days)


class InvitationStatus(models.TextChoices):
    """Stored states of an invitation.

    "Expired" is deliberately *not* stored: a pending invitation whose
    ``expires_at`` has passed reads as expired (``Invitation.effective_status``).
    The clock is then the single source of truth, no sweeping job has to run
    before an expired token is refused, and a resend simply moves
    ``expires_at`` forward.
    """

    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    REVOKED = "revoked", "Revoked"


#: What the API shows for a pending invitation past its expiry (never stored).
INVITATION_EXPIRED = "expired"


class InvitationQuerySet(models.QuerySet):
    def pending(self) -> InvitationQuerySet:
        """Not accepted and not revoked (expired ones included: they can be resent)."""
        return self.filter(status=InvitationStatus.PENDING)


class Invitation(models.Model):
    """An email invitation to join an organization with a role (public schema).

    Only a SHA-256 of the emailed token is stored, so a leaked database does not
    leak usable invitations. At most one *pending* invitation exists per
    organization and email (a partial unique index): inviting the same address
    again re-issues that row instead of piling up live tokens.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField(max_length=254, help_text="Stored lower-case.")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 hex of the token.")
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sent_invitations",
    )
    status = models.CharField(
        max_length=20, choices=InvitationStatus.choices, default=InvitationStatus.PENDING
    )
    created_at = models.DateTimeField(default=dj_timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    expires_at = models.DateTimeField(default=invitation_default_expiry)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="accepted_invitations",
    )

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                "organization",
                Lower("email"),
                condition=models.Q(status=InvitationStatus.PENDING),
                name="organizations_invitation_one_pending_per_email",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=InvitationStatus.ACCEPTED)
                | models.Q(accepted_at__isnull=False),
                name="organizations_invitation_accepted_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} → {self.organization} ({self.role}, {self.effective_status})"

    @staticmethod
    def hash_token(raw_token: str) -> str:
        """What ``token_hash`` holds for ``raw_token`` (the raw token is never stored)."""
        return hashlib.sha256(raw_token.encode()).hexdigest()

    @property
    def is_expired(self) -> bool:
        return dj_timezone.now() >= self.expires_at

    @property
    def effective_status(self) -> str:
        """The stored status, or ``"expired"`` for a pending one past ``expires_at``."""
        if self.status == InvitationStatus.PENDING and self.is_expired:
            return INVITATION_EXPIRED
        return self.status
