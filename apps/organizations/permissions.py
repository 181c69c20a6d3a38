"""The permission module: who may do what in an organization, in one place.

A role carries the permissions of every weaker role; a permission names the
weakest role that has it (``PERMISSIONS``, documented in
apps/organizations/README.md). Services ask :func:`require` /
:func:`may` with the acting member; DRF views name a permission on
:class:`IsOrganizationMember`. Nothing outside this module compares roles:
a new rule is a new line in the table.

Authentication says who the caller is; the DRF classes here check their active
membership in the organization of the *current host*. A valid user without one
gets 403 ``not_a_member`` and sees nothing.
"""

from __future__ import annotations

from typing import Any, Final

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from apps.common.errors import RoleRequiredError
from tenants.db import request_tenant

from .constants import REQUEST_MEMBERSHIP_ATTR, Role
from .models import Membership, Organization
from .selectors import membership_for, membership_needs_two_factor

#: Strength of each role: a permission names the weakest role that has it.
ROLE_RANK: Final = {
    Role.VIEWER: 0,
    Role.MEMBER: 1,
    Role.MANAGER: 2,
    Role.ADMIN: 3,
    Role.OWNER: 4,
}

#: The permission table (documented in apps/organizations/README.md).
PERMISSIONS: Final[dict[str, Role]] = {
    "organization.view": Role.VIEWER,
    "organization.update": Role.ADMIN,
    # Settings that can lock everybody out or move money (OWNER_ONLY_SETTINGS).
    "organization.owner_settings": Role.OWNER,
    "members.view": Role.VIEWER,
    "members.manage": Role.ADMIN,
    # Change an owner, grant or transfer ownership, invite an owner.
    "owners.manage": Role.OWNER,
    "invitations.manage": Role.ADMIN,
    "billing.view": Role.VIEWER,
    "billing.manage": Role.ADMIN,
    "projects.view": Role.VIEWER,
    "projects.manage": Role.MANAGER,
    "tasks.contribute": Role.MEMBER,
    "tasks.manage_all": Role.MANAGER,
    "comments.moderate": Role.ADMIN,
    "chat.write": Role.MEMBER,
    "chat.moderate": Role.ADMIN,
    "time.track": Role.MEMBER,
    "entries.view_all": Role.MANAGER,
    "entries.manage_all": Role.MANAGER,
    "rates.view": Role.MANAGER,
    "timesheets.approve": Role.MANAGER,
    # Approve any member's sheet, whatever the "managed projects only" setting.
    "timesheets.approve_all": Role.ADMIN,
    "timesheets.reopen": Role.ADMIN,
    # Approve one's own sheet where the organization allows self-approval.
    "timesheets.self_approve": Role.OWNER,
}


def role_has(role: str, permission: str) -> bool:
    """Whether ``role`` carries ``permission`` (unknown permissions: nobody,
    so a typo refuses instead of granting)."""
    needed = PERMISSIONS.get(permission)
    return needed is not None and ROLE_RANK[Role(role)] >= ROLE_RANK[needed]


def may(actor: Membership | None, permission: str) -> bool:
    """Whether the acting member holds ``permission`` (no membership: no)."""
    return actor is not None and role_has(actor.role, permission)


def require(actor: Membership | None, permission: str) -> None:
    """Refuse with 403 ``role_required`` (naming ``permission``) unless the
    acting member holds it: the one way services check a role."""
    if not may(actor, permission):
        raise RoleRequiredError(permission)


def request_membership(request: Request) -> Membership | None:
    """The caller's membership in the host's organization (at most one query
    per request; none when token authentication brought it along)."""
    django_request = request._request
    if not hasattr(django_request, REQUEST_MEMBERSHIP_ATTR):
        membership = membership_for(user=request.user, organization=request_tenant(request))
        setattr(django_request, REQUEST_MEMBERSHIP_ATTR, membership)
    membership_or_none: Membership | None = getattr(django_request, REQUEST_MEMBERSHIP_ATTR)
    return membership_or_none


def request_organization(request: Request) -> Organization:
    """The host's organization in a view behind :class:`IsOrganizationMember`,
    which refuses requests on hosts without one (``NotAMember`` should a view
    ever lack the permission)."""
    organization = request_tenant(request)
    if organization is None:
        raise NotAMember()
    return organization


def required_membership(request: Request) -> Membership:
    """:func:`request_membership` in a view behind :class:`IsOrganizationMember`,
    which has already refused callers without one: never ``None`` there, and
    typed so (``NotAMember`` should a view ever lack the permission)."""
    membership = request_membership(request)
    if membership is None:
        raise NotAMember()
    return membership


class NotAMember(PermissionDenied):
    default_code = "not_a_member"
    default_detail = "You are not a member of this organization."


class TwoFactorRequired(PermissionDenied):
    default_code = "two_factor_required"
    default_detail = "This organization requires two-factor authentication: turn it on first."


class IsOrganizationMember(BasePermission):
    """Authenticated and an active member of the host's organization.

    Views may set ``required_permission`` (any method) or
    ``read_permission``/``write_permission`` (split by HTTP method).

    An organization with ``require_two_factor`` refuses members who have not
    turned two-factor on (403 ``two_factor_required``); the 2FA endpoints under
    ``/api/v1/auth/`` do not use this class, so they can still turn it on. The
    flag is read from the membership's freshly loaded organization, not the
    host's cached tenant, so switching it on applies from the next request.
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False  # → 401 from the authenticator
        membership = request_membership(request)
        if membership is None:
            raise NotAMember()
        if membership_needs_two_factor(membership=membership, user=request.user):
            raise TwoFactorRequired()
        permission = getattr(view, "required_permission", None)
        if permission is None:
            attr = "read_permission" if request.method in SAFE_METHODS else "write_permission"
            permission = getattr(view, attr, None)
        if permission:
            require(membership, permission)
        return True
