"""Who may change what, and the checks every task write makes first.

Task participation (reporter, assignee), archived projects, whether
users named in a request are members who can see the project, and the
lookups of ids named in a request body (visible projects and tasks).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from typing import Final

from django.http import Http404

from apps.common.errors import ApplicationError, PermissionDeniedError, does_not_exist
from apps.organizations.constants import MembershipStatus
from apps.organizations.models import Membership
from apps.organizations.permissions import may, role_has
from apps.projects.constants import ProjectStatus
from apps.projects.models import Project, ProjectMember
from apps.projects.selectors import project_get_for_member
from apps.tasks.models import Task, TaskAssignee
from apps.tasks.selectors import tasks_visible_to


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


# --- participation --------------------------------------------------------------------


def _require_may_edit(actor: Membership, task: Task) -> None:
    """``tasks.manage_all``: any task. Members: tasks they reported or are assigned to."""
    if may(actor, "tasks.manage_all") or task.reporter_id == actor.user_id:
        return
    if TaskAssignee.objects.filter(task=task, user_id=actor.user_id).exists():
        return
    raise PermissionDeniedError(
        "Members can only change tasks they reported or are assigned to.",
        code="not_task_participant",
    )


def _require_may_delete(actor: Membership, task: Task) -> None:
    """``tasks.manage_all``: any task. Members: tasks they reported."""
    if may(actor, "tasks.manage_all") or task.reporter_id == actor.user_id:
        return
    raise PermissionDeniedError(
        "Members can only delete or restore tasks they reported.",
        code="not_task_reporter",
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


# --- lookups of referenced objects ----------------------------------------------------


def _visible_project(
    actor: Membership, project_id: uuid.UUID, *, field: str = "project"
) -> Project:
    """The project ``project_id`` names, if ``actor`` may see it; else 400
    ``does_not_exist`` naming ``field`` (an unknown id, another organization's
    id and a hidden project are indistinguishable)."""
    try:
        return project_get_for_member(actor=actor, project_id=project_id)
    except Http404:
        raise does_not_exist(field, "project") from None


def _visible_task(actor: Membership, task_id: uuid.UUID, *, field: str) -> Task:
    """Like ``_visible_project``, for an alive task named in the body."""
    task = tasks_visible_to(actor=actor).select_related("project").filter(pk=task_id).first()
    if task is None:
        raise does_not_exist(field, "task")
    return task


def _locked_task(task_id: uuid.UUID, *, include_deleted: bool = False) -> Task:
    """``task_id`` with its row locked until commit (concurrent writes to one
    task serialise), with its project; 404 if it vanished meanwhile."""
    manager = Task.all_objects if include_deleted else Task.objects
    task = (
        manager.select_for_update(of=("self",)).select_related("project").filter(pk=task_id).first()
    )
    if task is None:
        raise Http404("No such task.")
    return task
