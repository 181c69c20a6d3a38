"""Reads for organizations and memberships."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet

from apps.common.prepared import PreparedQuery
from apps.iam.models import User
from apps.iam.two_factor import two_factor_enabled

from .constants import MembershipStatus
from .models import Invitation, Membership, Organization


def _host_url(host: str) -> str:
    """``<scheme>://<host>[:port]/`` with the configured scheme and port
    (the port is left out when it is the scheme's default)."""
    scheme, port = settings.NOVATIME_URL_SCHEME, settings.NOVATIME_URL_PORT
    default_port = {"http": "80", "https": "443"}.get(scheme)
    suffix = f":{port}" if port and port != default_port else ""
    return f"{scheme}://{host}{suffix}/"


def organization_url(organization: Organization) -> str:
    """Public URL of an organization's host (``http://acme.localhost:8000/``)."""
    return _host_url(f"{organization.slug}.{settings.NOVATIME_BASE_DOMAIN}")


def public_url() -> str:
    """Public URL of the base host (``http://localhost:8000/``), where links in
    emails point for actions that happen outside any organization's host."""
    return _host_url(settings.NOVATIME_BASE_DOMAIN)


#: Every page and API request of an organization host looks the caller's
#: membership up: compiled once (apps/common/prepared.py), it costs its round
#: trip, not the 1.5 ms of compiling a 40-column join each time.
_ACTIVE_MEMBERSHIP: PreparedQuery[Membership] = PreparedQuery(
    lambda _shape, user_id, organization_id: Membership.objects.filter(
        user_id=user_id, organization_id=organization_id, status=MembershipStatus.ACTIVE
    ).select_related("organization")[:1],
    user_id=uuid.UUID,
    organization_id=uuid.UUID,
)


def membership_for(
    *, user: User | AnonymousUser | None, organization: Organization | None
) -> Membership | None:
    """The user's active membership in ``organization``, or ``None``."""
    if user is None or not user.is_authenticated or organization is None:
        return None
    found = _ACTIVE_MEMBERSHIP.run(user_id=user.pk, organization_id=organization.pk)
    return found[0] if found else None


def membership_needs_two_factor(*, membership: Membership, user: User | AnonymousUser) -> bool:
    """Whether the organization requires two-factor and this member has not
    turned it on: such a member is refused on the organization's host, over
    HTTP and WebSocket alike (the flag is read from the membership's freshly
    loaded organization, not a cached tenant)."""
    return membership.organization.require_two_factor and not (
        isinstance(user, User) and two_factor_enabled(user=user)
    )


def memberships_of_user(*, user: User) -> QuerySet[Membership]:
    """The caller's organizations (the switcher in clients)."""
    return (
        Membership.objects.filter(user=user, status=MembershipStatus.ACTIVE)
        .exclude(organization__status__in=["template", "pooled", "provisioning"])
        .select_related("organization")
        .order_by("organization__name")
    )


def members_of(*, organization: Organization) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(organization_id=organization.pk)
        .select_related("user")
        .order_by("joined_at")
    )


def invitations_pending(*, organization: Organization) -> QuerySet[Invitation]:
    """The organization's pending invitations (expired ones included: they can
    be resent), newest first, with who sent them."""
    return (
        Invitation.objects.filter(organization_id=organization.pk)
        .pending()
        .select_related("invited_by")
        .order_by("-created_at")
    )
