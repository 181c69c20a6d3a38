"""Writes for time entries, one module per subject:

- :mod:`.timer`: start, stop, continue an entry (the hot path);
- :mod:`.entries`: manual entries (create, edit, delete, duplicate);
- :mod:`.bulk`: bulk edits and deletes, all or nothing;
- :mod:`.idle`: the activity heartbeat and idle periods;
- :mod:`.forgotten`: forgotten timers (the periodic task);
- :mod:`.validation`: the rules they share (who may write, projects, tasks,
  spans, tags, overlaps), :mod:`.saving` (constraint races → 409/400) and
  :mod:`.events` (realtime events).

Rates and amounts are :mod:`apps.time_entries.rates`; the user's time lock
and the timesheet lock rule :mod:`apps.time_entries.locking`; the SQL that
skips the ORM for speed :mod:`apps.time_entries.hot_path`.

Every write path follows the same order, so that the invariants hold under
concurrency and against timesheet approvals:

1. take :func:`apps.time_entries.locking.user_time_lock` for the user whose
   time changes (timesheet transitions take the same lock);
2. re-read the entry with ``SELECT ... FOR UPDATE``;
3. check that the old and the new span are writable
   (:func:`apps.time_entries.locking.assert_span_writable`, 409
   ``entry_locked``; on the timer's hot path the same query rides in the
   INSERT of a start and the UPDATE of a stop);
4. validate (400 with ``fields``), price (rate snapshot + amount), save.

The acting member is ``actor`` (a :class:`~apps.organizations.models.Membership`);
a ``user_id`` names whose time it is. The public functions are re-exported
here (``services.timer_start(...)``); code in this repository imports them
from their module.
"""

from __future__ import annotations

from .bulk import entry_bulk_delete, entry_bulk_update
from .entries import entry_create, entry_delete, entry_duplicate, entry_update
from .events import EVENT_ENTRY, EVENT_IDLE, EVENT_TIMER, entry_event_data, idle_event_data
from .forgotten import ForgottenTimer, forgotten_stop_time, forgotten_timers_process
from .idle import IDLE_ACTIONS, HeartbeatResult, activity_heartbeat, idle_period_resolve
from .timer import entry_continue, timer_start, timer_stop
from .validation import (
    CLOCK_SKEW,
    MAX_ENTRY,
    MAX_ENTRY_WITHOUT_CONFIRMATION,
    MAX_FUTURE,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    normalize_tags,
)

__all__ = [
    "CLOCK_SKEW",
    "EVENT_ENTRY",
    "EVENT_IDLE",
    "EVENT_TIMER",
    "IDLE_ACTIONS",
    "MAX_ENTRY",
    "MAX_ENTRY_WITHOUT_CONFIRMATION",
    "MAX_FUTURE",
    "MAX_TAGS",
    "MAX_TAG_LENGTH",
    "ForgottenTimer",
    "HeartbeatResult",
    "activity_heartbeat",
    "entry_bulk_delete",
    "entry_bulk_update",
    "entry_continue",
    "entry_create",
    "entry_delete",
    "entry_duplicate",
    "entry_event_data",
    "entry_update",
    "forgotten_stop_time",
    "forgotten_timers_process",
    "idle_event_data",
    "idle_period_resolve",
    "normalize_tags",
    "timer_start",
    "timer_stop",
]
