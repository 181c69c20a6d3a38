"""Reads for time entries and idle periods, with the visibility rules.

Members (and viewers) see their own entries; ``entries.view_all`` (managers
and above) see everyone's. Rates and amounts are a separate, field-level
rule (:func:`apps.time_entries.money.may_view_money`). Another organization's rows are never
reachable: every query runs in the connection's schema.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from apps.organizations.permissions import role_has

from .models import IdlePeriod, TimeEntry


def sees_all_entries(membership: Any) -> bool:
    return membership is not None and role_has(membership.role, "entries.view_all")


def entries_visible_to(*, membership: Any) -> QuerySet[TimeEntry]:
    """Live entries ``membership`` may read."""
    queryset = TimeEntry.objects.all()
    if not sees_all_entries(membership):
        queryset = queryset.filter(user_id=membership.user_id)
    return queryset


def entry_list(*, membership: Any) -> QuerySet[TimeEntry]:
    """Visible entries for a list page: project and task joined, newest first,
    the id as tie-breaker so pages are stable."""
    return (
        entries_visible_to(membership=membership)
        .select_related("project", "task")
        .order_by("-started_at", "-id")
    )


def entry_get_for_member(*, membership: Any, entry_id: Any) -> TimeEntry:
    """The live entry if ``membership`` may see it; else 404 (another user's
    or another organization's entry looks unknown)."""
    entry = entry_list(membership=membership).filter(pk=entry_id).first()
    if entry is None:
        raise Http404("No such time entry.")
    return entry


def running_entry(*, user_id: Any) -> TimeEntry | None:
    """``user_id``'s running timer, if any (at most one: a unique index)."""
    return (
        TimeEntry.objects.select_related("project", "task")
        .filter(user_id=user_id, ended_at__isnull=True)
        .first()
    )


def idle_period_list(*, user_id: Any) -> QuerySet[IdlePeriod]:
    """The user's own idle periods, newest first."""
    return IdlePeriod.objects.filter(user_id=user_id).order_by("-started_at", "-id")


def idle_period_get(*, user_id: Any, idle_period_id: Any) -> IdlePeriod:
    idle = idle_period_list(user_id=user_id).filter(pk=idle_period_id).first()
    if idle is None:
        raise Http404("No such idle period.")
    return idle
