"""Idle detection: the heartbeat, and the user's decision about an idle period."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from django.db import transaction
from django.http import Http404
from django.utils import timezone

from apps.common.errors import ConflictError, field_error
from apps.organizations.models import Membership
from apps.organizations.permissions import require
from apps.websocket_server.events import send_event_on_commit
from tenants.db import current_tenant

from ..constants import IdleResolution
from ..hot_path import heartbeat_update
from ..locking import assert_entry_writable, user_time_lock
from ..models import IdlePeriod, TimeEntry
from ..rates import price
from .events import EVENT_ENTRY, EVENT_IDLE, EVENT_TIMER, emit, idle_event_data
from .saving import save
from .timer import entry_continue
from .validation import CLOCK_SKEW

IDLE_ACTIONS = ("keep", "discard", "discard_and_continue")


@dataclass(frozen=True)
class HeartbeatResult:
    """What a heartbeat did: the running entry (if any), its last activity,
    and the idle period it detected (if any)."""

    entry_id: uuid.UUID | None
    last_activity_at: datetime.datetime | None
    idle_period: IdlePeriod | None


def activity_heartbeat(
    *, actor: Membership, last_input_at: datetime.datetime, now: datetime.datetime | None = None
) -> HeartbeatResult:
    """Record the actor's last input on their running entry in one UPDATE
    (:func:`apps.time_entries.hot_path.heartbeat_update`).

    The row lock of that UPDATE orders concurrent heartbeats; the previous
    ``last_activity_at`` (or the start) comes back from the same statement,
    and a gap longer than the organization's idle threshold becomes an
    :class:`IdlePeriod` (event ``idle``/``detected`` to the user).
    """
    user_id = actor.user_id
    now = now or timezone.now()
    if timezone.is_naive(last_input_at):
        raise field_error("last_input_at", "Give a time zone offset.", code="naive_datetime")
    if last_input_at > now + CLOCK_SKEW:
        raise field_error("last_input_at", "This is in the future.", code="entry_in_future")
    last_input_at = min(last_input_at, now)
    row = heartbeat_update(user_id, last_input_at)
    if row is None:
        return HeartbeatResult(entry_id=None, last_activity_at=None, idle_period=None)
    entry_id, previous, current = row
    threshold = datetime.timedelta(minutes=current_tenant().idle_threshold_minutes)
    idle = None
    if last_input_at - previous > threshold:
        with transaction.atomic():
            idle = IdlePeriod.objects.create(
                entry_id=entry_id, user_id=user_id, started_at=previous, ended_at=last_input_at
            )
            send_event_on_commit(
                type=EVENT_IDLE, op="detected", data=idle_event_data(idle), user_ids=[user_id]
            )
    return HeartbeatResult(entry_id=entry_id, last_activity_at=current, idle_period=idle)


def _remove_span(
    entry: TimeEntry, low: datetime.datetime, high: datetime.datetime
) -> TimeEntry | None:
    """Cut ``[low, high)`` out of a locked entry: trim its end (a running
    entry stops at ``low``) or split it in two. Returns the split-off second
    part, if one was made."""
    low = max(low, entry.started_at)
    end = entry.ended_at
    if end is not None:
        high = min(high, end)
    if high <= low:
        return None  # the entry was edited since: the idle span is no longer in it
    was_running = end is None
    tail = None
    if end is not None and high < end:
        tail = TimeEntry(
            user_id=entry.user_id,
            project=entry.project,
            task=entry.task,
            description=entry.description,
            started_at=high,
            ended_at=end,
            billable=entry.billable,
            tags=list(entry.tags),
            source=entry.source,
            overlap_allowed=entry.overlap_allowed,
        )
    entry.ended_at = low
    price(entry)
    save(entry)
    if tail is not None:
        price(tail)
        save(tail)
        emit(EVENT_ENTRY, "created", tail)
    emit(EVENT_ENTRY, "updated", entry)
    if was_running:
        emit(EVENT_TIMER, "stopped", entry)
    return tail


@transaction.atomic
def idle_period_resolve(
    *, actor: Membership, idle_period: IdlePeriod, action: str
) -> tuple[IdlePeriod, TimeEntry | None]:
    """The user decides about an idle period: ``keep`` the time, ``discard``
    it (the entry is trimmed at the idle start, or split around the gap), or
    ``discard_and_continue`` (discard, then start a new timer now with the
    same fields). Returns the period and, for continue, the new running entry.

    409 ``idle_already_resolved`` for a second decision; ``entry_locked``
    when the entry is in a submitted/approved timesheet.
    """
    if action not in IDLE_ACTIONS:
        raise field_error("action", f"One of {', '.join(IDLE_ACTIONS)}.")
    require(actor, "time.track")
    if str(idle_period.user_id) != str(actor.user_id):
        raise Http404("No such idle period.")
    user_time_lock(actor.user_id)
    idle = IdlePeriod.objects.select_for_update().filter(pk=idle_period.pk).first()
    if idle is None:
        raise Http404("No such idle period.")
    if idle.resolution != IdleResolution.PENDING:
        raise ConflictError("This idle period was already resolved.", code="idle_already_resolved")
    entry = (
        TimeEntry.objects.select_for_update(of=("self",))
        .select_related("project", "task")
        .filter(pk=idle.entry_id)
        .first()
    )
    started = None
    if action == "keep":
        idle.resolution = IdleResolution.KEPT
    else:
        if entry is not None:
            assert_entry_writable(entry)
            _remove_span(entry, idle.started_at, idle.ended_at)
        idle.resolution = IdleResolution.DISCARDED
        if action == "discard_and_continue":
            idle.resolution = IdleResolution.DISCARDED_CONTINUED
            if entry is not None:  # the idle period's owner is the actor
                started = entry_continue(actor=actor, entry=entry)
    idle.resolved_at = timezone.now()
    idle.save(update_fields=["resolution", "resolved_at", "updated_at"])
    send_event_on_commit(
        type=EVENT_IDLE, op="resolved", data=idle_event_data(idle), user_ids=[idle.user_id]
    )
    return idle, started
