"""``/account/``: the signed-in user's name, language, time zone, password
and two-factor authentication (UI.md).

Every write goes through what the API uses: the profile through
``UserDetailsSerializer`` (``PATCH /api/v1/auth/user/``), the password
through dj-rest-auth's password-change serializer (``password/change/``:
Django's validators; the session stays signed in) followed by the API's
revocation of the user's tokens, two-factor through
:mod:`apps.iam.two_factor` (``/api/v1/auth/2fa/…``). A refused form comes
back with the messages next to its fields and what was typed kept
(passwords excepted: they are never written back into a page).
"""

from __future__ import annotations

from typing import Any

import segno
from dj_rest_auth.app_settings import api_settings as rest_auth_settings
from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST

from apps.common.errors import ApplicationError
from apps.common.validators import time_zone_names
from apps.iam.api.serializers import UserDetailsSerializer
from apps.iam.models import User
from apps.iam.tokens import tokens_revoke
from apps.iam.two_factor import (
    TwoFactorSetup,
    two_factor_confirm,
    two_factor_disable,
    two_factor_enabled,
    two_factor_pending,
    two_factor_setup,
)
from apps.organizations.models import Membership

from .access import member_page, two_factor_setup_page
from .forms import PasswordChangeForm, ProfileForm, TwoFactorCodeForm

#: This page's password fields → dj-rest-auth's (its errors name its own).
PASSWORD_FIELDS = {
    "current_password": "old_password",
    "new_password": "new_password1",
    "new_password_again": "new_password2",
}


def timezone_names() -> tuple[str, ...]:
    """The time zone suggestions of the page."""
    return time_zone_names()


def qr_svg(setup: TwoFactorSetup) -> SafeString:
    """The enrolment's ``otpauth://`` URL as an inline SVG image (no script,
    no style attribute: the CSP allows neither); its ``<title>`` names it."""
    svg = segno.make(setup.otpauth_url, error="m").svg_inline(
        scale=4, border=2, dark="#000", light="#fff", title=_("QR code for your authenticator app")
    )
    # segno escapes the title; role="img" makes the title the image's name.
    return mark_safe(svg.replace("<svg ", '<svg role="img" class="qr-code" ', 1))


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # member_page let only a signed-in member through
    return user


def _add_errors(form: forms.Form, errors: Any, names: dict[str, str] | None = None) -> None:
    """A serializer's or service's ``{field: [messages]}`` next to the form's
    fields (``names``: the API's field name → the form's); the rest above it."""
    names = names or {}
    reverse_names = {api: mine for mine, api in names.items()}
    if not isinstance(errors, dict):
        errors = {None: errors}
    for key, value in errors.items():
        field = reverse_names.get(key, key)
        field = field if field in form.fields else None
        for message in value if isinstance(value, list | tuple) else [value]:
            form.add_error(field, str(message))


def _profile_initial(user: User) -> dict[str, str]:
    return {
        "first_name": user.first_name,
        "last_name": user.last_name,
        "language": user.language,
        "timezone": user.timezone,
    }


def _page(
    request: HttpRequest,
    actor: Membership,
    *,
    profile: ProfileForm | None = None,
    password: PasswordChangeForm | None = None,
    code: TwoFactorCodeForm | None = None,
    two_factor_error: str = "",
    backup_codes: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    user = _user(request)
    enabled = two_factor_enabled(user=user)
    pending = None if enabled else two_factor_pending(user=user)
    context = {
        "actor": actor,
        "account": user,
        "profile_form": profile or ProfileForm(initial=_profile_initial(user)),
        "password_form": password or PasswordChangeForm(),
        "code_form": code or TwoFactorCodeForm(),
        "timezone_names": timezone_names(),
        "two_factor_enabled": enabled,
        "pending": pending,
        "qr_code": qr_svg(pending) if pending is not None else "",
        "two_factor_error": two_factor_error,
        "backup_codes": backup_codes or [],
        # The organization requires two-factor and this member has not turned it on.
        "two_factor_required": getattr(request, "web_two_factor_required", False),
    }
    return render(request, "iam/account.html", context, status=status)


def _saved(request: HttpRequest, message: str) -> HttpResponse:
    messages.success(request, message)
    return HttpResponseRedirect(reverse("iam_web:account"))


@require_GET
@two_factor_setup_page
def account(request: HttpRequest, *, actor: Membership) -> HttpResponse:
    return _page(request, actor)


@require_POST
@member_page
def profile_save(request: HttpRequest, *, actor: Membership) -> HttpResponse:
    """The API's ``PATCH /api/v1/auth/user/`` (same serializer, same checks)."""
    form = ProfileForm(request.POST)
    if form.is_valid():
        serializer = UserDetailsSerializer(
            _user(request), data=form.cleaned_data, partial=True, context={"request": request}
        )
        if serializer.is_valid():
            user = serializer.save()
            # The confirmation already in the language just chosen (the
            # middleware applies it to every request from the next one on).
            translation.activate(user.language or translation.get_language_from_request(request))
            return _saved(request, _("Your profile has been saved."))
        _add_errors(form, serializer.errors)
    return _page(request, actor, profile=form, status=400)


@sensitive_post_parameters("current_password", "new_password", "new_password_again")
@require_POST
@member_page
def password_change(request: HttpRequest, *, actor: Membership) -> HttpResponse:
    """The API's ``POST /api/v1/auth/password/change/``: dj-rest-auth's
    serializer (current password, Django's validators; it keeps this session
    signed in with ``update_session_auth_hash``), then every API token of the
    user is revoked as that endpoint does."""
    form = PasswordChangeForm(request.POST)
    if form.is_valid():
        serializer_class = rest_auth_settings.PASSWORD_CHANGE_SERIALIZER
        serializer = serializer_class(
            data={PASSWORD_FIELDS[name]: value for name, value in form.cleaned_data.items()},
            context={"request": request},
        )
        if serializer.is_valid():
            serializer.save()
            tokens_revoke(user=_user(request))
            return _saved(request, _("Your password has been changed."))
        _add_errors(form, serializer.errors, PASSWORD_FIELDS)
    return _page(request, actor, password=form, status=400)


@require_POST
@two_factor_setup_page
def two_factor_start(request: HttpRequest, *, actor: Membership) -> HttpResponse:
    """``POST /api/v1/auth/2fa/setup/``: a new, unconfirmed authenticator;
    the page then shows its QR code and secret until it is confirmed."""
    try:
        two_factor_setup(user=_user(request))
    except ApplicationError as error:
        return _page(request, actor, two_factor_error=error.message, status=error.status_code)
    return HttpResponseRedirect(reverse("iam_web:account") + "#two-factor-heading")


def _code_refused(
    request: HttpRequest, actor: Membership, form: TwoFactorCodeForm, error: ApplicationError
) -> HttpResponse:
    """A wrong code next to the Code field; any other refusal (nothing set
    up, already on, staff without an operator's code) above the section, as
    the page may then show no Code field at all."""
    if error.code == "otp_invalid":
        _add_errors(form, {"code": [error.message]})
        return _page(request, actor, code=form, status=error.status_code)
    return _page(request, actor, two_factor_error=error.message, status=error.status_code)


@sensitive_post_parameters("code")
@require_POST
@two_factor_setup_page
def two_factor_finish(request: HttpRequest, *, actor: Membership) -> HttpResponse:
    """``POST /api/v1/auth/2fa/confirm/``: turns two-factor on and shows the
    backup codes, once (this response is their only appearance)."""
    form = TwoFactorCodeForm(request.POST)
    if form.is_valid():
        try:
            codes = two_factor_confirm(user=_user(request), code=form.cleaned_data["code"])
        except ApplicationError as error:
            return _code_refused(request, actor, form, error)
        messages.success(request, _("Two-factor authentication is on."))
        return _page(request, actor, backup_codes=codes)
    return _page(request, actor, code=form, status=400)


@sensitive_post_parameters("code")
@require_POST
@member_page
def two_factor_off(request: HttpRequest, *, actor: Membership) -> HttpResponse:
    """``POST /api/v1/auth/2fa/disable/``: needs a current code."""
    form = TwoFactorCodeForm(request.POST)
    if form.is_valid():
        try:
            two_factor_disable(user=_user(request), code=form.cleaned_data["code"])
        except ApplicationError as error:
            return _code_refused(request, actor, form, error)
        return _saved(request, _("Two-factor authentication is off."))
    return _page(request, actor, code=form, status=400)
