"""Writes for tasks: create, update (PATCH semantics), assign, move, delete
and restore (see the package docstring for the rules every write follows)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.common.errors import ApplicationError, ConflictError, field_error
from apps.organizations.models import Membership
from apps.organizations.permissions import may, require
from apps.tasks.constants import CLOSED_STATUSES, ActivityVerb, TaskPriority, TaskStatus
from apps.tasks.models import Label, Task, TaskActivity, TaskAssignee
from apps.tasks.selectors import task_open_blocker_ids

from .activity import _activity, _audience, _emit, _ids, _json, _record, _task_data
from .ordering import (
    _append_position,
    _check_position,
    _position_next_to,
)
from .rules import (
    UNSET,
    _locked_task,
    _member_roles,
    _require_may_delete,
    _require_may_edit,
    _require_may_see,
    _require_writable,
    _roles_of_members,
    _Unset,
    _visible_project,
    _visible_task,
)
from .tree import (
    _check_parent,
    _descendant_ids,
    _destination,
    _move_subtasks,
)


def _labels(label_ids: Sequence[uuid.UUID]) -> list[Label]:
    wanted = list(dict.fromkeys(label_ids))
    labels = list(Label.objects.filter(pk__in=wanted))
    if len(labels) != len(wanted):
        found = {label.pk for label in labels}
        missing = ", ".join(str(x) for x in wanted if x not in found)
        raise field_error("labels", f"No such labels: {missing}.", code="does_not_exist")
    return labels


def _check_dates(start_date: date | None, due_date: date | None) -> None:
    if start_date and due_date and due_date < start_date:
        raise ApplicationError(
            "The due date is before the start date.",
            code="invalid_date_range",
            extra={"fields": {"due_date": ["Must be on or after the start date."]}},
        )


def _completion_for(
    old_status: str | None, new_status: str, completed_at: datetime | None, *, now: datetime
) -> datetime | None:
    """``completed_at`` after a status change: set on entering done/cancelled,
    cleared on going back to an open status, kept between closed statuses."""
    if new_status not in CLOSED_STATUSES:
        return None
    if old_status in CLOSED_STATUSES and completed_at is not None:
        return completed_at
    return now


def _check_blockers(actor: Membership, task: Task, *, force: bool) -> None:
    """Completing (``done``) a task with open blockers is refused, unless a
    manager+ forces it. A member's ``force`` is refused the same way."""
    open_ids = task_open_blocker_ids(task=task)
    if not open_ids or (force and may(actor, "tasks.manage_all")):
        return
    hint = "" if may(actor, "tasks.manage_all") else " Only a manager can force it."
    raise ConflictError(
        f"This task is blocked by {len(open_ids)} open task(s): finish them first.{hint}",
        code="blockers_open",
        extra={"blockers": _ids(open_ids)},
    )


def _quantized(hours: Decimal | None) -> Decimal | None:
    """Hours as stored (two decimals), so activity shows "2.50" both ways."""
    return None if hours is None else Decimal(hours).quantize(Decimal("0.01"))


# --- tasks ----------------------------------------------------------------------------


def task_create(
    *,
    actor: Membership,
    project_id: uuid.UUID,
    title: str,
    parent_id: uuid.UUID | None = None,
    description: str = "",
    status: str = TaskStatus.TODO,
    priority: str = TaskPriority.NONE,
    assignee_ids: Sequence[uuid.UUID] = (),
    label_ids: Sequence[uuid.UUID] = (),
    estimate_hours: Decimal | None = None,
    start_date: date | None = None,
    due_date: date | None = None,
    position: float | None = None,
) -> Task:
    """Create a task in a visible, non-archived project; the actor is its reporter.

    Activity: one ``created`` row listing every given field as ``[null, value]``.
    Event: ``task``/``created`` with the task's fields.
    """
    require(actor, "tasks.contribute")
    estimate_hours = _quantized(estimate_hours)
    with transaction.atomic():
        project = _visible_project(actor, project_id)
        _require_writable(project)
        parent = _check_parent(actor, None, parent_id, project)
        _check_dates(start_date, due_date)
        roles = _roles_of_members(actor, assignee_ids, field="assignees")
        _require_may_see(project, roles, field="assignees")
        labels = _labels(label_ids)
        if position is not None:
            _check_position(position)

        now = timezone.now()
        task = Task.objects.create(
            project=project,
            parent_id=parent,
            title=title,
            description=description,
            status=status,
            priority=priority,
            reporter_id=actor.user_id,
            estimate_hours=estimate_hours,
            start_date=start_date,
            due_date=due_date,
            position=_append_position(project.pk) if position is None else position,
            completed_at=now if status in CLOSED_STATUSES else None,
            created_at=now,
        )
        assignees = list(roles)
        TaskAssignee.objects.bulk_create(
            [TaskAssignee(task=task, user_id=u, created_at=now) for u in assignees]
        )
        task.labels.set(labels)

        given: dict[str, object] = {
            "project": project.pk,
            "title": title,
            "status": status,
            "priority": priority,
            "position": task.position,
        }
        optional = {
            "parent": parent,
            "description": description,
            "assignees": assignees,
            "labels": [label.pk for label in labels],
            "estimate_hours": estimate_hours,
            "start_date": start_date,
            "due_date": due_date,
            "completed_at": task.completed_at,
        }
        given.update({k: v for k, v in optional.items() if v not in (None, "", [])})
        _record(
            task.pk,
            actor,
            ActivityVerb.CREATED,
            {k: (None, v) for k, v in given.items()},
            now,
        )
        _emit(
            "created",
            _task_data(task, assignees, [label.pk for label in labels]),
            _audience(actor, project),
        )
    return task


#: Fields whose change is recorded in an ``updated`` activity row (labels too).
_TRACKED_FIELDS = (
    "project",
    "parent",
    "title",
    "description",
    "priority",
    "estimate_hours",
    "start_date",
    "due_date",
    "position",
)
#: Tracked fields compared by id (no query for the related row).
_ATTNAMES = {"project": "project_id", "parent": "parent_id"}


def _tracked(task: Task, field: str) -> object:
    return getattr(task, _ATTNAMES.get(field, field))


def task_update(
    *,
    actor: Membership,
    task: Task,
    title: str | _Unset = UNSET,
    description: str | _Unset = UNSET,
    status: str | _Unset = UNSET,
    priority: str | _Unset = UNSET,
    project_id: uuid.UUID | _Unset = UNSET,
    parent_id: uuid.UUID | _Unset | None = UNSET,
    assignee_ids: Sequence[uuid.UUID] | _Unset = UNSET,
    label_ids: Sequence[uuid.UUID] | _Unset = UNSET,
    estimate_hours: Decimal | _Unset | None = UNSET,
    start_date: date | _Unset | None = UNSET,
    due_date: date | _Unset | None = UNSET,
    position: float | _Unset = UNSET,
    force: bool = False,
) -> Task:
    """Change the given fields of ``task`` (PATCH semantics: ``UNSET`` keeps a
    field, ``None`` clears it).

    Rules: members change only tasks they reported or are assigned to; the
    project (old and new) must not be archived; moving to another project
    takes the subtasks along and needs a parent in the new project (or none);
    status ``done`` with open blockers is 409 ``blockers_open`` unless a
    manager+ passes ``force``.

    Activity (only for fields that really changed): ``updated`` for plain
    fields, project, parent and labels; ``status_changed`` for status and
    ``completed_at``; ``assigned`` (or ``unassigned`` when nobody was added)
    for the assignee set. Moved subtasks get an ``updated`` row for their
    project. Events: ``updated`` (``changes`` without assignees), ``assigned``
    (``assignees``, ``added``, ``removed``) and ``completed`` (status became
    ``done``), in that order. A call that changes nothing writes nothing.
    """
    require(actor, "tasks.contribute")
    with transaction.atomic():
        task = _locked_task(task.pk)
        _require_may_edit(actor, task)
        _require_writable(task.project)
        old_project = task.project
        old_assignees = set(
            TaskAssignee.objects.filter(task=task).values_list("user_id", flat=True)
        )
        old_labels = set(task.labels.values_list("pk", flat=True))
        before = {f: _tracked(task, f) for f in (*_TRACKED_FIELDS, "status", "completed_at")}

        # 1. Check everything before the first write.
        project, parent = _destination(actor, task, project_id, parent_id)
        _check_dates(
            task.start_date if start_date is UNSET else start_date,
            task.due_date if due_date is UNSET else due_date,
        )
        if status == TaskStatus.DONE and task.status != TaskStatus.DONE:
            _check_blockers(actor, task, force=force)
        new_assignees = old_assignees if assignee_ids is UNSET else set(assignee_ids)
        added, removed = new_assignees - old_assignees, old_assignees - new_assignees
        roles = _roles_of_members(actor, sorted(added, key=str), field="assignees")
        if project.pk != old_project.pk:  # everyone assigned must see the new project
            roles = _member_roles(actor, sorted(new_assignees, key=str))
        _require_may_see(project, roles, field="assignees")
        labels = None if label_ids is UNSET else _labels(label_ids)
        new_labels = old_labels if labels is None else {label.pk for label in labels}
        if position is not UNSET:
            _check_position(position)

        # 2. Apply, compare with ``before``, write what changed.
        now = timezone.now()
        given = {
            "title": title,
            "description": description,
            "priority": priority,
            "estimate_hours": estimate_hours
            if estimate_hours is UNSET
            else _quantized(estimate_hours),
            "start_date": start_date,
            "due_date": due_date,
            "position": position,
        }
        for name, value in given.items():
            if value is not UNSET:
                setattr(task, name, value)
        if status is not UNSET:
            task.completed_at = _completion_for(task.status, status, task.completed_at, now=now)
            task.status = status
        task.project, task.parent_id = project, parent

        updated = {
            f: (before[f], _tracked(task, f))
            for f in _TRACKED_FIELDS
            if before[f] != _tracked(task, f)
        }
        if new_labels != old_labels:
            updated["labels"] = (old_labels, new_labels)
        status_changes = {
            f: (before[f], getattr(task, f))
            for f in ("status", "completed_at")
            if before[f] != getattr(task, f)
        }
        if not (updated or status_changes or added or removed):
            return task

        columns = [f for f in [*updated, *status_changes] if f != "labels"]
        task.save(update_fields=[*columns, "updated_at"])
        if labels is not None and new_labels != old_labels:
            task.labels.set(labels)
        if removed:
            TaskAssignee.objects.filter(task=task, user_id__in=removed).delete()
        if added:
            TaskAssignee.objects.bulk_create(
                [TaskAssignee(task=task, user_id=u, created_at=now) for u in sorted(added, key=str)]
            )

        activities = []
        if updated:
            activities.append(_activity(task.pk, actor, ActivityVerb.UPDATED, updated, now))
        if status_changes:
            activities.append(
                _activity(task.pk, actor, ActivityVerb.STATUS_CHANGED, status_changes, now)
            )
        if added or removed:
            verb = ActivityVerb.ASSIGNED if added else ActivityVerb.UNASSIGNED
            changes = {"assignees": (old_assignees, new_assignees)}
            activities.append(_activity(task.pk, actor, verb, changes, now))
        if project.pk != old_project.pk:
            activities += _move_subtasks(actor, task, old_project, now)
        TaskActivity.objects.bulk_create(activities)

        # 3. Events, to everyone who could see the task before or after.
        audience = _audience(actor, project)
        if project.pk != old_project.pk and audience is not None:
            old_audience = _audience(actor, old_project)
            audience = None if old_audience is None else sorted({*audience, *old_audience}, key=str)
        base = {"id": str(task.pk), "project": str(project.pk)}
        if updated or status_changes:
            pairs = {**updated, **status_changes}
            as_json = {k: [_json(old), _json(new)] for k, (old, new) in pairs.items()}
            _emit("updated", {**base, "changes": as_json}, audience)
        if added or removed:
            data = {
                **base,
                "assignees": _ids(new_assignees),
                "added": _ids(added),
                "removed": _ids(removed),
            }
            _emit("assigned", data, audience)
        if "status" in status_changes and task.status == TaskStatus.DONE:
            _emit("completed", {**base, "completed_at": _json(task.completed_at)}, audience)
    return task


def task_assign(*, actor: Membership, task: Task, assignee_ids: Sequence[uuid.UUID]) -> Task:
    """Replace the assignees of ``task`` (``task_update`` with only ``assignee_ids``)."""
    return task_update(actor=actor, task=task, assignee_ids=assignee_ids)


def task_move(
    *,
    actor: Membership,
    task: Task,
    position: float | None = None,
    before_id: uuid.UUID | None = None,
    after_id: uuid.UUID | None = None,
) -> Task:
    """Put ``task`` at ``position``, or just before/after another task of the
    same project (exactly one of the three).

    The new position is the midpoint between the anchor and its neighbour, so
    a move writes one row; when two positions get too close for a midpoint
    (after ~50 moves into the same gap) the project's tasks are renumbered
    ``POSITION_STEP`` apart first. Renumbering keeps the order, so it records
    no activity; the move itself is an ``updated`` row for ``position``.
    """
    if sum(x is not None for x in (position, before_id, after_id)) != 1:
        raise ValidationError(
            {"non_field_errors": ["Give exactly one of position, before or after."]}
        )
    require(actor, "tasks.contribute")
    with transaction.atomic():
        locked = _locked_task(task.pk)
        _require_may_edit(actor, locked)
        _require_writable(locked.project)
        if position is None:
            field = "before" if before_id is not None else "after"
            anchor_id = before_id or after_id
            assert anchor_id is not None  # exactly one of the three, checked above
            anchor = _visible_task(actor, anchor_id, field=field)
            if anchor.pk == task.pk or anchor.project_id != task.project_id:
                raise ValidationError(
                    {field: ValidationError("Must be another task of the same project.")}
                )
            position = _position_next_to(task, anchor, before=before_id is not None)
        return task_update(actor=actor, task=task, position=position)


def task_delete(*, actor: Membership, task: Task) -> None:
    """Soft-delete ``task`` and its alive subtasks (same ``deleted_at``, so a
    restore brings back exactly this batch). Managers+, or the reporter.

    Activity: ``deleted`` on each deleted task. Event: ``deleted`` with the
    ids of the subtasks deleted with it.
    """
    require(actor, "tasks.contribute")
    with transaction.atomic():
        task = _locked_task(task.pk)
        _require_may_delete(actor, task)
        _require_writable(task.project)
        now = timezone.now()
        below = list(
            Task.objects.filter(pk__in=_descendant_ids(task.pk)).values_list("pk", flat=True)
        )
        Task.objects.filter(pk__in=[task.pk, *below]).update(deleted_at=now, updated_at=now)
        TaskActivity.objects.bulk_create(
            [_activity(t, actor, ActivityVerb.DELETED, {}, now) for t in [task.pk, *below]]
        )
        _emit(
            "deleted",
            {"id": str(task.pk), "project": str(task.project_id), "subtasks": _ids(below)},
            _audience(actor, task.project),
        )


def task_restore(*, actor: Membership, task: Task) -> Task:
    """Undo ``task_delete``: the task and the subtasks deleted with it.

    409 ``task_not_deleted`` if it is alive, 409 ``parent_deleted`` if its
    parent is still deleted (restore the parent first).
    """
    require(actor, "tasks.contribute")
    with transaction.atomic():
        task = _locked_task(task.pk, include_deleted=True)
        _require_may_delete(actor, task)
        _require_writable(task.project)
        if task.deleted_at is None:
            raise ConflictError("This task is not deleted.", code="task_not_deleted")
        if (
            task.parent_id is not None
            and Task.all_objects.filter(pk=task.parent_id, deleted_at__isnull=False).exists()
        ):
            raise ConflictError(
                "The parent task is deleted: restore it first.", code="parent_deleted"
            )
        now = timezone.now()
        batch = list(
            Task.all_objects.filter(
                pk__in=_descendant_ids(task.pk), deleted_at=task.deleted_at
            ).values_list("pk", flat=True)
        )
        Task.all_objects.filter(pk__in=[task.pk, *batch]).update(deleted_at=None, updated_at=now)
        TaskActivity.objects.bulk_create(
            [_activity(t, actor, ActivityVerb.RESTORED, {}, now) for t in [task.pk, *batch]]
        )
        _emit(
            "restored",
            {"id": str(task.pk), "project": str(task.project_id), "subtasks": _ids(batch)},
            _audience(actor, task.project),
        )
        task.deleted_at, task.updated_at = None, now
    return task
