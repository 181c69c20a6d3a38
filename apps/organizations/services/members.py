"""Members: seats, roles, terms, leaving and ownership.

Every function here is all-or-nothing (one transaction) and sends
``membership_changed`` after commit when memberships change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal
from uuid import UUID

from django.db import transaction

from apps.billing.limits import check_limit
from apps.common.errors import ApplicationError, ConflictError
from apps.iam.models import User

from ..constants import MembershipStatus, Role
from ..models import Membership, Organization
from ..permissions import require
from ..signals import membership_changed
from .settings import _rates_changed


def _notify(membership: Membership, action: str) -> None:
    org_id, user_id = membership.organization_id, membership.user_id
    transaction.on_commit(
        lambda: membership_changed.send(
            sender=Membership, organization_id=org_id, user_id=user_id, action=action
        )
    )


def member_ensure(*, organization: Organization, user: User, role: str) -> Membership:
    """Make ``user`` an active member of ``organization`` with ``role``, whatever
    they were before (no membership, deactivated, another role); idempotent.

    For operators' tools (``tenants create``, ``tenants seed-demo``), which
    must not bypass what every membership change does: the plan's member
    limit (``check_limit``, 402 ``plan_limit_reached``) for a new seat, and
    ``membership_changed`` after commit, so billing counts the seat. An
    unchanged membership sends nothing.
    """
    with transaction.atomic():
        membership, seated = _seat(organization_id=organization.pk, user=user, role=role)
        if seated == "added":
            _notify(membership, "added")
        elif seated == "reactivated":
            _notify(membership, "role_changed")
        elif membership.role != role:  # already active: only the role changes
            membership.role = role
            membership.save(update_fields=["role", "updated_at"])
            _notify(membership, "role_changed")
    return membership


def _seat(
    *, organization_id: UUID, user: User, role: str
) -> tuple[Membership, Literal["added", "reactivated", "active"]]:
    """Give ``user`` an active seat with ``role``, the one way both joining
    (:func:`_membership_join`) and operators' tools (:func:`member_ensure`)
    do it: the (user, organization) row is locked; a new or deactivated
    membership takes a seat under the plan's member limit (402
    ``plan_limit_reached``) and comes back active with ``role`` (the unique
    row is reused, not duplicated). An already active membership is returned
    untouched, ``"active"``: what that means is the caller's. Call inside a
    transaction."""
    membership = (
        Membership.objects.select_for_update()
        .filter(user=user, organization_id=organization_id)
        .first()
    )
    if membership is not None and membership.status == MembershipStatus.ACTIVE:
        return membership, "active"
    check_limit(organization_id=organization_id, limit="members")
    if membership is None:
        created = Membership.objects.create(user=user, organization_id=organization_id, role=role)
        return created, "added"
    membership.status, membership.role = MembershipStatus.ACTIVE, role
    membership.save(update_fields=["status", "role", "updated_at"])
    return membership, "reactivated"


#: Member fields that ``member_update_terms`` sets (admin+).
MEMBER_TERMS_FIELDS = ("hourly_rate", "weekly_expected_hours")


def member_update_terms(
    *, actor: Membership, membership: Membership, data: Mapping[str, object]
) -> Membership:
    """Set a member's default ``hourly_rate`` and/or ``weekly_expected_hours``
    (admins; owners' terms only by owners). A rate change queues the
    recompute of the member's unlocked time entries."""
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update(of=("self",))
            .select_related("organization")
            .get(pk=membership.pk)
        )
        _check_may_manage(actor, membership)
        old_rate = membership.hourly_rate
        changed = [f for f in MEMBER_TERMS_FIELDS if f in data]
        for field in changed:
            setattr(membership, field, data[field])
        membership.save(update_fields=[*changed, "updated_at"])
        if membership.hourly_rate != old_rate:
            _rates_changed(organization=membership.organization, user_id=membership.user_id)
    return membership


def _owners_left(organization_id: UUID, excluding: Membership) -> int:
    """Active owners other than ``excluding``, with their rows locked.

    The rows are fetched (not counted: Django drops ``FOR UPDATE`` from a
    ``count()``) so that two owners demoting each other at the same time
    serialise here and cannot leave the organization without an owner.
    """
    owners = (
        Membership.objects.select_for_update()
        .filter(organization_id=organization_id, role=Role.OWNER, status=MembershipStatus.ACTIVE)
        .exclude(pk=excluding.pk)
        .values_list("pk", flat=True)
    )
    return len(list(owners))


def _check_may_manage(actor: Membership, target: Membership, new_role: str | None = None) -> None:
    """Admins manage non-owners (``members.manage``); only owners touch owners
    or grant ownership (``owners.manage``)."""
    if target.role == Role.OWNER or new_role == Role.OWNER:
        require(actor, "owners.manage")
    require(actor, "members.manage")


def member_change_role(*, actor: Membership, membership: Membership, role: str) -> Membership:
    with transaction.atomic():
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        _check_may_manage(actor, membership, new_role=role)
        demoting_owner = membership.role == Role.OWNER and role != Role.OWNER
        if demoting_owner and not _owners_left(membership.organization_id, membership):
            raise ConflictError(
                "The last owner cannot be demoted: transfer ownership first.",
                code="last_owner",
            )
        membership.role = role
        membership.save(update_fields=["role", "updated_at"])
        _notify(membership, "role_changed")
    return membership


def member_remove(*, actor: Membership, membership: Membership) -> None:
    """Remove a member (admins) or leave (anyone, for themselves)."""
    with transaction.atomic():
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        if membership.pk != actor.pk:
            _check_may_manage(actor, membership)
        if membership.role == Role.OWNER and not _owners_left(
            membership.organization_id, membership
        ):
            raise ConflictError(
                "The last owner cannot leave or be removed: transfer ownership first.",
                code="last_owner",
            )
        _notify(membership, "removed")
        membership.delete()


def ownership_transfer(*, actor: Membership, membership: Membership) -> Membership:
    """The acting owner hands ownership to ``membership`` and becomes an admin."""
    require(actor, "owners.manage")
    if membership.pk == actor.pk:
        raise ApplicationError("You already own this organization.", code="invalid")
    with transaction.atomic():
        target = Membership.objects.select_for_update().get(pk=membership.pk)
        target.role = Role.OWNER
        target.save(update_fields=["role", "updated_at"])
        Membership.objects.filter(pk=actor.pk).update(role=Role.ADMIN)
        _notify(target, "role_changed")
        _notify(actor, "role_changed")
    return target
