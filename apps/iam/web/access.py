"""Who may open a page of an organization host (the web app's gate).

The API's rule (:class:`apps.organizations.permissions.IsOrganizationMember`)
for pages: a signed-in, active member of the host's organization, with
two-factor on where the organization requires it. Two differences, both about
browsers: an anonymous visitor is sent to this host's ``/signin/`` instead of
a 401, and a session only counts on the host it was signed in on (the web
sign-in records the organization in the session), so a session id carried
from another host is treated as anonymous here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from apps.organizations.models import Membership, Organization
from apps.organizations.selectors import membership_for, membership_needs_two_factor

#: Session key: the organization whose host signed the session in.
SESSION_ORGANIZATION_KEY = "novatime_organization"

View = Callable[..., HttpResponseBase]


def host_organization(request: HttpRequest) -> Organization | None:
    """The organization of the request's host (``None`` on the public host)."""
    tenant = getattr(request, "tenant", None)
    return tenant if isinstance(tenant, Organization) else None


def bind_session(request: HttpRequest, organization: Organization) -> None:
    """Mark the (just signed-in) session as belonging to ``organization``'s host."""
    request.session[SESSION_ORGANIZATION_KEY] = str(organization.pk)


def signed_in_here(request: HttpRequest, organization: Organization) -> bool:
    """Whether the request's user signed in on this organization's host."""
    return bool(
        request.user.is_authenticated
        and request.session.get(SESSION_ORGANIZATION_KEY) == str(organization.pk)
    )


def signin_redirect(request: HttpRequest) -> HttpResponseRedirect:
    """To this host's sign-in, back here afterwards (a refused form post comes
    back to the Time page: its URL only takes POST)."""
    back = request.get_full_path() if request.method == "GET" else reverse("time_entries_web:time")
    return HttpResponseRedirect(f"{reverse('iam_web:signin')}?{urlencode({'next': back})}")


def refused(request: HttpRequest, message: str, status: int = 403) -> HttpResponse:
    """The HTML refusal page (web pages never answer JSON)."""
    context = {
        "message": message,
        # Sign-out exists on organization hosts only (the public host keeps no web session).
        "show_signout": request.user.is_authenticated and host_organization(request) is not None,
    }
    return render(request, "errors/refused.html", context, status=status)


def member_page(view: View, *, two_factor_setup: bool = False) -> View:
    """Decorator for organization-host pages: the view gets ``actor``
    (the caller's :class:`Membership`) as a keyword argument.

    A member of an organization that requires two-factor authentication and
    has not turned it on reaches only the pages that turn it on
    (:func:`two_factor_setup_page`: ``/account/`` and its two-factor forms);
    every other page sends them there. The API refuses them the same way
    (403 ``two_factor_required``) but for its own two-factor endpoints."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        organization = host_organization(request)
        if organization is None:
            return refused(request, _("This page belongs to an organization's address."), 404)
        if not signed_in_here(request, organization):
            return signin_redirect(request)
        actor: Membership | None = membership_for(user=request.user, organization=organization)
        if actor is None:
            return refused(request, _("You are not a member of this organization."))
        if membership_needs_two_factor(membership=actor, user=request.user):
            if not two_factor_setup:
                return HttpResponseRedirect(reverse("iam_web:account"))
            # The account page says why; no live socket (it would be refused).
            request.web_two_factor_required = True  # type: ignore[attr-defined]
        # The navigation (apps.iam.web.context) shows links by the actor's permissions.
        request.web_actor = actor  # type: ignore[attr-defined]
        return view(request, *args, actor=actor, **kwargs)

    wrapper.member_page = True  # type: ignore[attr-defined]  # found by tests/isolation/test_pages.py
    return wrapper


def two_factor_setup_page(view: View) -> View:
    """:func:`member_page` for a page that turns two-factor on: open to a
    member whose organization requires it before they have."""
    return member_page(view, two_factor_setup=True)
