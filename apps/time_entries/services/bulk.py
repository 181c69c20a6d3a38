"""Bulk edits of entries: all or nothing (unknown id 400, locked entry 409)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.common.errors import ApplicationError, ConflictError, field_error
from apps.organizations.models import Membership
from apps.websocket_server.events import send_event_on_commit

from ..locking import assert_entry_writable, user_time_lock
from ..models import TimeEntry
from ..rates import price
from ..selectors import entries_visible_to
from .entries import apply_changes
from .events import EVENT_ENTRY
from .saving import save
from .validation import check_may_write_for, check_overlap, resolve_project

EntryIds = Sequence[uuid.UUID | str]


def _lock_selection(actor: Membership, ids: EntryIds) -> list[TimeEntry]:
    """The selected entries the caller may see, row-locked, after taking the
    time lock of every user involved (in a stable order: two bulk edits over
    the same users never deadlock). Unknown or invisible ids → 400."""
    wanted = {str(i) for i in ids}
    if not wanted:
        raise field_error("ids", "Select at least one entry.", code="required")
    visible = entries_visible_to(actor=actor).filter(pk__in=wanted)
    user_ids = sorted({str(u) for u in visible.values_list("user_id", flat=True)})
    for uid in user_ids:
        check_may_write_for(actor, uid)
        user_time_lock(uid)
    entries = list(
        visible.select_for_update(of=("self",)).select_related("project", "task").order_by("pk")
    )
    missing = wanted - {str(e.pk) for e in entries}
    if missing:
        raise ApplicationError(
            "Some entries do not exist.",
            code="does_not_exist",
            extra={"fields": {"ids": ["Unknown entries."]}, "missing": sorted(missing)},
        )
    locked = []
    for entry in entries:
        try:
            assert_entry_writable(entry)
        except ConflictError:
            locked.append(str(entry.pk))
    if locked:
        raise ConflictError(
            "Some entries are in a submitted or approved timesheet.",
            code="entry_locked",
            extra={"locked": locked},
        )
    return entries


def _bulk_event(op: str, entries: Sequence[TimeEntry]) -> None:
    by_user: dict[str, list[str]] = {}
    for entry in entries:
        by_user.setdefault(str(entry.user_id), []).append(str(entry.pk))
    for uid, ids in by_user.items():
        send_event_on_commit(type=EVENT_ENTRY, op=op, data={"ids": ids}, user_ids=[uid])


@transaction.atomic
def entry_bulk_update(
    *, actor: Membership, ids: EntryIds, changes: Mapping[str, Any]
) -> list[TimeEntry]:
    """Apply ``changes`` (``project``, ``task``, ``billable``, ``tags``,
    ``add_tags``, ``remove_tags``) to every selected entry, or to none: any
    unknown id (400), locked entry (409) or invalid result rolls all back."""
    entries = _lock_selection(actor, ids)
    project = resolve_project(actor, changes["project"]) if "project" in changes else None
    remove = {t.strip().lower() for t in changes.get("remove_tags") or ()}
    for entry in entries:
        data: dict[str, Any] = {}
        if project is not None:
            data["project"] = project
        if "task" in changes:
            data["task"] = changes["task"]
        if "billable" in changes:
            data["billable"] = changes["billable"]
        if "tags" in changes:
            data["tags"] = changes["tags"]
        if "add_tags" in changes or remove:
            base = data.get("tags", entry.tags)
            merged = [*base, *(changes.get("add_tags") or ())]
            data["tags"] = [t for t in merged if t.strip().lower() not in remove]
        if project is not None and project.pk != entry.project_id:
            entry.project = project
            data.pop("project")
            if (
                "task" not in data
                and entry.task is not None
                and entry.task.project_id != project.pk
            ):
                entry.task = None
        apply_changes(actor, entry, data)
        price(entry)
        check_overlap(entry)
        save(entry)
    _bulk_event("bulk_updated", entries)
    return entries


@transaction.atomic
def entry_bulk_delete(*, actor: Membership, ids: EntryIds) -> int:
    """Soft delete every selected entry, or none (same rules as bulk update)."""
    entries = _lock_selection(actor, ids)
    now = timezone.now()
    TimeEntry.objects.filter(pk__in=[e.pk for e in entries]).update(deleted_at=now, updated_at=now)
    _bulk_event("bulk_deleted", entries)
    return len(entries)
