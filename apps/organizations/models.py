"""Organizations (the django-tenants tenant model) and their domains.

Both live in the public schema. The schema name is opaque (``t_<hex>``) and
never derived from the slug, so an organization can change its subdomain
without touching its schema.
"""

from __future__ import annotations

import functools
import uuid
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone as dj_timezone
from django_tenants.models import DomainMixin, TenantMixin

from .constants import (
    INTERNAL_STATUSES,
    READ_ONLY_STATUSES,
    ROUNDING_MINUTES,
    SERVING_STATUSES,
    MembershipStatus,
    OrganizationStatus,
    Role,
    RoundingMode,
)


@functools.cache
def _known_timezones() -> frozenset[str]:
    # available_timezones() walks the tz database on disk on every call.
    return frozenset(zoneinfo.available_timezones())


def validate_timezone(value: str) -> None:
    if value not in _known_timezones():
        raise ValidationError(f"Unknown time zone: {value!r}.", code="invalid_timezone")


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
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    week_start = models.PositiveSmallIntegerField(
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(6)],
        help_text="0 = Monday … 6 = Sunday",
    )
    currency = models.CharField(max_length=3, default="USD")
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
