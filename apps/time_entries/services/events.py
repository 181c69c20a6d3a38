"""Realtime events of time entries, always to the entry's user only.

Events (``type`` / ``op``):

- ``timer``: started, stopped, forgotten (:mod:`.forgotten`), deleted (the
  running entry was deleted)
- ``time_entry``: created, updated, deleted, bulk_updated, bulk_deleted,
  imported (:mod:`apps.time_entries.importers.services`)
- ``idle``: detected, resolved

Event data carries no money: the audience is not filtered by role.
"""

from __future__ import annotations

from apps.websocket_server.events import send_event_on_commit

from ..models import IdlePeriod, TimeEntry

EVENT_TIMER = "timer"
EVENT_ENTRY = "time_entry"
EVENT_IDLE = "idle"


def entry_event_data(entry: TimeEntry) -> dict[str, object]:
    """What events carry about an entry (no rates: events are not filtered
    by role)."""
    return {
        "id": entry.pk,
        "user": entry.user_id,
        "project": entry.project_id,
        "task": entry.task_id,
        "description": entry.description,
        "started_at": entry.started_at,
        "ended_at": entry.ended_at,
        "duration_seconds": entry.duration_seconds,
        "billable": entry.billable,
        "tags": list(entry.tags),
        "source": entry.source,
        "is_running": entry.ended_at is None,
    }


def emit(type_: str, op: str, entry: TimeEntry) -> None:
    send_event_on_commit(type=type_, op=op, data=entry_event_data(entry), user_ids=[entry.user_id])


def idle_event_data(idle: IdlePeriod) -> dict[str, object]:
    return {
        "id": idle.pk,
        "entry": idle.entry_id,
        "started_at": idle.started_at,
        "ended_at": idle.ended_at,
        "idle_seconds": int((idle.ended_at - idle.started_at).total_seconds()),
        "resolution": idle.resolution,
    }
