"""Single-use sign-in links: how the public host hands a user to an
organization's host (sessions are per host, no cookie for ``.<base>``).

The public host (sign-up, sign-in) calls :func:`signin_link_create`, which
stores a SHA-256 of a 256-bit random key with an expiry of
:data:`LINK_SECONDS`, and redirects the browser to
``<organization url>signin/link/<key>/``. That page
(:func:`apps.iam.web.views.signin_link`) calls :func:`signin_link_redeem`:
one conditional UPDATE marks the link used only if it is unused, unexpired
and for THIS host's organization, so a replay (even a concurrent one) signs
in at most once and a link for organization A is refused on B's host.
The key is too long to guess (256 bits), so the page needs no throttle.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import secrets
from collections.abc import Callable
from enum import Enum
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.iam.models import SignInLink, User
from apps.organizations.models import Organization
from apps.organizations.selectors import membership_for, organization_url

#: How long a link may wait between the public host and the organization's host.
LINK_SECONDS = 60


class LinkRefusal(Enum):
    """Why a link was refused (the value is the page's message)."""

    UNKNOWN = _("This sign-in link is not valid.")
    USED = _("This sign-in link has already been used: sign in again.")
    EXPIRED = _("This sign-in link has expired: sign in again.")
    OTHER_ORGANIZATION = _("This sign-in link is for another organization.")
    NOT_MEMBER = _("You are not a member of this organization.")


def organization_hosts_source() -> str:
    """Every organization host as one CSP source (``http://*.localhost:8000``),
    built as the API builds an organization's URL."""
    return organization_url(Organization(slug="*")).rstrip("/")


def hands_off(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For public pages whose form redirects to an organization's host: the
    CSP's ``form-action 'self'`` also covers the redirect after a submission,
    so these pages add the organization hosts to it."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response._csp_update = {"form-action": [organization_hosts_source()]}  # type: ignore[attr-defined]  # django-csp
        return response

    return wrapper


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def signin_link_create(*, user: User, organization: Organization) -> str:
    """A new link signing ``user`` in on ``organization``'s host: its full URL."""
    key = secrets.token_urlsafe(32)
    now = timezone.now()
    SignInLink.objects.create(
        key_hash=_hash(key),
        user=user,
        organization_id=organization.pk,
        created_at=now,
        expires_at=now + datetime.timedelta(seconds=LINK_SECONDS),
    )
    # Expired links are of no use to anyone: drop them as new ones are made.
    SignInLink.objects.filter(expires_at__lt=now - datetime.timedelta(days=1)).delete()
    return f"{organization_url(organization)}signin/link/{key}/"


def signin_link_redeem(*, key: str, organization: Organization) -> User | LinkRefusal:
    """The link's user, the link now used; or why it is refused."""
    key_hash, now = _hash(key), timezone.now()
    claimed = SignInLink.objects.filter(
        key_hash=key_hash, organization_id=organization.pk, used_at__isnull=True, expires_at__gt=now
    ).update(used_at=now)
    link = SignInLink.objects.select_related("user").filter(key_hash=key_hash).first()
    if not claimed:
        if link is None:
            return LinkRefusal.UNKNOWN
        if link.organization_id != organization.pk:
            return LinkRefusal.OTHER_ORGANIZATION
        if link.used_at is not None:
            return LinkRefusal.USED
        return LinkRefusal.EXPIRED
    assert link is not None
    user = link.user
    if not user.is_active or membership_for(user=user, organization=organization) is None:
        return LinkRefusal.NOT_MEMBER
    return user
