"""Project members: who works on a project, their project role and rate."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from uuid import UUID

from django.db import IntegrityError, transaction

from apps.common.errors import ConflictError, field_error
from apps.organizations.constants import MembershipStatus
from apps.organizations.models import Membership
from apps.websocket_server.events import send_event_on_commit

from ..constants import ProjectRole
from ..models import Project, ProjectMember
from .checks import _check_not_negative, _locked, _rates_changed
from .events import EVENT_PROJECT_MEMBER, _audience, _organization_id

PROJECT_MEMBER_FIELDS = ("role", "hourly_rate")


def _member_event(member: ProjectMember, op: str, *, also: Iterable[UUID] = ()) -> None:
    send_event_on_commit(
        type=EVENT_PROJECT_MEMBER,
        op=op,
        data={
            "id": member.pk,
            "project": member.project_id,
            "user": member.user_id,
            "role": member.role,
        },
        user_ids=_audience(member.project, also=also),
    )


@transaction.atomic
def project_member_add(
    *,
    project: Project,
    user_id: UUID,
    role: str = ProjectRole.MEMBER,
    hourly_rate: Decimal | None = None,
) -> ProjectMember:
    """Add an active member of the organization to ``project``.

    400 ``not_an_organization_member`` for anyone else (unknown users, other
    organizations' users, deactivated members); 409 ``member_exists`` when
    they are already in the project.
    """
    is_member = Membership.objects.filter(
        organization_id=_organization_id(), user_id=user_id, status=MembershipStatus.ACTIVE
    ).exists()
    if not is_member:
        raise field_error(
            "user",
            "This user is not an active member of the organization.",
            code="not_an_organization_member",
        )
    _check_not_negative({"hourly_rate": hourly_rate})
    member = ProjectMember(project=project, user_id=user_id, role=role, hourly_rate=hourly_rate)
    try:
        with transaction.atomic():
            member.save()
    except IntegrityError as exc:
        if "projects_member_unique" in str(exc):
            raise ConflictError(
                "This user is already a member of the project.", code="member_exists"
            ) from exc
        raise
    _member_event(member, "created", also=[user_id])
    if hourly_rate is not None:
        _rates_changed(project_id=project.pk, user_id=user_id)
    return member


@transaction.atomic
def project_member_update(*, member: ProjectMember, data: Mapping[str, object]) -> ProjectMember:
    """Change a member's project role and/or rate override."""
    member = _locked(ProjectMember.objects.select_related("project"), member.pk)
    old_rate = member.hourly_rate
    changed = [f for f in PROJECT_MEMBER_FIELDS if f in data]
    for field in changed:
        setattr(member, field, data[field])
    _check_not_negative({"hourly_rate": member.hourly_rate})
    member.save(update_fields=changed)
    _member_event(member, "updated")
    if member.hourly_rate != old_rate:
        _rates_changed(project_id=member.project_id, user_id=member.user_id)
    return member


@transaction.atomic
def project_member_remove(*, member: ProjectMember) -> None:
    """Remove someone from a project (the removed user hears of it too: a
    private project leaves their lists)."""
    member = _locked(ProjectMember.objects.select_related("project"), member.pk)
    _member_event(member, "deleted", also=[member.user_id])
    if member.hourly_rate is not None:
        _rates_changed(project_id=member.project_id, user_id=member.user_id)
    member.delete()
