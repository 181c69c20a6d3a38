"""Writes for tasks, labels, dependencies and comments.

Every public function here is one transaction: it checks everything first,
then writes, records ``TaskActivity`` rows with the exact changes
(``{field: [old, new]}``, JSON-safe values) and queues its domain events with
``send_event_on_commit`` (sent only if the transaction commits). A refused
operation raises before the first write, and the surrounding transaction is
rolled back anyway, so nothing is ever half-written.

Who may do what (the organization role table is in
apps/organizations/README.md; details in apps/tasks/README.md):

- viewers read only;
- members create tasks in projects they can see that are not archived, edit
  tasks they reported or are assigned to, delete/restore tasks they reported,
  comment on tasks they can see, edit their own comments;
- managers and above do anything with tasks and labels, and may force the
  completion of a task whose blockers are still open;
- admins and above may delete anyone's comment.

Callers fetch tasks with ``selectors.task_get_for_member`` first, so a task
passed in here is already known to be visible to the actor.
"""

from __future__ import annotations

import enum
import math
import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Min, Q
from django.db.models.functions import Lower
from django.http import Http404
from django.utils import timezone

from apps.common.errors import ApplicationError, ConflictError
from apps.organizations.constants import MembershipStatus, Role
from apps.organizations.models import Membership
from apps.organizations.permissions import ROLE_RANK, role_has
from apps.projects.constants import ProjectStatus
from apps.projects.models import Project, ProjectMember
from apps.projects.selectors import project_get_for_member
from apps.websocket_server.events import send_event_on_commit
from tenants.locks import tenant_xact_lock

from .constants import CLOSED_STATUSES, ActivityVerb, TaskPriority, TaskStatus
from .models import Label, Task, TaskActivity, TaskAssignee, TaskComment, TaskDependency
from .selectors import task_open_blocker_ids, tasks_visible_to

#: Gap between positions of consecutive tasks when appending or renumbering.
POSITION_STEP: Final = 1024.0
#: Closer than this, two positions have no room left between them: renumber.
POSITION_EPSILON: Final = 1e-6
#: Bound of the walks up and down the parent tree (a guard against bad data:
#: the services never let a cycle in, so real walks stop at the root).
MAX_TREE_DEPTH: Final = 10_000
#: ``@[<user uuid>]`` in a comment body mentions that user.
MENTION_RE: Final = re.compile(r"@\[([0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})\]")


class _Unset(enum.Enum):
    """Marks a keyword argument of an update that the caller did not pass
    (``None`` is a value: it clears a field). A one-member enum rather than a
    plain singleton class so that ``x is UNSET`` narrows ``x`` for the type
    checker (PEP 484's sentinel idiom)."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final = _Unset.UNSET


# --- roles ----------------------------------------------------------------------------


def may_contribute(membership: Membership) -> bool:
    """Members and above write (tasks, comments); viewers only read."""
    return ROLE_RANK[Role(membership.role)] >= ROLE_RANK[Role.MEMBER]


def manages_tasks(membership: Membership) -> bool:
    """Managers and above may change any task (the ``projects.manage`` permission)."""
    return role_has(membership.role, "projects.manage")


def _require_contributor(actor: Membership) -> None:
    if not may_contribute(actor):
        raise ApplicationError(
            "Your role in this organization does not allow this.",
            code="role_required",
            status_code=403,
        )


def _require_manager(actor: Membership) -> None:
    if not manages_tasks(actor):
        raise ApplicationError(
            "Only managers and above can do this.", code="role_required", status_code=403
        )


def _require_may_edit(actor: Membership, task: Task) -> None:
    """Managers+: any task. Members: tasks they reported or are assigned to."""
    if manages_tasks(actor) or task.reporter_id == actor.user_id:
        return
    if TaskAssignee.objects.filter(task=task, user_id=actor.user_id).exists():
        return
    raise ApplicationError(
        "Members can only change tasks they reported or are assigned to.",
        code="not_task_participant",
        status_code=403,
    )


def _require_may_delete(actor: Membership, task: Task) -> None:
    """Managers+: any task. Members: tasks they reported."""
    if manages_tasks(actor) or task.reporter_id == actor.user_id:
        return
    raise ApplicationError(
        "Members can only delete or restore tasks they reported.",
        code="not_task_reporter",
        status_code=403,
    )


def _require_writable(project: Project) -> None:
    """Archived projects are frozen: no task in them is created, moved in or changed."""
    if project.status == ProjectStatus.ARCHIVED:
        raise ApplicationError(
            f"The project {project.name!r} is archived: its tasks cannot be changed.",
            code="project_archived",
            extra={"fields": {"project": ["The project is archived."]}},
        )


# --- people ---------------------------------------------------------------------------


def _member_roles(actor: Membership, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """``{user_id: role}`` of those ``user_ids`` that are active members of
    the actor's organization (public ``Membership``), in the given order."""
    wanted = list(dict.fromkeys(user_ids))
    if not wanted:
        return {}
    roles = dict(
        Membership.objects.filter(
            organization_id=actor.organization_id,
            user_id__in=wanted,
            status=MembershipStatus.ACTIVE,
        ).values_list("user_id", "role")
    )
    return {u: roles[u] for u in wanted if u in roles}


def _roles_of_members(
    actor: Membership, user_ids: Iterable[uuid.UUID], *, field: str
) -> dict[uuid.UUID, str]:
    """Like ``_member_roles``, but 400 ``not_an_organization_member`` if any
    of ``user_ids`` has no active membership in the actor's organization."""
    wanted = list(dict.fromkeys(user_ids))
    roles = _member_roles(actor, wanted)
    missing = [str(u) for u in wanted if u not in roles]
    if missing:
        raise ApplicationError(
            "Only active members of this organization can be assigned or mentioned.",
            code="not_an_organization_member",
            extra={
                "fields": {field: [f"Not a member: {', '.join(missing)}."]},
                "user_ids": missing,
            },
        )
    return roles


def _require_may_see(project: Project, roles: dict[uuid.UUID, str], *, field: str) -> None:
    """Assignees and mentioned users must be able to see the task: in a private
    project that means a project member or a manager+."""
    if not project.is_private or not roles:
        return
    in_project = set(
        ProjectMember.objects.filter(project=project, user_id__in=list(roles)).values_list(
            "user_id", flat=True
        )
    )
    blind = [
        str(u)
        for u, role in roles.items()
        if u not in in_project and not role_has(role, "projects.manage")
    ]
    if blind:
        raise ApplicationError(
            "These users cannot see this private project: add them to it first.",
            code="user_cannot_see_project",
            extra={"fields": {field: [f"Cannot see the project: {', '.join(blind)}."]}},
        )


def _audience(actor: Membership, project: Project) -> list[uuid.UUID] | None:
    """Who may receive events about ``project``'s tasks: everyone (``None``) for
    a public project; its members and the organization's managers+ otherwise."""
    if not project.is_private:
        return None
    members = set(ProjectMember.objects.filter(project=project).values_list("user_id", flat=True))
    managers = Membership.objects.filter(
        organization_id=actor.organization_id,
        status=MembershipStatus.ACTIVE,
        role__in=[r for r in Role.values if role_has(r, "projects.manage")],
    ).values_list("user_id", flat=True)
    return sorted(members.union(managers), key=str)


# --- values, activity and events ------------------------------------------------------


def _json(value: Any) -> Any:
    """The JSON form used in activity ``changes`` and event data."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple | set | frozenset):
        return sorted(_json(v) for v in value)
    raise TypeError(f"No JSON form for {type(value).__name__}")


def _ids(values: Iterable[Any]) -> list[str]:
    return sorted(str(v) for v in values)


def _activity(
    task_id: Any, actor: Membership, verb: str, changes: dict[str, Any], at: datetime
) -> TaskActivity:
    return TaskActivity(
        task_id=task_id,
        actor_id=actor.user_id,
        verb=verb,
        changes={k: [_json(old), _json(new)] for k, (old, new) in changes.items()},
        created_at=at,
    )


def _record(
    task_id: Any, actor: Membership, verb: str, changes: dict[str, Any], at: datetime
) -> None:
    """Write one activity row (see ``_activity``)."""
    _activity(task_id, actor, verb, changes, at).save(force_insert=True)


def _emit(
    op: str, data: dict[str, Any], audience: list[uuid.UUID] | None, *, type: str = "task"
) -> None:
    send_event_on_commit(type=type, op=op, data=data, user_ids=audience)


def _task_data(task: Task, assignees: Iterable[Any], labels: Iterable[Any]) -> dict[str, Any]:
    """The event payload of a created task (ids as strings, dates ISO 8601)."""
    return {
        "id": str(task.pk),
        "project": str(task.project_id),
        "parent": _json(task.parent_id),
        "title": task.title,
        "status": task.status,
        "priority": task.priority,
        "assignees": _ids(assignees),
        "labels": _ids(labels),
        "reporter": _json(task.reporter_id),
        "start_date": _json(task.start_date),
        "due_date": _json(task.due_date),
        "position": task.position,
        "completed_at": _json(task.completed_at),
    }


# --- graph checks (recursive CTEs) ----------------------------------------------------


def _is_ancestor_or_self(*, candidate: Any, of: Any) -> bool:
    """Whether ``candidate`` is ``of`` or one of its ancestors (walk up the
    parent chain, deleted tasks included, bounded by ``MAX_TREE_DEPTH``)."""
    table = Task._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE chain(id, parent_id, depth) AS (
                SELECT id, parent_id, 1 FROM {table} WHERE id = %s
                UNION ALL
                SELECT t.id, t.parent_id, c.depth + 1
                FROM {table} t JOIN chain c ON t.id = c.parent_id
                WHERE c.depth < %s
            )
            SELECT EXISTS (SELECT 1 FROM chain WHERE id = %s)
            """,
            [of, MAX_TREE_DEPTH, candidate],
        )
        return bool(cursor.fetchone()[0])


def _descendant_ids(task_id: Any) -> list[uuid.UUID]:
    """All tasks below ``task_id`` (any depth, deleted ones included)."""
    table = Task._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE below(id, depth) AS (
                SELECT id, 1 FROM {table} WHERE parent_id = %s
                UNION ALL
                SELECT t.id, b.depth + 1 FROM {table} t JOIN below b ON t.parent_id = b.id
                WHERE b.depth < %s
            )
            SELECT id FROM below
            """,
            [task_id, MAX_TREE_DEPTH],
        )
        return [row[0] for row in cursor.fetchall()]


def _blocks_transitively(*, blocker: Any, task: Any) -> bool:
    """Whether ``task`` is already (transitively) blocking ``blocker``, i.e.
    following ``blocked_by`` edges from ``blocker`` reaches ``task``. ``UNION``
    (not ``UNION ALL``) visits each task once, so the walk always ends."""
    table = TaskDependency._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE reach(id) AS (
                SELECT %s::uuid
                UNION
                SELECT d.blocked_by_id FROM {table} d JOIN reach r ON d.task_id = r.id
            )
            SELECT EXISTS (SELECT 1 FROM reach WHERE id = %s)
            """,
            [blocker, task],
        )
        return bool(cursor.fetchone()[0])


# --- lookups of referenced objects ----------------------------------------------------


def _unknown(field: str, message: str) -> ValidationError:
    """400 naming the field: an unknown id, another organization's id and an
    object the actor may not see are indistinguishable."""
    return ValidationError({field: ValidationError(message, code="does_not_exist")})


def _visible_project(actor: Membership, project_id: Any, *, field: str = "project") -> Project:
    try:
        return project_get_for_member(membership=actor, project_id=project_id)
    except Http404:
        raise _unknown(field, "Unknown project.") from None


def _visible_task(actor: Membership, task_id: Any, *, field: str) -> Task:
    task = tasks_visible_to(membership=actor).select_related("project").filter(pk=task_id).first()
    if task is None:
        raise _unknown(field, "Unknown task.")
    return task


def _check_parent(actor: Membership, task: Task | None, parent_id: Any, project: Project) -> Any:
    """The parent must be visible, alive, in the same project and not the task
    itself or one of its descendants (409 ``parent_cycle``)."""
    if parent_id is None:
        return None
    if task is not None and parent_id == task.pk:
        raise ConflictError("A task cannot be its own parent.", code="parent_cycle")
    parent = _visible_task(actor, parent_id, field="parent")
    if parent.project_id != project.pk:
        raise ApplicationError(
            "The parent task belongs to another project.",
            code="parent_other_project",
            extra={"fields": {"parent": ["The parent must be in the same project."]}},
        )
    if task is not None:
        tenant_xact_lock("tasks.tree")
        if _is_ancestor_or_self(candidate=task.pk, of=parent.pk):
            raise ConflictError(
                "That parent is a subtask of this task: it would make a cycle.",
                code="parent_cycle",
            )
    return parent.pk


def _labels(label_ids: Sequence[Any]) -> list[Label]:
    wanted = list(dict.fromkeys(label_ids))
    labels = list(Label.objects.filter(pk__in=wanted))
    if len(labels) != len(wanted):
        found = {label.pk for label in labels}
        missing = ", ".join(str(x) for x in wanted if x not in found)
        raise _unknown("labels", f"Unknown labels: {missing}.")
    return labels


def _check_dates(start_date: date | None, due_date: date | None) -> None:
    if start_date and due_date and due_date < start_date:
        raise ApplicationError(
            "The due date is before the start date.",
            code="invalid_date_range",
            extra={"fields": {"due_date": ["Must be on or after the start date."]}},
        )


def _check_position(position: float) -> None:
    if not math.isfinite(position):
        raise ValidationError({"position": ValidationError("Must be a finite number.")})


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
    if not open_ids or (force and manages_tasks(actor)):
        return
    hint = "" if manages_tasks(actor) else " Only a manager can force it."
    raise ConflictError(
        f"This task is blocked by {len(open_ids)} open task(s): finish them first.{hint}",
        code="blockers_open",
        extra={"blockers": _ids(open_ids)},
    )


def _locked_task(task_id: Any, *, include_deleted: bool = False) -> Task:
    """``task_id`` with its row locked until commit (concurrent writes to one
    task serialise), with its project; 404 if it vanished meanwhile."""
    manager = Task.all_objects if include_deleted else Task.objects
    task = (
        manager.select_for_update(of=("self",)).select_related("project").filter(pk=task_id).first()
    )
    if task is None:
        raise Http404("No such task.")
    return task


def _quantized(hours: Decimal | None) -> Decimal | None:
    """Hours as stored (two decimals), so activity shows "2.50" both ways."""
    return None if hours is None else Decimal(hours).quantize(Decimal("0.01"))


def _append_position(project_id: Any) -> float:
    top = Task.all_objects.filter(project_id=project_id).aggregate(m=Max("position"))["m"]
    return (top or 0.0) + POSITION_STEP


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
    _require_contributor(actor)
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

        given: dict[str, Any] = {
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


def _tracked(task: Task, field: str) -> Any:
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
    _require_contributor(actor)
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


def _destination(
    actor: Membership,
    task: Task,
    project_id: uuid.UUID | _Unset,
    parent_id: uuid.UUID | _Unset | None,
) -> tuple[Project, Any]:
    """The project and parent id ``task`` ends up with, checked: a new project
    must be visible and not archived; the parent must live in the final
    project (a subtask moves to another project only with a parent there, or
    none) and must not be the task or one of its subtasks."""
    project = task.project
    if project_id is not UNSET and project_id != task.project_id:
        project = _visible_project(actor, project_id)
        _require_writable(project)
    if parent_id is not UNSET and parent_id != task.parent_id:
        return project, _check_parent(actor, task, parent_id, project)
    if task.parent_id is not None and project.pk != task.project_id:
        raise ApplicationError(
            "A subtask moves to another project only with a parent there (or none).",
            code="parent_other_project",
            extra={"fields": {"parent": ["The parent must be in the same project."]}},
        )
    return project, task.parent_id


def _move_subtasks(
    actor: Membership, task: Task, old_project: Project, now: datetime
) -> list[TaskActivity]:
    """Subtasks (any depth, deleted ones too) follow their task to its new
    project, so a parent and its children always share one; each gets an
    ``updated`` activity row for ``project``."""
    moved = _descendant_ids(task.pk)
    Task.all_objects.filter(pk__in=moved).update(project=task.project, updated_at=now)
    change = {"project": (old_project.pk, task.project_id)}
    return [_activity(d, actor, ActivityVerb.UPDATED, change, now) for d in moved]


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
    _require_contributor(actor)
    with transaction.atomic():
        locked = _locked_task(task.pk)
        _require_may_edit(actor, locked)
        _require_writable(locked.project)
        if position is None:
            field = "before" if before_id is not None else "after"
            anchor = _visible_task(actor, before_id or after_id, field=field)
            if anchor.pk == task.pk or anchor.project_id != task.project_id:
                raise ValidationError(
                    {field: ValidationError("Must be another task of the same project.")}
                )
            position = _position_next_to(task, anchor, before=before_id is not None)
        return task_update(actor=actor, task=task, position=position)


def _position_next_to(task: Task, anchor: Task, *, before: bool) -> float:
    for _ in range(2):
        anchor.refresh_from_db(fields=["position"])
        siblings = Task.objects.filter(project_id=anchor.project_id).exclude(pk=task.pk)
        if before:
            neighbour = siblings.filter(position__lt=anchor.position).aggregate(m=Max("position"))[
                "m"
            ]
            fallback = anchor.position - POSITION_STEP
        else:
            neighbour = siblings.filter(position__gt=anchor.position).aggregate(m=Min("position"))[
                "m"
            ]
            fallback = anchor.position + POSITION_STEP
        if neighbour is None:
            return fallback
        if abs(neighbour - anchor.position) > POSITION_EPSILON:
            return (neighbour + anchor.position) / 2
        _renumber(anchor.project_id)
    raise AssertionError("renumbering always leaves room")  # pragma: no cover


def _renumber(project_id: Any) -> None:
    """Spread the project's alive tasks ``POSITION_STEP`` apart, same order."""
    ordered = list(
        Task.objects.select_for_update()
        .filter(project_id=project_id)
        .order_by("position", "created_at", "id")
        .values_list("pk", flat=True)
    )
    rows = [Task(pk=pk, position=(i + 1) * POSITION_STEP) for i, pk in enumerate(ordered)]
    Task.objects.bulk_update(rows, ["position"], batch_size=500)


def task_delete(*, actor: Membership, task: Task) -> None:
    """Soft-delete ``task`` and its alive subtasks (same ``deleted_at``, so a
    restore brings back exactly this batch). Managers+, or the reporter.

    Activity: ``deleted`` on each deleted task. Event: ``deleted`` with the
    ids of the subtasks deleted with it.
    """
    _require_contributor(actor)
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
    _require_contributor(actor)
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


# --- dependencies ---------------------------------------------------------------------


def _alive_blocker_ids(task: Task) -> list[Any]:
    return list(
        TaskDependency.objects.filter(task=task, blocked_by__deleted_at__isnull=True).values_list(
            "blocked_by_id", flat=True
        )
    )


def task_dependency_add(
    *, actor: Membership, task: Task, blocked_by_id: uuid.UUID
) -> TaskDependency:
    """Record that ``task`` is blocked by another visible task (any project of
    the organization). 409 ``dependency_cycle`` if the link would close a
    loop (itself included), 409 ``dependency_exists`` for a duplicate.

    Activity: ``dependency_added`` ``{"blocked_by": [null, id]}``. Event:
    ``updated`` with ``changes.blocked_by`` (old and new lists).
    """
    _require_contributor(actor)
    with transaction.atomic():
        task = _locked_task(task.pk)
        _require_may_edit(actor, task)
        _require_writable(task.project)
        if blocked_by_id == task.pk:
            raise ConflictError("A task cannot block itself.", code="dependency_cycle")
        blocker = _visible_task(actor, blocked_by_id, field="blocked_by")
        tenant_xact_lock("tasks.dependencies")
        if TaskDependency.objects.filter(task=task, blocked_by=blocker).exists():
            raise ConflictError("This dependency already exists.", code="dependency_exists")
        if _blocks_transitively(blocker=blocker.pk, task=task.pk):
            raise ConflictError(
                "That task already waits for this one: the dependency would make a cycle.",
                code="dependency_cycle",
            )
        old = _alive_blocker_ids(task)
        now = timezone.now()
        dependency = TaskDependency.objects.create(task=task, blocked_by=blocker, created_at=now)
        _record(
            task.pk,
            actor,
            ActivityVerb.DEPENDENCY_ADDED,
            {"blocked_by": (None, blocker.pk)},
            now,
        )
        _emit(
            "updated",
            {
                "id": str(task.pk),
                "project": str(task.project_id),
                "changes": {"blocked_by": [_ids(old), _ids([*old, blocker.pk])]},
            },
            _audience(actor, task.project),
        )
    return dependency


def task_dependency_remove(*, actor: Membership, task: Task, dependency_id: uuid.UUID) -> None:
    """Remove one of ``task``'s blockers. ``dependency_id`` is the link's id or
    the blocking task's id (both are unique among the task's links); 404 if
    neither matches.

    Activity: ``dependency_removed`` ``{"blocked_by": [id, null]}``. Event:
    ``updated`` with ``changes.blocked_by``.
    """
    _require_contributor(actor)
    with transaction.atomic():
        task = _locked_task(task.pk)
        _require_may_edit(actor, task)
        _require_writable(task.project)
        link = (
            TaskDependency.objects.filter(task=task)
            .filter(Q(pk=dependency_id) | Q(blocked_by_id=dependency_id))
            .first()
        )
        if link is None:
            raise Http404("No such dependency.")
        old = _alive_blocker_ids(task)
        link.delete()
        now = timezone.now()
        _record(
            task.pk,
            actor,
            ActivityVerb.DEPENDENCY_REMOVED,
            {"blocked_by": (link.blocked_by_id, None)},
            now,
        )
        new = [b for b in old if b != link.blocked_by_id]
        _emit(
            "updated",
            {
                "id": str(task.pk),
                "project": str(task.project_id),
                "changes": {"blocked_by": [_ids(old), _ids(new)]},
            },
            _audience(actor, task.project),
        )


# --- comments -------------------------------------------------------------------------


def mentions_in(body: str) -> list[uuid.UUID]:
    """User ids mentioned as ``@[<uuid>]`` in ``body``, first-mention order,
    without duplicates. Anything else that looks like ``@name`` is plain text."""
    return list(dict.fromkeys(uuid.UUID(m) for m in MENTION_RE.findall(body)))


def _comment_data(comment: TaskComment) -> dict[str, Any]:
    return {
        "id": str(comment.pk),
        "task": str(comment.task_id),
        "author": str(comment.author_id),
        "body": comment.body,
        "mentions": [str(u) for u in comment.mentions],
    }


def _emit_mentions(actor: Membership, comment: TaskComment, user_ids: Iterable[uuid.UUID]) -> None:
    """``task.mention``/``created`` to each newly mentioned user (not the author)."""
    targets = [u for u in user_ids if u != actor.user_id]
    if targets:
        data = {
            "task": str(comment.task_id),
            "comment": str(comment.pk),
            "author": str(actor.user_id),
        }
        _emit("created", data, targets, type="task.mention")


def _checked_mentions(actor: Membership, project: Project, body: str) -> list[uuid.UUID]:
    mentioned = mentions_in(body)
    roles = _roles_of_members(actor, mentioned, field="body")
    _require_may_see(project, roles, field="body")
    return mentioned


def _locked_comment(comment_id: Any) -> TaskComment:
    """The alive comment, row locked, with its task and project; else 404."""
    comment = (
        TaskComment.objects.select_for_update(of=("self",))
        .select_related("task__project")
        .filter(pk=comment_id)
        .first()
    )
    if comment is None:
        raise Http404("No such comment.")
    return comment


def task_comment_create(*, actor: Membership, task: Task, body: str) -> TaskComment:
    """Comment on a visible task (members+). Mentions are parsed from ``body``
    (``@[<user id>]``) and must be members who can see the task.

    Activity: ``commented`` ``{"comment": [null, id]}``. Events:
    ``task.comment``/``created``; ``task.mention``/``created`` to the mentioned.
    """
    _require_contributor(actor)
    with transaction.atomic():
        project = Project.objects.get(pk=task.project_id)
        _require_writable(project)
        mentioned = _checked_mentions(actor, project, body)
        now = timezone.now()
        comment = TaskComment.objects.create(
            task_id=task.pk, author_id=actor.user_id, body=body, mentions=mentioned, created_at=now
        )
        _record(task.pk, actor, ActivityVerb.COMMENTED, {"comment": (None, comment.pk)}, now)
        _emit("created", _comment_data(comment), _audience(actor, project), type="task.comment")
        _emit_mentions(actor, comment, mentioned)
    return comment


def task_comment_update(*, actor: Membership, comment: TaskComment, body: str) -> TaskComment:
    """Edit a comment (its author only). Newly mentioned users are notified.

    Activity: ``commented`` ``{"comment": [id, id], "body": [old, new]}``.
    """
    _require_contributor(actor)
    if comment.author_id != actor.user_id:
        raise ApplicationError(
            "Only the author can edit a comment.", code="not_comment_author", status_code=403
        )
    with transaction.atomic():
        comment = _locked_comment(comment.pk)
        project = comment.task.project
        _require_writable(project)
        if body == comment.body:
            return comment
        mentioned = _checked_mentions(actor, project, body)
        newly = [u for u in mentioned if u not in set(comment.mentions)]
        old_body, now = comment.body, timezone.now()
        comment.body, comment.mentions, comment.updated_at = body, mentioned, now
        comment.save(update_fields=["body", "mentions", "updated_at"])
        changes = {"comment": (comment.pk, comment.pk), "body": (old_body, body)}
        _record(comment.task_id, actor, ActivityVerb.COMMENTED, changes, now)
        _emit("updated", _comment_data(comment), _audience(actor, project), type="task.comment")
        _emit_mentions(actor, comment, newly)
    return comment


def task_comment_delete(*, actor: Membership, comment: TaskComment) -> None:
    """Soft-delete a comment: its author, or an admin+ (moderation).

    Activity: ``commented`` ``{"comment": [id, null]}``.
    """
    _require_contributor(actor)
    is_admin = ROLE_RANK[Role(actor.role)] >= ROLE_RANK[Role.ADMIN]
    if comment.author_id != actor.user_id and not is_admin:
        raise ApplicationError(
            "Only the author or an admin can delete a comment.",
            code="not_comment_author",
            status_code=403,
        )
    with transaction.atomic():
        comment = _locked_comment(comment.pk)
        project = comment.task.project
        _require_writable(project)
        now = timezone.now()
        TaskComment.objects.filter(pk=comment.pk).update(deleted_at=now, updated_at=now)
        _record(
            comment.task_id,
            actor,
            ActivityVerb.COMMENTED,
            {"comment": (comment.pk, None)},
            now,
        )
        _emit(
            "deleted",
            {"id": str(comment.pk), "task": str(comment.task_id)},
            _audience(actor, project),
            type="task.comment",
        )


# --- labels ---------------------------------------------------------------------------


def _label_data(label: Label) -> dict[str, Any]:
    return {"id": str(label.pk), "name": label.name, "color": label.color}


def _require_free_label_name(name: str, *, excluding: Any = None) -> None:
    taken = Label.objects.annotate(lower=Lower("name")).filter(lower=name.lower())
    if excluding is not None:
        taken = taken.exclude(pk=excluding)
    if taken.exists():
        raise ApplicationError(
            f"A label named {name!r} already exists.",
            code="label_name_taken",
            extra={"fields": {"name": ["A label with this name already exists."]}},
        )


def label_create(*, actor: Membership, name: str, color: str | None = None) -> Label:
    """Create an organization-wide label (managers+; names unique ignoring case).
    Event: ``label``/``created``."""
    _require_manager(actor)
    try:
        with transaction.atomic():
            _require_free_label_name(name)
            label = Label.objects.create(name=name, **({"color": color} if color else {}))
            _emit("created", _label_data(label), None, type="label")
    except IntegrityError:  # a concurrent create won the unique index
        _require_free_label_name(name)
        raise
    return label


def label_update(
    *,
    actor: Membership,
    label: Label,
    name: str | _Unset = UNSET,
    color: str | _Unset = UNSET,
) -> Label:
    """Rename or recolour a label (managers+). Event: ``label``/``updated``."""
    _require_manager(actor)
    with transaction.atomic():
        label = Label.objects.select_for_update().get(pk=label.pk)
        fields = []
        if name is not UNSET and name != label.name:
            _require_free_label_name(name, excluding=label.pk)
            label.name = name
            fields.append("name")
        if color is not UNSET and color != label.color:
            label.color = color
            fields.append("color")
        if fields:
            label.save(update_fields=[*fields, "updated_at"])
            _emit("updated", _label_data(label), None, type="label")
    return label


def label_delete(*, actor: Membership, label: Label) -> None:
    """Delete a label (managers+); it disappears from every task, deleted ones
    included, and each of those tasks gets an ``updated`` activity row for
    ``labels``. Event: ``label``/``deleted``."""
    _require_manager(actor)
    with transaction.atomic():
        tasks = list(
            Task.all_objects.filter(labels=label).prefetch_related("labels").order_by("pk")
        )
        now = timezone.now()
        activities = []
        for task in tasks:
            old = {x.pk for x in task.labels.all()}
            changes = {"labels": (old, old - {label.pk})}
            activities.append(_activity(task.pk, actor, ActivityVerb.UPDATED, changes, now))
        if tasks:
            Task.all_objects.filter(pk__in=[t.pk for t in tasks]).update(updated_at=now)
        TaskActivity.objects.bulk_create(activities)
        label_id = label.pk
        Label.objects.filter(pk=label_id).delete()
        _emit("deleted", {"id": str(label_id)}, None, type="label")
