"""DRF permission classes for organization hosts: membership + role.

Authentication says who the caller is; these classes check their active
membership in the organization of the *current host*. A valid user without one
gets 403 ``not_a_member`` and sees nothing. The role → permission table lives in
``constants.PERMISSIONS``.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from tenants.db import request_tenant

from .constants import REQUEST_MEMBERSHIP_ATTR, role_has
from .models import Membership, Organization
from .selectors import membership_for, membership_needs_two_factor


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


class RoleRequired(PermissionDenied):
    default_code = "role_required"
    default_detail = "Your role in this organization does not allow this."


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
        if permission and not role_has(membership.role, permission):
            raise RoleRequired()
        return True
