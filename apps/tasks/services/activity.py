"""Activity rows and realtime events of the task services.

Activity ``changes`` are ``{field: [old, new]}`` with JSON-safe values;
events go through ``send_event_on_commit`` to the audience of the task's
project (everyone for a public project, its members and the organization's
managers+ for a private one).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeAlias

from apps.organizations.constants import MembershipStatus, Role
from apps.organizations.models import Membership
from apps.organizations.permissions import role_has
from apps.projects.models import Project, ProjectMember
from apps.tasks.models import Task, TaskActivity
from apps.websocket_server.events import send_event_on_commit

#: What an activity row records, before its JSON form: ``{field: (old, new)}``.
Changes: TypeAlias = Mapping[str, tuple[object, object]]
#: The ``data`` of an event: JSON-safe values (ids as strings, dates ISO 8601).
EventData: TypeAlias = dict[str, Any]


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


def _json(value: object) -> Any:
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


def _ids(values: Iterable[uuid.UUID]) -> list[str]:
    return sorted(str(v) for v in values)


def _activity(
    task_id: uuid.UUID, actor: Membership, verb: str, changes: Changes, at: datetime
) -> TaskActivity:
    return TaskActivity(
        task_id=task_id,
        actor_id=actor.user_id,
        verb=verb,
        changes={k: [_json(old), _json(new)] for k, (old, new) in changes.items()},
        created_at=at,
    )


def _record(
    task_id: uuid.UUID, actor: Membership, verb: str, changes: Changes, at: datetime
) -> None:
    """Write one activity row (see ``_activity``)."""
    _activity(task_id, actor, verb, changes, at).save(force_insert=True)


def _emit(
    op: str, data: EventData, audience: list[uuid.UUID] | None, *, type: str = "task"
) -> None:
    send_event_on_commit(type=type, op=op, data=data, user_ids=audience)


def _task_data(
    task: Task, assignees: Iterable[uuid.UUID], labels: Iterable[uuid.UUID]
) -> EventData:
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
