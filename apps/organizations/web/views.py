"""Pages of the public host: the landing page (``/``), sign-up (``/signup/``)
and its subdomain check (``/signup/slug-check/``).

Sign-up validates with the API's ``SignupSerializer`` and calls the same
service as ``POST /api/v1/signup/``
(:func:`apps.organizations.services.organization_signup`); the subdomain check
calls the rule that service applies (:func:`tenants.provisioning.check_slug_available`),
so no rule is written twice. A refused sign-up shows the API's messages next
to the fields, with what was typed kept (except the password). A new
organization's owner lands signed in on its host through a single-use link
(:mod:`apps.iam.web.links`).
"""

from __future__ import annotations

from types import SimpleNamespace

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods
from rest_framework.request import Request

from apps.billing.selectors import plan_list
from apps.common.errors import ApplicationError
from apps.common.throttling import ScopedRateThrottle
from apps.iam.web.access import host_organization, refused
from apps.iam.web.links import hands_off, signin_link_create
from apps.organizations import services
from apps.organizations.api.serializers import SignupSerializer
from apps.organizations.api.views import SignupView
from tenants.provisioning import TenantError, check_slug_available

from .forms import SignupForm

#: The serializer's request: the public host keeps no signed-in session, so a
#: web sign-up is always an anonymous one (email and password required).
_ANONYMOUS = SimpleNamespace(user=AnonymousUser())


def _public_only(request: HttpRequest) -> HttpResponse | None:
    if host_organization(request) is not None:
        return refused(request, _("This page belongs to NovaTime's main address."), 404)
    return None


@require_GET
def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "organizations/landing.html", {"plans": plan_list()})


def _add_errors(form: SignupForm, fields: dict[str, object], fallback: str) -> None:
    placed = False
    for name, messages in fields.items():
        target = name if name in form.fields else None
        for message in messages if isinstance(messages, list) else [messages]:
            form.add_error(target, str(message))
            placed = True
    if not placed:
        form.add_error(None, fallback)


def _signup_allowed(request: HttpRequest) -> bool:
    """The API signup's throttle (scope ``signup``, per client address), one
    budget for both: ``Request`` without authenticators is anonymous."""
    return ScopedRateThrottle().allow_request(Request(request), SignupView())


@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
@hands_off
def signup(request: HttpRequest) -> HttpResponse:
    if (wrong_host := _public_only(request)) is not None:
        return wrong_host
    if request.method == "POST" and not _signup_allowed(request):
        # The API's signup throttle, with the same budget per client address.
        return refused(request, _("Too many sign-ups from your address: try again later."), 429)
    form = SignupForm(request.POST or None)
    if request.method == "GET" or not form.is_valid():
        return _render(request, form)
    # The API's input rules (required fields, email format, lengths).
    serializer = SignupSerializer(data=form.cleaned_data, context={"request": _ANONYMOUS})
    if not serializer.is_valid():
        _add_errors(form, dict(serializer.errors), _("Check the fields below."))
        return _render(request, form, status=400)
    data = serializer.validated_data
    try:
        result = services.organization_signup(
            organization_name=data["organization_name"],
            slug=data["slug"],
            email=data["email"],
            password=data["password"],
        )
    except ApplicationError as exc:
        _add_errors(form, exc.extra.get("fields") or {}, exc.message)
        return _render(request, form, status=400)
    return HttpResponseRedirect(
        signin_link_create(user=result.user, organization=result.organization)
    )


def _render(request: HttpRequest, form: SignupForm, status: int = 200) -> HttpResponse:
    context = {"form": form, "base_domain": settings.NOVATIME_BASE_DOMAIN}
    return render(request, "organizations/signup.html", context, status=status)


@require_GET
def slug_check(request: HttpRequest) -> HttpResponse:
    """The subdomain's availability (an htmx fragment; the signup's own rule)."""
    if (wrong_host := _public_only(request)) is not None:
        return wrong_host
    slug = request.GET.get("slug", "")
    context: dict[str, object] = {"slug": slug, "base_domain": settings.NOVATIME_BASE_DOMAIN}
    if slug.strip():
        try:
            context["available"] = check_slug_available(slug)
        except TenantError as exc:
            context["error"] = exc.message
    return render(request, "organizations/_slug_status.html", context)
