"""The Settings pages of an organization host (``/settings/`` and its sections).

Owners and admins only, by the API's own permission (``organization.update``,
the settings PATCH's); anyone else gets the HTML refusal. Each form is
validated by the API's serializer and written by the API's service, with the
caller's :class:`Membership` as ``actor``, so every rule (owner-only
settings, the last owner, who may invite whom, the plan's limits) and every
message is the API's:

- ``/settings/``: the organization (``PATCH /api/v1/organization/``);
- ``/settings/members/``: roles, removal, ownership (``/api/v1/members/``);
- ``/settings/invitations/``: invite, resend, revoke (``/api/v1/invitations/``);
- ``/settings/rates/``: the default rate and each member's terms;
- ``/settings/time-tracking/``: idle threshold and rounding (settings PATCH);
- ``/settings/automation/``: the automation rules, read-only as in the API;
- ``/settings/billing/``: plan, seats, state; ``Manage billing`` opens the
  Stripe portal (``POST /api/v1/billing/portal/``'s service).

A refused write re-renders its page with the message next to the field it
names and the typed input kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import logout
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.billing import gateway
from apps.billing import selectors as billing_selectors
from apps.billing import services as billing_services
from apps.common.errors import ApplicationError
from apps.iam.web.access import member_page, refused
from apps.organizations import selectors, services
from apps.organizations.api.invitations import InvitationCreateSerializer
from apps.organizations.api.serializers import (
    MemberUpdateSerializer,
    OrganizationSettingsSerializer,
)
from apps.organizations.constants import Role
from apps.organizations.models import Invitation, Membership, Organization
from apps.organizations.permissions import may
from apps.time_entries.money import may_view_money

from .settings_forms import (
    ROLE_LABELS,
    DefaultRateForm,
    InviteForm,
    OrganizationForm,
    TimeTrackingForm,
)

#: The sections (the settings navigation): URL name and title.
SECTIONS = [
    ("organizations_web:settings", gettext_lazy("Organization")),
    ("organizations_web:settings_members", gettext_lazy("Members")),
    ("organizations_web:settings_invitations", gettext_lazy("Invitations")),
    ("organizations_web:settings_rates", gettext_lazy("Rates")),
    ("organizations_web:settings_time_tracking", gettext_lazy("Time tracking")),
    ("organizations_web:settings_automation", gettext_lazy("Automation")),
    ("organizations_web:settings_billing", gettext_lazy("Billing")),
]

#: The organization settings each form edits (all of them the API's PATCH fields).
ORGANIZATION_FIELDS = ("name", "timezone", "week_start", "currency", "require_two_factor")
TIME_TRACKING_FIELDS = ("idle_threshold_minutes", "rounding_mode", "rounding_minutes")
RATE_FIELDS = ("default_hourly_rate",)

#: Time-tracking and timesheet rules the settings API shows but does not change.
READ_ONLY_RULES = (
    ("allow_overlapping_entries", gettext_lazy("Time entries may overlap")),
    ("members_see_rates", gettext_lazy("Members see the rates of their own entries")),
    ("forgotten_timer_hours", gettext_lazy("A timer is forgotten after (hours)")),
    ("auto_stop_timers", gettext_lazy("Stop forgotten timers automatically")),
    ("timesheet_period", gettext_lazy("Timesheet period")),
    ("allow_self_approval", gettext_lazy("Owners may approve their own timesheet")),
    (
        "approvers_limited_to_managed_projects",
        gettext_lazy("Managers approve only members of projects they manage"),
    ),
    ("auto_submit_timesheets", gettext_lazy("Submit draft timesheets at period end")),
)

#: Where the Stripe portal lives (a form's redirect must be allowed by the CSP).
STRIPE_FORM_TARGETS = ["https://billing.stripe.com"]

#: At most this many rows in a list (the page's size and queries stay bounded).
MAX_ROWS = 500


def _gate(request: HttpRequest, actor: Membership) -> HttpResponse | None:
    """The settings PATCH's permission for every section."""
    if may(actor, "organization.update"):
        return None
    return refused(request, _("Only owners and admins can open the settings."))


def _page(
    request: HttpRequest,
    actor: Membership,
    template: str,
    section: str,
    context: dict[str, Any],
    status: int = 200,
) -> HttpResponse:
    context.update(
        actor=actor,
        sections=SECTIONS,
        section=section,
        may_view_money=may_view_money(actor=actor, owner_ids=None),
    )
    return render(request, f"organizations/settings/{template}", context, status=status)


def _messages(messages_: object) -> list[str]:
    if isinstance(messages_, Mapping):
        return [m for value in messages_.values() for m in _messages(value)]
    if isinstance(messages_, list | tuple):
        return [str(m) for m in messages_]
    return [str(messages_)]


def _place_errors(
    errors: Mapping[str, object], fields: Any, fallback: str
) -> tuple[dict[str, list[str]], list[str]]:
    """Split field errors (those ``fields`` has) from the rest (shown above)."""
    by_field: dict[str, list[str]] = {}
    general: list[str] = []
    for name, found in errors.items():
        if name in fields:
            by_field.setdefault(name, []).extend(_messages(found))
        else:
            general.extend(_messages(found))
    if not by_field and not general:
        general.append(fallback)
    return by_field, general


def _error_fields(exc: ApplicationError) -> Mapping[str, object]:
    return (exc.extra or {}).get("fields") or {}


def _add_to_form(form: Any, errors: Mapping[str, object], fallback: str) -> None:
    by_field, general = _place_errors(errors, form.fields, fallback)
    for name, found in by_field.items():
        for message in found:
            form.add_error(name, message)
    for message in general:
        form.add_error(None, message)


# --- organization settings (PATCH /api/v1/organization/) -----------------------------


def _settings_write(
    actor: Membership, form: Any, data: dict[str, Any], organization: Organization
) -> int | None:
    """The API's PATCH: its serializer, then its service; errors go on
    ``form`` and the API's status is returned (``None``: saved)."""
    serializer = OrganizationSettingsSerializer(instance=organization, data=data, partial=True)
    if not serializer.is_valid():
        _add_to_form(form, dict(serializer.errors), _("Check the fields below."))
        return 400
    try:
        services.organization_update(
            actor=actor, organization=organization, data=dict(serializer.validated_data)
        )
    except ApplicationError as exc:
        _add_to_form(form, _error_fields(exc) or {"": exc.message}, exc.message)
        return exc.status_code
    except DjangoValidationError as exc:  # the model's own checks (full_clean)
        _add_to_form(form, exc.message_dict, _("Check the fields below."))
        return 400
    return None


#: Fields where an empty box means "none" (the API's ``null``).
NULLABLE_FIELDS = frozenset({"default_hourly_rate", "hourly_rate", "weekly_expected_hours"})


def _posted(request: HttpRequest, form: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """The API's request body from a browser form: a checkbox is its presence,
    an empty nullable box is ``null``; disabled fields are not sent."""
    posted: dict[str, Any] = {}
    for name in fields:
        field = form.fields[name]
        if field.disabled:
            continue
        if isinstance(field, forms.BooleanField):
            posted[name] = name in request.POST
            continue
        value = request.POST.get(name, "")
        posted[name] = None if name in NULLABLE_FIELDS and not value.strip() else value
    return posted


def _settings_form_page(
    request: HttpRequest,
    actor: Membership,
    *,
    form_class: Callable[..., Any],
    fields: tuple[str, ...],
    template: str,
    section: str,
    extra: Callable[[], dict[str, Any]] | None = None,
    form_kwargs: dict[str, Any] | None = None,
) -> HttpResponse:
    organization = actor.organization
    initial = {field: getattr(organization, field) for field in fields}
    kwargs = form_kwargs or {}
    if request.method == "POST":
        form = form_class(request.POST, initial=initial, **kwargs)
        posted = _posted(request, form, fields)
        status = _settings_write(actor, form, posted, organization)
        if status is None:
            messages.success(request, _("Settings saved."))
            return HttpResponseRedirect(request.path)
        context = {"form": form, **(extra() if extra else {})}
        return _page(request, actor, template, section, context, status=status)
    form = form_class(initial=initial, **kwargs)
    return _page(request, actor, template, section, {"form": form, **(extra() if extra else {})})


@require_http_methods(["GET", "POST"])
@member_page
def organization_page(request: HttpRequest, *, actor: Membership) -> HttpResponse:
    if (refusal := _gate(request, actor)) is not None:
        return refusal
    return _settings_form_page(
        request,
        actor,
        form_class=OrganizationForm,
        fields=ORGANIZATION_FIELDS,
        template="organization.html",
        section="organizations_web:settings",
        form_kwargs={"owner": may(actor, "organization.owner_settings")},
    )


@require_http_methods(["GET", "POST"])
@member_page
def time_tracking_page(request: HttpRequest, *, actor: Membership) -> HttpResponse:
    if (refusal := _gate(request, actor)) is not None:
        return refusal
    organization = actor.organization

    def rules() -> dict[str, Any]:
        shown = []
        for field, label in READ_ONLY_RULES:
            value = getattr(organization, field)
            if isinstance(value, bool):
                value = _("Yes") if value else _("No")
            elif field == "timesheet_period":
                value = organization.get_timesheet_period_display()
            shown.append((label, value))
        return {"read_only_rules": shown}

    return _settings_form_page(
        request,
        actor,
        form_class=TimeTrackingForm,
        fields=TIME_TRACKING_FIELDS,
        template="time_tracking.html",
        section="organizations_web:settings_time_tracking",
        extra=rules,
    )


# --- members (/api/v1/members/) ------------------------------------------------------


def _members(actor: Membership) -> list[Membership]:
    return list(selectors.members_of(organization=actor.organization)[:MAX_ROWS])


def _member(actor: Membership, pk: Any) -> Membership | None:
    return selectors.members_of(organization=actor.organization).filter(pk=pk).first()


def _role_choices(actor: Membership) -> list[tuple[str, str]]:
    """Every role; the service refuses what the actor may not grant."""
    return [(role, str(ROLE_LABELS[Role(role)])) for role in Role.values]


def _members_page(
    request: HttpRequest,
    actor: Membership,
    *,
    failed: Any = None,
    errors: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    rows = _members(actor)
    for row in rows:
        row.errors = errors if failed is not None and row.pk == failed else []  # type: ignore[attr-defined]
        row.shown_role = (  # type: ignore[attr-defined]
            request.POST.get("role", row.role) if row.errors else row.role  # type: ignore[attr-defined]
        )
    context = {
        "rows": rows,
        "roles": _role_choices(actor),
        "may_transfer": may(actor, "owners.manage"),
    }
    return _page(
        request, actor, "members.html", "organizations_web:settings_members", context, status
    )


@require_GET
@member_page
def members_page(request: HttpRequest, *, actor: Membership) -> HttpResponse:
    if (refusal := _gate(request, actor)) is not None:
        return refusal
    return _members_page(request, actor)


def _member_write(
    request: HttpRequest,
    actor: Membership,
    pk: Any,
    write: Callable[[Membership], str],
) -> HttpResponse:
    if (refusal := _gate(request, actor)) is not None:
        return refusal
    membership = _member(actor, pk)
    if membership is None:
        return refused(request, _("No such member."), 404)
    try:
        done = write(membership)
    except ApplicationError as exc:
        messages_ = _place_errors(_error_fields(exc), (), exc.message)[1]
        return _members_page(
            request, actor, failed=membership.pk, errors=messages_, status=exc.status_code
        )
    if membership.pk == actor.pk and done == "left":
        logout(request)
        return HttpResponseRedirect(reverse("iam_web:signin"))
    messages.success(request, done)
    return HttpResponseRedirect(reverse("organizations_web:settings_members"))


@require_POST
@member_page
def member_role(request: HttpRequest, pk: Any, *, actor: Membership) -> HttpResponse:
    def write(membership: Membership) -> str:
        body = MemberUpdateSerializer(data={"role": request.POST.get("role", "")})
        if not body.is_valid():
            fields = dict(body.errors)
            raise ApplicationError(_messages(fields)[0], extra={"fields": fields})
        services.member_change_role(
            actor=actor, membership=membership, role=body.validated_data["role"]
        )
        return _("Role changed.")

    return _member_write(request, actor, pk, write)


@require_POST
@member_page
def member_remove(request: HttpRequest, pk: Any, *, actor: Membership) -> HttpResponse:
    def write(membership: Membership) -> str:
        services.member_remove(actor=actor, membership=membership)
        return "left" if membership.pk == actor.pk else _("Member removed.")

    return _member_write(request, actor, pk, write)


@require_POST
@member_page
def member_make_owner(request: HttpRequest, pk: Any, *, actor: Membership) -> HttpResponse:
    def write(membership: Membership) -> str:
        services.ownership_transfer(actor=actor, membership=membership)
        return _("Ownership transferred.")

    return _member_write(request, actor, pk, write)


# --- rates (the default rate; each member's terms) -----------------------------------


def _rate_rows(
    request: HttpRequest, actor: Membership, failed: Any = None, errors: Any = None
) -> dict[str, Any]:
    rows = _members(actor)
    for row in rows:
        mine = failed is not None and row.pk == failed
        row.field_errors = errors if mine else {}  # type: ignore[attr-defined]
        row.typed = request.POST if mine else None  # type: ignore[attr-defined]
    return {"rows": rows, "currency": actor.organization.currency}


def _money_gate(request: HttpRequest, actor: Membership) -> HttpResponse | None:
    if (refusal := _gate(request, actor)) is not None:
        return refusal
    if not may_view_money(actor=actor, owner_ids=None):
        return refused(request, _("Your role in this organization does not allow this."))
    return None


@require_http_methods(["GET", "POST"])
@member_page
def rates_page(request: HttpRequest, *, actor: Membership) -> HttpResponse:
    if (refusal := _money_gate(request, actor)) is not None:
        return refusal
    return _settings_form_page(
        request,
        actor,
        form_class=DefaultRateForm,
        fields=RATE_FIELDS,
        template="rates.html",
        section="organizations_web:settings_rates",
        extra=lambda: _rate_rows(request, actor),
    )


@require_POST
@member_page
def member_terms(request: HttpRequest, pk: Any, *, actor: Membership) -> HttpResponse:
    """``PATCH /api/v1/members/{id}/`` with the member's rate and expected hours."""
    if (refusal := _money_gate(request, actor)) is not None:
        return refusal
    membership = _member(actor, pk)
    if membership is None:
        return refused(request, _("No such member."), 404)
    organization = actor.organization
    fields = ("hourly_rate", "weekly_expected_hours")
    data = {f: (request.POST.get(f, "").strip() or None) for f in fields}
    body = MemberUpdateSerializer(data=data)
    error: dict[str, list[str]] | None = None
    status = 400
    if not body.is_valid():
        by_field, general = _place_errors(dict(body.errors), fields, _("Check the fields below."))
        error = {**by_field, "non_field_errors": general}
    else:
        try:
            services.member_update_terms(
                actor=actor, membership=membership, data=dict(body.validated_data)
            )
        except ApplicationError as exc:
            by_field, general = _place_errors(_error_fields(exc), fields, exc.message)
            error = {**by_field, "non_field_errors": general}
            status = exc.status_code
    if error is None:
        messages.success(request, _("Rates saved."))
        return HttpResponseRedirect(reverse("organizations_web:settings_rates"))
    context = {
        "form": DefaultRateForm(initial={"default_hourly_rate": organization.default_hourly_rate}),
        **_rate_rows(request, actor, failed=membership.pk, errors=error),
    }
    return _page(request, actor, "rates.html", "organizations_web:settings_rates", context, status)


# --- invitations (/api/v1/invitations/) ----------------------------------------------


def _invitable_roles(actor: Membership) -> list[str]:
    """The roles offered; owners only to owners (the service refuses the rest too)."""
    return [r for r in Role.values if r != Role.OWNER or may(actor, "owners.manage")]


def _invitations_page(
    request: HttpRequest,
    actor: Membership,
    *,
    form: InviteForm | None = None,
    failed: Any = None,
    errors: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    pending = list(selectors.invitations_pending(organization=actor.organization)[:MAX_ROWS])
    for invitation in pending:
        invitation.errors = errors if invitation.pk == failed else []  # type: ignore[attr-defined]
    context = {
        "form": form or InviteForm(roles=_invitable_roles(actor)),
        "pending": pending,
        # A refusal about an invitation no longer listed (revoked, accepted).
        "page_errors": errors if failed and failed not in {i.pk for i in pending} else [],
    }
    return _page(
        request,
        actor,
        "invitations.html",
        "organizations_web:settings_invitations",
        context,
        status,
    )


@require_http_methods(["GET", "POST"])
@member_page
def invitations_page(request: HttpRequest, *, actor: Membership) -> HttpResponse:
    if (refusal := _gate(request, actor)) is not None:
        return refusal
    if request.method == "GET":
        return _invitations_page(request, actor)
    form = InviteForm(request.POST, roles=_invitable_roles(actor))
    form.is_valid()  # renders what was typed; the API's serializer decides
    body = InvitationCreateSerializer(
        data={"email": request.POST.get("email", ""), "role": request.POST.get("role", "")}
    )
    status = 400
    if not body.is_valid():
        _add_to_form(form, dict(body.errors), _("Check the fields below."))
    else:
        try:
            invitation, _token = services.invitation_create(
                actor=actor, email=body.validated_data["email"], role=body.validated_data["role"]
            )
        except ApplicationError as exc:
            _add_to_form(form, _error_fields(exc) or {"": exc.message}, exc.message)
            status = exc.status_code
        else:
            messages.success(
                request, _("Invitation sent to %(email)s.") % {"email": invitation.email}
            )
            return HttpResponseRedirect(reverse("organizations_web:settings_invitations"))
    return _invitations_page(request, actor, form=form, status=status)


def _invitation_write(
    request: HttpRequest,
    actor: Membership,
    pk: Any,
    write: Callable[[Invitation], str],
) -> HttpResponse:
    if (refusal := _gate(request, actor)) is not None:
        return refusal
    invitation = Invitation.objects.filter(organization_id=actor.organization_id, pk=pk).first()
    if invitation is None:
        return refused(request, _("No such invitation."), 404)
    try:
        done = write(invitation)
    except ApplicationError as exc:
        general = _place_errors(_error_fields(exc), (), exc.message)[1]
        return _invitations_page(
            request, actor, failed=invitation.pk, errors=general, status=exc.status_code
        )
    messages.success(request, done)
    return HttpResponseRedirect(reverse("organizations_web:settings_invitations"))


@require_POST
@member_page
def invitation_resend(request: HttpRequest, pk: Any, *, actor: Membership) -> HttpResponse:
    def write(invitation: Invitation) -> str:
        services.invitation_resend(actor=actor, invitation=invitation)
        return _("Invitation sent again to %(email)s.") % {"email": invitation.email}

    return _invitation_write(request, actor, pk, write)


@require_POST
@member_page
def invitation_revoke(request: HttpRequest, pk: Any, *, actor: Membership) -> HttpResponse:
    def write(invitation: Invitation) -> str:
        services.invitation_revoke(actor=actor, invitation=invitation)
        return _("Invitation to %(email)s revoked.") % {"email": invitation.email}

    return _invitation_write(request, actor, pk, write)


# --- automation rules (read-only, as in /api/v1/ai/rules/) ---------------------------


@require_GET
@member_page
def automation_page(request: HttpRequest, *, actor: Membership) -> HttpResponse:
    if (refusal := _gate(request, actor)) is not None:
        return refusal
    from apps.ai_services import selectors as ai_selectors
    from apps.ai_services import services as ai_services

    context: dict[str, Any] = {"rules": [], "unavailable": ""}
    try:
        ai_services.ai_feature_check(actor.organization)
    except ApplicationError as exc:
        context["unavailable"] = exc.message
    else:
        context["rules"] = list(ai_selectors.rule_list()[:MAX_ROWS])
    section = "organizations_web:settings_automation"
    return _page(request, actor, "automation.html", section, context)


# --- billing (/api/v1/billing/, /api/v1/billing/portal/) -----------------------------


def _billing_page(
    request: HttpRequest, actor: Membership, error: str = "", status: int = 200
) -> HttpResponse:
    organization = actor.organization
    subscription = billing_selectors.subscription_for(organization=organization)
    context = {
        "organization": organization,
        "subscription": subscription,
        "plan": subscription.plan if subscription else None,
        "usage": billing_selectors.usage_for(organization=organization),
        "billing_configured": gateway.is_configured(),
        "may_manage": may(actor, "billing.manage"),
        "error": error,
    }
    response = _page(
        request, actor, "billing.html", "organizations_web:settings_billing", context, status
    )
    # The Manage billing form is answered with a redirect to Stripe's portal.
    response._csp_update = {"form-action": STRIPE_FORM_TARGETS}  # type: ignore[attr-defined]  # django-csp
    return response


@require_GET
@member_page
def billing_page(request: HttpRequest, *, actor: Membership) -> HttpResponse:
    if (refusal := _gate(request, actor)) is not None:
        return refusal
    return _billing_page(request, actor)


@require_POST
@member_page
def billing_portal(request: HttpRequest, *, actor: Membership) -> HttpResponse:
    """``POST /api/v1/billing/portal/``'s service; its refusal on the page."""
    if (refusal := _gate(request, actor)) is not None:
        return refusal
    if not may(actor, "billing.manage"):
        return refused(request, _("Your role in this organization does not allow this."))
    try:
        url = billing_services.portal_session_create(organization=actor.organization)
    except ApplicationError as exc:
        return _billing_page(request, actor, error=exc.message, status=exc.status_code)
    return HttpResponseRedirect(url)
