"""The timer: start, stop, continue an entry.

The start is the hot path, kept to five statements when no timer runs (see
the README): the project look-up brings the member's rate and takes the
user's time lock, the running and later entries come in one locked query,
and the new span's timesheet-lock check rides in the INSERT, a stopped
span's in the stop's UPDATE (:mod:`apps.time_entries.hot_path`).
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from apps.common.errors import ConflictError, PermissionDeniedError, field_error
from apps.organizations.models import Membership
from apps.organizations.permissions import require
from tenants.db import current_tenant

from ..constants import EntrySource
from ..hot_path import (
    insert_new,
    running_and_later_locked,
    running_locked,
    stop_update,
    timer_project_locked,
)
from ..locking import UserId, locking_timesheet_sql, refused_by_lock, user_time_lock
from ..models import TimeEntry
from ..rates import price
from .events import EVENT_TIMER, emit
from .saving import constraint_errors_mapped, overlap_error, timer_running_error
from .validation import (
    CLOCK_SKEW,
    MAX_ENTRY,
    TaskRef,
    checked_project,
    normalize_tags,
    resolve_task,
)


def stop(entry: TimeEntry, at: datetime.datetime) -> TimeEntry:
    """Stop a running entry, row-locked under the user's lock, at ``at``;
    409 ``entry_locked`` when the span it would get reaches into a
    submitted/approved timesheet.

    One UPDATE in plain SQL (:func:`apps.time_entries.hot_path.stop_update`),
    with the timesheet-lock check of the span in its ``WHERE``: a round trip
    fewer than checking first.
    """
    if at < entry.started_at:
        raise field_error("at", "The timer cannot stop before it started.", code="end_before_start")
    entry.ended_at = at
    price(entry, keep_rate=True)
    entry.updated_at = timezone.now()
    unless = locking_timesheet_sql(user_id=entry.user_id, started_at=entry.started_at, ended_at=at)
    with constraint_errors_mapped():
        written = stop_update(entry, unless=unless)
    if not written:
        refused_by_lock(user_id=entry.user_id, started_at=entry.started_at, ended_at=at)
    emit(EVENT_TIMER, "stopped", entry)
    return entry


@transaction.atomic
def timer_start(
    *,
    actor: Membership,
    project_id: uuid.UUID | str,
    task_id: TaskRef | None = None,
    description: str = "",
    tags: Iterable[str] = (),
    billable: bool | None = None,
    at: datetime.datetime | None = None,
) -> TimeEntry:
    """Start the member's timer; a running one is stopped at the same instant.

    ``at`` (default: now) lets an offline client report when it started; it
    may not be in the future nor before the running timer's start.
    """
    require(actor, "time.track")
    user_id = actor.user_id
    # Takes user_time_lock in the same statement.
    project = checked_project(timer_project_locked(actor, project_id))
    # "Now" is read under the lock: a start that waited for another one
    # starts after it (and stops it), not before.
    now = timezone.now()
    explicit_at = at
    at = at or now
    if timezone.is_naive(at):
        raise field_error("at", "Give a time zone offset.", code="naive_datetime")
    if at > now + CLOCK_SKEW:
        raise field_error("at", "A timer cannot start in the future.", code="entry_in_future")
    task = resolve_task(project, task_id)
    tags = normalize_tags(tags)

    # Finished entries longer than MAX_ENTRY do not exist: none that started
    # before ``at - MAX_ENTRY`` can be in the way.
    running, later = running_and_later_locked(user_id, at, since=at - MAX_ENTRY)
    if running is not None:
        if explicit_at is None and running.started_at > at:
            # Newer than "now": a concurrent start won (only a writer that
            # skipped the user lock gets here); not the caller's bad input.
            raise timer_running_error()
        stop(running, at)  # checks the stopped span's timesheet lock
    entry = TimeEntry(
        user_id=user_id,
        project=project,
        task=task,
        description=description,
        started_at=at,
        billable=project.billable if billable is None else billable,
        tags=tags,
        source=EntrySource.TIMER,
        overlap_allowed=current_tenant().allow_overlapping_entries,
        hourly_rate=project.user_hourly_rate,  # type: ignore[attr-defined]
    )
    price(entry, keep_rate=True)
    # What check_overlap would ask, answered by the rows locked above (the
    # stopped timer now ends at ``at``: it is not among them).
    in_the_way = [row for row in later if not row.overlap_allowed]
    if in_the_way and not entry.overlap_allowed:
        raise overlap_error(in_the_way[0])
    # The timesheet lock check rides in the INSERT (one round trip fewer on
    # the hot path): no row is written when a submitted/approved sheet covers
    # the start's day, and the check below then names it (409 entry_locked).
    with constraint_errors_mapped():
        written = insert_new(
            entry, unless=locking_timesheet_sql(user_id=user_id, started_at=at, ended_at=None)
        )
    if not written:
        refused_by_lock(user_id=user_id, started_at=at, ended_at=None)
    emit(EVENT_TIMER, "started", entry)
    return entry


@transaction.atomic
def timer_stop(*, user_id: UserId, at: datetime.datetime | None = None) -> TimeEntry:
    """Stop ``user_id``'s running timer at ``at`` (default now).

    ``user_id`` is whose timer stops, not who acts: the API passes the
    caller's own (``time.track`` checked by the view), automation rules a
    member's.

    409 ``no_running_timer`` when none runs; 409 ``entry_locked`` when the
    span reaches into a submitted/approved timesheet.
    """
    user_time_lock(user_id)
    now = timezone.now()
    at = at or now
    if at > now + CLOCK_SKEW:
        raise field_error("at", "A timer cannot stop in the future.", code="entry_in_future")
    running = running_locked(user_id)
    if running is None:
        raise ConflictError("No timer is running.", code="no_running_timer")
    return stop(running, at)  # checks the span's timesheet lock


def entry_continue(*, actor: Membership, entry: TimeEntry) -> TimeEntry:
    """Start the caller's timer now with the entry's project, task,
    description, tags and billable flag (Toggl's "continue"); 403
    ``not_author`` for another user's entry."""
    if str(entry.user_id) != str(actor.user_id):
        raise PermissionDeniedError("You can only continue your own entries.", code="not_author")
    return timer_start(
        actor=actor,
        project_id=entry.project_id,
        task_id=entry.task_id,
        description=entry.description,
        tags=entry.tags,
        billable=entry.billable,
    )
