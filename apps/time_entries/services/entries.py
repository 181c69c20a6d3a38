"""Manual entries: create, edit, delete, duplicate.

Every write follows the order of the package (:mod:`apps.time_entries.services`):
the user's time lock, the entry re-read ``FOR UPDATE``, the old and the new
span checked against the lock rule, validation, pricing, save.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.http import Http404

from apps.common.errors import field_error
from apps.organizations.models import Membership
from tenants.db import current_tenant

from ..constants import EntrySource
from ..locking import assert_entry_writable, assert_span_writable, user_time_lock
from ..models import TimeEntry
from ..rates import price
from .events import EVENT_ENTRY, EVENT_TIMER, emit
from .saving import save
from .validation import (
    CREATE_SOURCES,
    check_active_member,
    check_may_write_for,
    check_overlap,
    normalize_tags,
    resolve_project,
    resolve_task,
    validate_span,
)


def lock_entry(entry_id: uuid.UUID) -> TimeEntry:
    """The live entry, row-locked until commit; 404 when it vanished meanwhile."""
    entry = (
        TimeEntry.objects.select_for_update(of=("self",))
        .select_related("project", "task")
        .filter(pk=entry_id)
        .first()
    )
    if entry is None:
        raise Http404("No such time entry.")
    return entry


@transaction.atomic
def entry_create(*, actor: Membership, data: Mapping[str, Any]) -> TimeEntry:
    """A finished entry ``{project, task?, description?, started_at, ended_at,
    billable?, tags?, confirm_long?, user?, source?, external_id?}``.

    ``user`` (a user id) lets managers and above write for another active
    member; ``source`` is manual (default), import or suggestion. A running
    entry is only made by :func:`~apps.time_entries.services.timer.timer_start`.
    """
    user_id = data.get("user") or actor.user_id
    check_may_write_for(actor, user_id)
    if str(user_id) != str(actor.user_id):
        check_active_member(user_id)
    source = data.get("source") or EntrySource.MANUAL
    if source not in CREATE_SOURCES:
        raise field_error("source", "Not a source an entry can be created with.")
    started_at, ended_at = data.get("started_at"), data.get("ended_at")
    if started_at is None:
        raise field_error("started_at", "This field is required.", code="required")
    if ended_at is None:
        raise field_error(
            "ended_at", "This field is required (use the timer for running time).", code="required"
        )
    validate_span(started_at, ended_at, confirm_long=bool(data.get("confirm_long")))
    user_time_lock(user_id)
    project = resolve_project(actor, data.get("project"))
    task = resolve_task(project, data.get("task"))
    assert_span_writable(user_id=user_id, started_at=started_at, ended_at=ended_at)
    billable = data.get("billable")
    entry = TimeEntry(
        user_id=user_id,
        project=project,
        task=task,
        description=data.get("description") or "",
        started_at=started_at,
        ended_at=ended_at,
        billable=project.billable if billable is None else billable,
        tags=normalize_tags(data.get("tags") or ()),
        source=source,
        external_id=data.get("external_id") or "",
        overlap_allowed=current_tenant().allow_overlapping_entries,
    )
    price(entry)
    check_overlap(entry)
    save(entry)
    emit(EVENT_ENTRY, "created", entry)
    return entry


def apply_changes(actor: Membership, entry: TimeEntry, data: Mapping[str, Any]) -> None:
    """Set the given fields on a locked entry and validate the result."""
    if "project" in data and getattr(data["project"], "pk", data["project"]) != entry.project_id:
        entry.project = resolve_project(actor, data["project"])
        # The old task belongs to the old project: it does not follow.
        if (
            "task" not in data
            and entry.task is not None
            and entry.task.project_id != entry.project.pk
        ):
            entry.task = None
    if "task" in data:
        entry.task = resolve_task(entry.project, data["task"])
    if "description" in data:
        entry.description = data["description"] or ""
    if "billable" in data and data["billable"] is not None:
        entry.billable = data["billable"]
    if "tags" in data:
        entry.tags = normalize_tags(data["tags"] or ())
    if "started_at" in data:
        entry.started_at = data["started_at"]
    if "ended_at" in data:
        if data["ended_at"] is None and entry.ended_at is not None:
            raise field_error(
                "ended_at",
                "A finished entry cannot run again: use continue.",
                code="cannot_restart",
            )
        entry.ended_at = data["ended_at"]
    if "started_at" in data or "ended_at" in data:
        validate_span(entry.started_at, entry.ended_at, confirm_long=bool(data.get("confirm_long")))


@transaction.atomic
def entry_update(*, actor: Membership, entry: TimeEntry, data: Mapping[str, Any]) -> TimeEntry:
    """Change the given fields (a partial update) of an entry the caller may see.

    Both the old and the new span must be writable (409 ``entry_locked``).
    Changing the project drops a task of the old project unless ``task`` is
    given. The rate and amount are re-snapshotted at today's rates.
    """
    check_may_write_for(actor, entry.user_id)
    user_time_lock(entry.user_id)
    entry = lock_entry(entry.pk)
    was_running = entry.ended_at is None
    assert_entry_writable(entry)
    apply_changes(actor, entry, data)
    assert_entry_writable(entry)
    price(entry)
    check_overlap(entry)
    save(entry)
    emit(EVENT_ENTRY, "updated", entry)
    if was_running and entry.ended_at is not None:
        emit(EVENT_TIMER, "stopped", entry)
    return entry


@transaction.atomic
def entry_delete(*, actor: Membership, entry: TimeEntry) -> None:
    """Soft delete (409 ``entry_locked`` in a submitted/approved timesheet)."""
    check_may_write_for(actor, entry.user_id)
    user_time_lock(entry.user_id)
    entry = lock_entry(entry.pk)
    assert_entry_writable(entry)
    entry.soft_delete()
    emit(EVENT_ENTRY, "deleted", entry)
    if entry.ended_at is None:
        emit(EVENT_TIMER, "deleted", entry)


@transaction.atomic
def entry_duplicate(
    *,
    actor: Membership,
    entry: TimeEntry,
    started_at: datetime.datetime | None = None,
    ended_at: datetime.datetime | None = None,
) -> TimeEntry:
    """A copy of a finished entry, for the same user. By default it is placed
    right after the original (same length), since a copy at the same time
    would overlap it; ``started_at``/``ended_at`` place it elsewhere."""
    if entry.ended_at is None:
        raise field_error("entry", "A running entry cannot be duplicated.", code="entry_running")
    length = entry.ended_at - entry.started_at
    start = started_at or entry.ended_at
    end = ended_at or (start + length)
    return entry_create(
        actor=actor,
        data={
            "user": entry.user_id,
            "project": entry.project_id,
            "task": entry.task_id,
            "description": entry.description,
            "started_at": start,
            "ended_at": end,
            "billable": entry.billable,
            "tags": entry.tags,
            "confirm_long": True,  # the original was already accepted at this length
        },
    )
