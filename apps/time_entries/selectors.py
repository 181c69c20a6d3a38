"""Reads for time entries and idle periods, with the visibility rules.

Members (and viewers) see their own entries; ``entries.view_all`` (managers
and above) see everyone's. Rates and amounts are a separate, field-level
rule (:func:`apps.time_entries.money.may_view_money`). Another organization's rows are never
reachable: every query runs in the connection's schema.
"""

from __future__ import annotations

import uuid

from django.db.models import QuerySet
from django.http import Http404

from apps.common.prepared import PreparedQuery
from apps.organizations.models import Membership
from apps.organizations.permissions import may

from .models import IdlePeriod, TimeEntry


def sees_all_entries(actor: Membership | None) -> bool:
    return may(actor, "entries.view_all")


def entries_visible_to(*, actor: Membership) -> QuerySet[TimeEntry]:
    """Live entries ``actor`` may read."""
    queryset = TimeEntry.objects.all()
    if not sees_all_entries(actor):
        queryset = queryset.filter(user_id=actor.user_id)
    return queryset


def entry_list(*, actor: Membership) -> QuerySet[TimeEntry]:
    """Visible entries for a list page: project and task joined, newest first,
    the id as tie-breaker so pages are stable."""
    return (
        entries_visible_to(actor=actor)
        .select_related("project", "task")
        .order_by("-started_at", "-id")
    )


def entry_get_for_member(*, actor: Membership, entry_id: uuid.UUID) -> TimeEntry:
    """The live entry if ``actor`` may see it; else 404 (another user's
    or another organization's entry looks unknown)."""
    entry = entry_list(actor=actor).filter(pk=entry_id).first()
    if entry is None:
        raise Http404("No such time entry.")
    return entry


#: The Time page and ``GET /api/v1/timer/`` read it on every request: compiled
#: once (apps/common/prepared.py; three tables joined, ~2 ms to compile here).
_RUNNING_ENTRY: PreparedQuery[TimeEntry] = PreparedQuery(
    lambda _shape, user_id: TimeEntry.objects.select_related("project", "task").filter(
        user_id=user_id, ended_at__isnull=True
    )[:1],
    user_id=uuid.UUID,
)


def running_entry(*, actor: Membership) -> TimeEntry | None:
    """The actor's running timer, if any (at most one: a unique index)."""
    found = _RUNNING_ENTRY.run(user_id=actor.user_id)
    return found[0] if found else None


def idle_period_list(*, actor: Membership) -> QuerySet[IdlePeriod]:
    """The actor's own idle periods, newest first."""
    return IdlePeriod.objects.filter(user_id=actor.user_id).order_by("-started_at", "-id")


def idle_period_get(*, actor: Membership, idle_period_id: uuid.UUID) -> IdlePeriod:
    idle = idle_period_list(actor=actor).filter(pk=idle_period_id).first()
    if idle is None:
        raise Http404("No such idle period.")
    return idle
