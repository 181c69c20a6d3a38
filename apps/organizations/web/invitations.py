"""Accepting an invitation on the public host (``/invitations/<token>/``).

The page shows the organization and role a usable token opens
(:func:`apps.organizations.services.invitation_usable`); an unknown, used or
revoked token gets a 404 page, an expired one a 410 page, with the API's
messages. The invitee then accepts through the same service as
``POST /api/v1/invitations/accept/``
(:func:`apps.organizations.services.invitation_accept`), under the same
throttle (scope ``invitation_accept``):

- without an account: first and last name, the invited ``Email`` (shown,
  locked) and a ``Password`` create the account, as the API does;
- with an account for the invited email: its ``Password`` (and its two-factor
  ``Code`` when it has one), checked as the sign-in pages check them
  (lockout included), then the service accepts as that user.

The public host keeps no signed-in session: the new member is handed to the
organization's host with a single-use sign-in link
(:mod:`apps.iam.web.links`), as after sign-up.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods
from rest_framework.request import Request

from apps.common.errors import ApplicationError
from apps.common.throttling import ScopedRateThrottle
from apps.iam.models import User
from apps.iam.two_factor import two_factor_login_required
from apps.iam.web.access import host_organization, refused
from apps.iam.web.links import hands_off, signin_link_create
from apps.iam.web.views import code_device, password_user
from apps.organizations import services
from apps.organizations.api.invitations import InvitationAcceptSerializer, InvitationAcceptView
from apps.organizations.models import Invitation

from .settings_forms import ROLE_LABELS, InvitationNewAccountForm, InvitationSignInForm

#: The page's answer to a token that cannot be accepted.
STATUS_FOR = {
    services.InvitationInvalidError.code: 404,
    services.InvitationExpiredError.code: 410,
}


def _accept_allowed(request: HttpRequest) -> bool:
    """The API accept's throttle (scope ``invitation_accept``, per client
    address): one budget for both."""
    return ScopedRateThrottle().allow_request(Request(request), InvitationAcceptView())


def _unusable(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
    status = STATUS_FOR.get(exc.code, exc.status_code)
    context = {"message": exc.message}
    return render(request, "organizations/invitation_unusable.html", context, status=status)


def _existing_user(invitation: Invitation) -> User | None:
    return get_user_model().objects.filter(email__iexact=invitation.email, is_active=True).first()


@sensitive_post_parameters("password", "code")
@require_http_methods(["GET", "POST"])
@hands_off
def accept(request: HttpRequest, token: str) -> HttpResponse:
    if host_organization(request) is not None:
        return refused(request, _("This page belongs to NovaTime's main address."), 404)
    if request.method == "POST" and not _accept_allowed(request):
        return refused(request, _("Too many attempts from your address: try again later."), 429)
    try:
        invitation = services.invitation_usable(raw_token=token)
    except ApplicationError as exc:
        return _unusable(request, exc)
    existing = _existing_user(invitation)
    with_code = existing is not None and two_factor_login_required(user=existing)
    data = request.POST if request.method == "POST" else None
    initial = {"email": invitation.email}
    form: Any = (
        InvitationSignInForm(data, initial=initial, with_code=with_code)
        if existing is not None
        else InvitationNewAccountForm(data, initial=initial)
    )
    if request.method == "GET" or not form.is_valid():
        return _render(request, invitation, form, existing is not None)
    body = InvitationAcceptSerializer(
        data={
            "token": token,
            "password": form.cleaned_data["password"],
            "first_name": form.cleaned_data.get("first_name", ""),
            "last_name": form.cleaned_data.get("last_name", ""),
        }
    )
    if not body.is_valid():
        _add_errors(form, dict(body.errors), _("Check the fields below."))
        return _render(request, invitation, form, existing is not None, status=400)
    user: User | None = None
    if existing is not None:
        checked = _checked_user(request, invitation, form, with_code)
        if checked is None:
            return _render(request, invitation, form, True, status=400)
        user = checked
    values = body.validated_data
    try:
        membership = services.invitation_accept(
            raw_token=token,
            user=user,
            password=values.get("password", ""),
            first_name=values.get("first_name", ""),
            last_name=values.get("last_name", ""),
        )
    except (services.InvitationInvalidError, services.InvitationExpiredError) as exc:
        return _unusable(request, exc)
    except ApplicationError as exc:
        _add_errors(form, (exc.extra or {}).get("fields") or {}, exc.message)
        return _render(request, invitation, form, existing is not None, status=exc.status_code)
    return HttpResponseRedirect(
        signin_link_create(user=membership.user, organization=membership.organization)
    )


def _checked_user(
    request: HttpRequest, invitation: Invitation, form: Any, with_code: bool
) -> User | None:
    """The invited account, if the password (and code) typed are its own."""
    outcome = password_user(request, invitation.email, form.cleaned_data["password"])
    if not isinstance(outcome, User):
        form.add_error("password", outcome)
        return None
    if with_code:
        code = form.cleaned_data.get("code", "")
        if not code:
            form.add_error("code", _("Enter the code from your authenticator app."))
            return None
        if code_device(request, outcome, code) is None:
            form.add_error("code", _("The two-factor code is not valid."))
            return None
    return outcome


def _add_errors(form: Any, fields: dict[str, Any], fallback: str) -> None:
    placed = False
    for name, found in fields.items():
        target = name if name in form.fields and not form.fields[name].disabled else None
        for message in found if isinstance(found, list) else [found]:
            form.add_error(target, str(message))
            placed = True
    if not placed:
        form.add_error(None, fallback)


def _render(
    request: HttpRequest, invitation: Invitation, form: Any, has_account: bool, status: int = 200
) -> HttpResponse:
    context = {
        "invitation": invitation,
        "organization": invitation.organization,
        "role": ROLE_LABELS.get(invitation.role, invitation.role),  # type: ignore[call-overload]
        "form": form,
        "has_account": has_account,
    }
    return render(request, "organizations/invitation.html", context, status=status)
