"""Realtime events of the project writes and who receives them (the audience
of a private project is its members and the roles that see every project)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from apps.organizations.constants import MembershipStatus, Role
from apps.organizations.models import Membership
from apps.organizations.permissions import role_has
from apps.websocket_server.events import send_event_on_commit
from tenants.db import current_tenant

from ..constants import ProjectStatus
from ..models import Client, Project, ProjectMember

EVENT_CLIENT = "client"
EVENT_PROJECT = "project"
EVENT_PROJECT_MEMBER = "project.member"
EVENT_MILESTONE = "project.milestone"
EVENT_DEPENDENCY = "project.dependency"


#: Organization roles that see every project (and so every project's events).
_ROLES_SEEING_ALL = tuple(role for role in Role if role_has(role, "projects.manage"))


def _organization_id() -> Any:
    """The organization whose schema this connection writes to (``None`` on
    the public schema's placeholder tenant, which has no primary key)."""
    return getattr(current_tenant(), "pk", None)


def _audience(
    project: Project, *, also: Iterable[UUID] = (), was_private: bool = True
) -> list[str] | None:
    """Who may receive events about ``project``: ``None`` (the organization)
    for a public project, else its members and the roles that see all.

    ``was_private=False`` widens the audience when a public project just
    turned private, so that everyone who had it learns of the change.
    """
    if not (project.is_private and was_private):
        return None
    members = ProjectMember.objects.filter(project=project).values_list("user_id", flat=True)
    seeing_all = Membership.objects.filter(
        organization_id=_organization_id(),
        status=MembershipStatus.ACTIVE,
        role__in=_ROLES_SEEING_ALL,
    ).values_list("user_id", flat=True)
    return sorted({str(uid) for uid in (*members, *seeing_all, *also)})


def _project_event_data(project: Project) -> dict[str, object]:
    return {
        "id": project.pk,
        "name": project.name,
        "code": project.code,
        "client": project.client_id,
        "status": project.status,
        "is_archived": project.status == ProjectStatus.ARCHIVED,
        "is_private": project.is_private,
        "color": project.color,
        "start_date": project.start_date,
        "end_date": project.end_date,
        "deleted_at": project.deleted_at,
    }


def _client_event_data(client: Client) -> dict[str, object]:
    return {
        "id": client.pk,
        "name": client.name,
        "is_archived": client.is_archived,
        "deleted_at": client.deleted_at,
    }


def _emit_project(
    project: Project, op: str, *, also: Iterable[UUID] = (), was_private: bool = True
) -> None:
    send_event_on_commit(
        type=EVENT_PROJECT,
        op=op,
        data=_project_event_data(project),
        user_ids=_audience(project, also=also, was_private=was_private),
    )
