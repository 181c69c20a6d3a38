"""Sign-in on the public host (``/signin/``): email and password (and the
code when the user has two-factor on), checked by the same helpers as an
organization host's sign-in (:mod:`apps.iam.web.views`), then the user's
organizations; with exactly one, straight to its host.

The public host keeps no signed-in session: it remembers for
:data:`CHOICE_SECONDS` whom it has checked (to list the organizations) and
hands the user to the chosen organization's host with a single-use link
(:mod:`apps.iam.web.links`).
"""

from __future__ import annotations

import time

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from apps.iam.models import User
from apps.iam.two_factor import two_factor_login_required
from apps.organizations.selectors import memberships_of_user

from .access import host_organization, refused
from .forms import CodeForm, SignInForm
from .links import hands_off, signin_link_create
from .views import PENDING_KEY, code_device, password_user, pending_user

#: Session key: the user whose credentials the public host checked, and when.
CHECKED_KEY = "novatime_public_checked"
#: How long the organization choice stays open after a sign-in.
CHECKED_SECONDS = 600


def _checked_user(request: HttpRequest) -> User | None:
    checked = request.session.get(CHECKED_KEY)
    if checked and time.time() - float(checked[1]) < CHECKED_SECONDS:
        return User.objects.filter(pk=checked[0], is_active=True).first()
    request.session.pop(CHECKED_KEY, None)
    return None


def _checked(request: HttpRequest, user: User) -> HttpResponse:
    request.session.pop(PENDING_KEY, None)
    request.session.cycle_key()  # a new session id once the credentials are checked
    request.session[CHECKED_KEY] = [str(user.pk), time.time()]
    return _organizations(request, user)


def _organizations(request: HttpRequest, user: User) -> HttpResponse:
    memberships = list(memberships_of_user(user=user))
    if len(memberships) == 1:
        return HttpResponseRedirect(
            signin_link_create(user=user, organization=memberships[0].organization)
        )
    return render(request, "iam/public_organizations.html", {"memberships": memberships})


@sensitive_post_parameters("password", "code")
@require_http_methods(["GET", "POST"])
@hands_off
def signin(request: HttpRequest) -> HttpResponse:
    if host_organization(request) is not None:
        return refused(request, _("This page belongs to NovaTime's main address."), 404)
    if request.method == "POST" and "code" in request.POST:
        return _code_step(request)
    form = SignInForm(request.POST or None)
    error, status = "", 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            user = password_user(request, form.cleaned_data["email"], form.cleaned_data["password"])
            if not isinstance(user, User):
                error = user
            elif two_factor_login_required(user=user):
                request.session[PENDING_KEY] = [str(user.pk), time.time()]
                return _render_code(request, CodeForm())
            else:
                return _checked(request, user)
    return render(request, "iam/public_signin.html", {"form": form, "error": error}, status=status)


def _render_code(
    request: HttpRequest, form: CodeForm, error: str = "", status: int = 200
) -> HttpResponse:
    context = {"form": form, "error": error, "action": reverse("iam_public:signin")}
    return render(request, "iam/signin_code.html", context, status=status)


def _code_step(request: HttpRequest) -> HttpResponse:
    user = pending_user(request)
    if user is None:
        return HttpResponseRedirect(reverse("iam_public:signin"))
    form = CodeForm(request.POST)
    if not form.is_valid():
        return _render_code(request, form, status=400)
    if code_device(request, user, form.cleaned_data["code"]) is None:
        return _render_code(request, form, _("The two-factor code is not valid."), status=400)
    return _checked(request, user)


@require_http_methods(["GET", "POST"])
@hands_off
def organizations(request: HttpRequest) -> HttpResponse:
    """``/signin/organizations/``: the checked user's organizations; a POST
    of one of them goes to its host."""
    user = _checked_user(request)
    if user is None:
        return HttpResponseRedirect(reverse("iam_public:signin"))
    if request.method == "GET":
        return _organizations(request, user)
    chosen = request.POST.get("organization", "")
    for membership in memberships_of_user(user=user):
        if str(membership.organization.pk) == chosen:
            return HttpResponseRedirect(
                signin_link_create(user=user, organization=membership.organization)
            )
    return refused(request, _("You are not a member of this organization."))
