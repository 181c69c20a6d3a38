"""Organization states and the settings they are validated against."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class OrganizationStatus(models.TextChoices):
    """Lifecycle of a tenant.

    ``template`` and ``pooled`` rows are infrastructure, never customers: the
    template is the schema new tenants are cloned from, pooled rows are
    pre-built schemas waiting to be claimed by a signup (tenants/README.md).
    Both are real tenant rows so that every ``migrate_schemas`` keeps them at
    the latest migration.
    """

    TEMPLATE = "template", "Template"
    POOLED = "pooled", "Pooled"
    PROVISIONING = "provisioning", "Provisioning"
    TRIALING = "trialing", "Trialing"
    ACTIVE = "active", "Active"
    PAST_DUE = "past_due", "Past due"
    SUSPENDED = "suspended", "Suspended"
    CANCELLED = "cancelled", "Cancelled"


#: States in which the organization is a customer reachable on its host.
SERVING_STATUSES = frozenset(
    {
        OrganizationStatus.TRIALING,
        OrganizationStatus.ACTIVE,
        OrganizationStatus.PAST_DUE,
        OrganizationStatus.SUSPENDED,
        OrganizationStatus.CANCELLED,
    }
)
#: States in which writes are refused with 402 (reads stay allowed).
READ_ONLY_STATUSES = frozenset({OrganizationStatus.SUSPENDED, OrganizationStatus.CANCELLED})
#: Infrastructure rows that are not customers.
INTERNAL_STATUSES = frozenset({OrganizationStatus.TEMPLATE, OrganizationStatus.POOLED})


class Role(models.TextChoices):
    """Membership roles, strongest first (the permission table is in README.md)."""

    OWNER = "owner", _("Owner")
    ADMIN = "admin", _("Admin")
    MANAGER = "manager", _("Manager")
    MEMBER = "member", _("Member")
    VIEWER = "viewer", _("Viewer")


#: Attribute of the Django request holding the caller's active membership in
#: the host's organization once looked up (``permissions.request_membership``;
#: token authentication sets it together with the token).
REQUEST_MEMBERSHIP_ATTR = "_novatime_membership"


class MembershipStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    DEACTIVATED = "deactivated", "Deactivated"


class RoundingMode(models.TextChoices):
    NONE = "none", "No rounding"
    UP = "up", "Round up"
    DOWN = "down", "Round down"
    NEAREST = "nearest", "Round to nearest"


ROUNDING_MINUTES = (1, 5, 6, 10, 15, 30)


class TimesheetPeriod(models.TextChoices):
    """Length of a timesheet period (apps.timesheets)."""

    WEEKLY = "weekly", "Weekly"
    SEMI_MONTHLY = "semi_monthly", "Semi-monthly (1st-15th, 16th-end)"
    MONTHLY = "monthly", "Monthly"
