"""Sign in and out on an organization host (``/signin/``, ``/signout/``).

A session sign-in for THIS host only: the password is checked by the same
authentication backend as the API's login (lockout included), the second
factor by the same helpers (:mod:`apps.iam.two_factor`), and only an active
member of the host's organization gets a session, bound to this host
(:mod:`apps.iam.web.access`).
"""

from __future__ import annotations

import time

from django.contrib.auth import authenticate, login, logout
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.iam import lockout
from apps.iam.models import User
from apps.iam.two_factor import two_factor_login_required, two_factor_verified_device
from apps.organizations.selectors import membership_for

from .access import bind_session, host_organization, refused
from .forms import CodeForm, SignInForm
from .links import LinkRefusal, signin_link_redeem

#: Session key of a sign-in waiting for its second factor: (user id, since).
PENDING_KEY = "novatime_signin_pending"
#: How long the code step waits after a right password.
PENDING_SECONDS = 300


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("time_entries_web:time")


def _finish(request: HttpRequest, user: User, device: object | None = None) -> HttpResponse:
    organization = host_organization(request)
    assert organization is not None  # checked by the caller
    if device is not None:
        user.otp_device = device  # type: ignore[attr-defined]  # django-otp marks the session
    next_url = _next_url(request)
    login(request, user, backend="apps.iam.lockout.LockoutBackend")
    bind_session(request, organization)
    return HttpResponseRedirect(next_url)


def password_user(request: HttpRequest, email: str, password: str) -> User | str:
    """The user these credentials sign in (the API login's backend, lockout
    included), or the message to show."""
    try:
        user = authenticate(request, email=email, password=password)
    except PermissionDenied:
        user = None
    if isinstance(user, User):
        return user
    if lockout.locked_for(email=email, request=request):
        return _("Too many failed sign-ins: try again later.")
    return _("The email or password is not correct.")


def pending_user(request: HttpRequest) -> User | None:
    """The user whose right password waits for a code (``None``: start again)."""
    pending = request.session.get(PENDING_KEY)
    if pending and time.time() - float(pending[1]) < PENDING_SECONDS:
        return User.objects.filter(pk=pending[0], is_active=True).first()
    request.session.pop(PENDING_KEY, None)
    return None


def code_device(request: HttpRequest, user: User, code: str) -> object | None:
    """The device a code verifies; a wrong code counts as a failed sign-in."""
    device = two_factor_verified_device(user=user, code=code)
    if device is None:
        lockout.record_failure(email=user.email, request=request)
    return device


@sensitive_post_parameters("password", "code")
@require_http_methods(["GET", "POST"])
def signin(request: HttpRequest) -> HttpResponse:
    organization = host_organization(request)
    if organization is None:
        return refused(request, _("Sign in on your organization's address."), 404)
    if request.method == "POST" and "code" in request.POST:
        return _code_step(request)
    form = SignInForm(request.POST or None)
    error = ""
    status = 200
    if request.method == "POST" and form.is_valid():
        user = password_user(request, form.cleaned_data["email"], form.cleaned_data["password"])
        if not isinstance(user, User):
            error = user
        elif membership_for(user=user, organization=organization) is None:
            error = _("You are not a member of this organization.")
        elif two_factor_login_required(user=user):
            request.session[PENDING_KEY] = [str(user.pk), time.time()]
            return _render_code(request, CodeForm())
        else:
            # A member whose organization requires two-factor and who has
            # not turned it on is signed in all the same: member_page then
            # lets them reach only /account/, where they turn it on.
            return _finish(request, user)
        status = 400
    elif request.method == "POST":
        status = 400
    return render(
        request,
        "iam/signin.html",
        {"form": form, "error": error, "next": _next_url(request), "organization": organization},
        status=status,
    )


def _render_code(
    request: HttpRequest, form: CodeForm, error: str = "", status: int = 200
) -> HttpResponse:
    return render(
        request,
        "iam/signin_code.html",
        {"form": form, "error": error, "next": _next_url(request)},
        status=status,
    )


def _code_step(request: HttpRequest) -> HttpResponse:
    organization = host_organization(request)
    user = pending_user(request)
    if user is None:
        return HttpResponseRedirect(reverse("iam_web:signin"))
    form = CodeForm(request.POST)
    if not form.is_valid():
        return _render_code(request, form, status=400)
    device = code_device(request, user, form.cleaned_data["code"])
    if device is None:
        # A right password with a wrong code is a failed sign-in (the lockout counts it).
        return _render_code(request, form, _("The two-factor code is not valid."), status=400)
    membership = membership_for(user=user, organization=organization)
    if membership is None:
        return _render_code(request, form, _("You are not a member of this organization."), 403)
    request.session.pop(PENDING_KEY, None)
    return _finish(request, user, device)


@require_GET
def signin_link(request: HttpRequest, key: str) -> HttpResponse:
    """``/signin/link/<key>/``: the public host's single-use link (links.py)
    signs the user in on this host, bound to it as ``/signin/`` does."""
    organization = host_organization(request)
    if organization is None:
        return refused(request, _("Sign in on your organization's address."), 404)
    outcome = signin_link_redeem(key=key, organization=organization)
    if isinstance(outcome, LinkRefusal):
        return refused(
            request, str(outcome.value), 403 if outcome is LinkRefusal.NOT_MEMBER else 400
        )
    if request.user.is_authenticated:
        logout(request)  # another user's session on this host ends here
    login(request, outcome, backend="apps.iam.lockout.LockoutBackend")
    bind_session(request, organization)
    return HttpResponseRedirect(reverse("time_entries_web:time"))


@require_POST
def signout(request: HttpRequest) -> HttpResponse:
    logout(request)
    return HttpResponseRedirect(reverse("iam_web:signin"))
