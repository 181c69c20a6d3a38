"""Who decides a member's timesheets: the approvers of a sheet (for events
and reminders) and the check an approval or rejection passes.

Approvers hold ``timesheets.approve`` (apps.organizations.permissions). One's
own sheet only where the organization sets ``allow_self_approval`` and the
approver has ``timesheets.self_approve``; with
``approvers_limited_to_managed_projects``, approvers without
``timesheets.approve_all`` decide only for members of live projects they lead.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from apps.common.errors import PermissionDeniedError, RoleRequiredError
from apps.organizations.constants import MembershipStatus, Role
from apps.organizations.models import Membership, Organization
from apps.organizations.permissions import may, require, role_has
from apps.projects.constants import ProjectRole
from apps.projects.models import ProjectMember
from tenants.db import current_tenant

from .models import Timesheet

#: Roles that approve (``timesheets.approve`` in the permission table).
APPROVER_ROLES = tuple(role for role in Role if role_has(role, "timesheets.approve"))


def approver_memberships(org: Organization) -> list[tuple[uuid.UUID, str]]:
    """``(user_id, role)`` of the organization's active manager+ members."""
    return list(
        Membership.objects.filter(
            organization_id=org.pk, status=MembershipStatus.ACTIVE, role__in=APPROVER_ROLES
        ).values_list("user_id", "role")
    )


def project_leads_of(user_ids: Iterable[uuid.UUID | str]) -> dict[str, set[uuid.UUID]]:
    """The leads of each user's live projects, keyed by ``str(user_id)``, in
    one query for any number of users (a user in no project has no key).

    The join is the one ``check_may_decide`` asks: a lead of a project the
    sheet's user is a member of."""
    leads: dict[str, set[uuid.UUID]] = {}
    rows = ProjectMember.objects.filter(
        role=ProjectRole.LEAD,
        project__deleted_at__isnull=True,
        project__members__user_id__in=list(user_ids),
    ).values_list("project__members__user_id", "user_id")
    for member_id, lead_id in rows:
        leads.setdefault(str(member_id), set()).add(lead_id)
    return leads


def timesheet_approver_ids(
    *,
    user_id: uuid.UUID | str,
    organization: Organization | None = None,
    memberships: list[tuple[uuid.UUID, str]] | None = None,
    project_leads: dict[str, set[uuid.UUID]] | None = None,
) -> list[str]:
    """Who may decide ``user_id``'s sheets: active manager+ members, minus the
    owner of the sheet (unless owners may self-approve and they are an owner),
    and — when the organization limits approvers — managers only for members
    of projects they lead (admins and owners are never limited).

    ``memberships`` (from ``approver_memberships``) and ``project_leads``
    (from ``project_leads_of``, covering ``user_id``) let a caller asking for
    many users load the approvers and the project leads once."""
    org = organization or current_tenant()
    if memberships is None:
        memberships = approver_memberships(org)
    leads: set[uuid.UUID] | None = None
    if org.approvers_limited_to_managed_projects:
        if project_leads is None:
            project_leads = project_leads_of([user_id])
        leads = project_leads.get(str(user_id), set())
    result = []
    for member_id, role in memberships:
        if str(member_id) == str(user_id) and not (
            org.allow_self_approval and role_has(role, "timesheets.self_approve")
        ):
            continue
        if (
            leads is not None
            and not role_has(role, "timesheets.approve_all")
            and member_id not in leads
        ):
            continue
        result.append(str(member_id))
    return sorted(result)


def decidable_sheets(*, actor: Membership, sheets: list[Timesheet]) -> list[Timesheet]:
    """The ``sheets`` ``actor`` may decide, by :func:`timesheet_approver_ids`
    (two queries whatever the number of sheets)."""
    organization = actor.organization
    memberships = approver_memberships(organization)
    leads = project_leads_of({s.user_id for s in sheets}) if sheets else {}
    me = str(actor.user_id)
    return [
        sheet
        for sheet in sheets
        if me
        in timesheet_approver_ids(
            user_id=sheet.user_id,
            organization=organization,
            memberships=memberships,
            project_leads=leads,
        )
    ]


def check_may_decide(*, sheet: Timesheet, actor: Membership) -> None:
    """Refuse (403) an approver who may not approve or reject ``sheet``:
    ``role_required`` below ``timesheets.approve`` (or not an active member
    here), ``self_approval`` for one's own sheet (unless the organization
    allows it and the actor has ``timesheets.self_approve``),
    ``not_sheet_approver`` for a sheet outside the projects the actor leads
    when approvers are limited to them (unless ``timesheets.approve_all``)."""
    org = actor.organization
    if actor.organization_id != current_tenant().pk or actor.status != MembershipStatus.ACTIVE:
        raise RoleRequiredError("timesheets.approve")
    require(actor, "timesheets.approve")
    if str(sheet.user_id) == str(actor.user_id):
        if not (org.allow_self_approval and may(actor, "timesheets.self_approve")):
            raise PermissionDeniedError(
                "You cannot decide your own timesheet.", code="self_approval"
            )
        return
    if org.approvers_limited_to_managed_projects and not may(actor, "timesheets.approve_all"):
        manages_user = ProjectMember.objects.filter(
            role=ProjectRole.LEAD,
            user_id=actor.user_id,
            project__deleted_at__isnull=True,
            project__members__user_id=sheet.user_id,
        ).exists()
        if not manages_user:
            raise PermissionDeniedError(
                "You approve only members of projects you manage.", code="not_sheet_approver"
            )
