"""An organization's settings (the API's ``PATCH /api/v1/organization/``)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import Q
from django_tenants.utils import tenant_context

from apps.common.errors import ConflictError
from apps.iam.two_factor import two_factor_enabled
from apps.time_entries.money import refuse_currency_change
from apps.time_entries.rates import enqueue_rate_recompute

from ..models import Membership, Organization
from ..permissions import require

#: Organization fields an admin may change through the API.
SETTINGS_FIELDS = (
    "name",
    "timezone",
    "week_start",
    "currency",
    "default_hourly_rate",
    "idle_threshold_minutes",
    "rounding_mode",
    "rounding_minutes",
    "require_two_factor",
    # Time-tracking, timesheet and AI rules: the API listed them as writable
    # but dropped them (a 200 that saved nothing) until they were added here.
    "allow_overlapping_entries",
    "members_see_rates",
    "forgotten_timer_hours",
    "auto_stop_timers",
    "allow_self_approval",
    "approvers_limited_to_managed_projects",
    "auto_submit_timesheets",
    "ai_external_llm_enabled",
    # Existing sheets keep their bounds; the no-overlap constraint on
    # timesheets (apps/timesheets/models.py) holds across the change.
    "timesheet_period",
)


#: Settings only owners may change (the rest: admin+).
OWNER_ONLY_SETTINGS = frozenset({"require_two_factor", "ai_external_llm_enabled"})


def organization_update(
    *, actor: Membership, organization: Organization, data: dict[str, Any]
) -> Organization:
    """Apply validated settings; the host cache is invalidated by the save."""
    if OWNER_ONLY_SETTINGS.intersection(data):
        require(actor, "organization.owner_settings")
    if data.get("require_two_factor") and not two_factor_enabled(user=actor.user):
        # Switching it on would lock the actor out with everyone else who has
        # no second factor, with nobody left who could switch it off.
        raise ConflictError(
            "Turn on two-factor authentication for your own account before "
            "requiring it from every member.",
            code="two_factor_required_for_actor",
            extra={
                "fields": {
                    "require_two_factor": [
                        "You have no confirmed two-factor device: set one up first."
                    ]
                }
            },
        )
    org = Organization.objects.get(pk=organization.pk)  # never save a cached copy
    old_default_rate = org.default_hourly_rate
    changed = [f for f in SETTINGS_FIELDS if f in data]
    if "currency" in data and data["currency"] != org.currency:
        # Priced entries of projects without a client currency are in the
        # organization's: relabelling them is refused (409 currency_in_use).
        with tenant_context(org):
            refuse_currency_change(
                old=org.currency,
                new=data["currency"],
                entries=Q(project__client__isnull=True) | Q(project__client__currency=""),
                what="Changing the organization's currency",
                field="currency",
            )
    for field in changed:
        setattr(org, field, data[field])
    org.full_clean(exclude=["schema_name", "slug", "status"])
    org.save(update_fields=[*changed, "updated_at"])
    if org.default_hourly_rate != old_default_rate:
        _rates_changed(organization=org)
    return org


def _rates_changed(*, organization: Organization, user_id: UUID | None = None) -> None:
    """Time entries snapshot rates: queue the recompute of the organization's
    (or one member's) unlocked entries after commit (apps.time_entries)."""
    enqueue_rate_recompute(organization=organization, user_id=user_id)
