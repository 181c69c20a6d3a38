"""Forgotten timers: reported once, stopped when the organization says so
(what the periodic task :func:`apps.time_entries.tasks.forgotten_timers` runs)."""

from __future__ import annotations

import datetime
import logging
import uuid
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from apps.common.errors import ConflictError
from apps.organizations.models import Organization
from tenants.db import current_schema, current_tenant

from ..locking import user_time_lock
from ..models import TimeEntry
from .events import EVENT_TIMER, emit
from .timer import stop
from .validation import MAX_ENTRY

logger = logging.getLogger(__name__)


def _local_midnight_after(
    organization: Organization, moment: datetime.datetime
) -> datetime.datetime:
    tz = zoneinfo.ZoneInfo(organization.timezone)
    day = moment.astimezone(tz).date() + datetime.timedelta(days=1)
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=tz)


def forgotten_stop_time(
    organization: Organization, entry: TimeEntry, now: datetime.datetime
) -> datetime.datetime:
    """Where an auto-stopped forgotten timer ends: the last reported activity
    when there is one, else the local midnight after its start (never later
    than now)."""
    if entry.last_activity_at is not None and entry.last_activity_at >= entry.started_at:
        return min(entry.last_activity_at, now)
    return min(_local_midnight_after(organization, entry.started_at), now)


def _first_report(entry: TimeEntry) -> bool:
    """Whether this run is the first to report ``entry`` as forgotten.

    ``cache.add`` is atomic in Redis, so overlapping runs report a timer once;
    the key outlives any timer (31 days). Losing the cache costs at most one
    repeated notification, which is why no column is spent on it.
    """
    key = f"time_entries:forgotten:{current_schema()}:{entry.pk}"
    return bool(cache.add(key, 1, timeout=int(MAX_ENTRY.total_seconds())))


@dataclass(frozen=True)
class ForgottenTimer:
    entry_id: uuid.UUID
    user_id: uuid.UUID
    stopped: bool


def forgotten_timers_process(
    *,
    now: datetime.datetime | None = None,
    notify: Callable[[TimeEntry, bool], None] | None = None,
) -> list[ForgottenTimer]:
    """Timers of this organization running longer than
    ``forgotten_timer_hours``: each is reported once (``notify`` decides
    how: the task dedupes and emails) and, with ``auto_stop_timers``, stopped
    at :func:`forgotten_stop_time`. A timer in a locked period is reported
    but left running (stopping it would write into a submitted sheet)."""
    now = now or timezone.now()
    organization = Organization.objects.get(pk=current_tenant().pk)
    limit = now - datetime.timedelta(hours=organization.forgotten_timer_hours)
    candidates = list(
        TimeEntry.objects.filter(ended_at__isnull=True, started_at__lt=limit)
        .order_by("started_at")
        .values_list("pk", "user_id")
    )
    results = []
    for entry_id, user_id in candidates:
        stopped = False
        with transaction.atomic():
            user_time_lock(user_id)
            entry = (
                TimeEntry.objects.select_for_update(of=("self",))
                .select_related("project", "task")
                .filter(pk=entry_id, ended_at__isnull=True)
                .first()
            )
            if entry is None:
                continue  # stopped meanwhile
            if not _first_report(entry):
                continue  # reported by an earlier run and left running (no auto-stop)
            emit(EVENT_TIMER, "forgotten", entry)
            if organization.auto_stop_timers:
                at = forgotten_stop_time(organization, entry, now)
                try:
                    stop(entry, at)
                    stopped = True
                except ConflictError:
                    logger.warning(
                        "forgotten timer %s is in a locked period: left running", entry_id
                    )
            if notify is not None:
                notify(entry, stopped)
        results.append(ForgottenTimer(entry_id=entry_id, user_id=user_id, stopped=stopped))
    return results
