"""The Timesheets pages (``/timesheets/``, ``/timesheets/approvals/``).

Thin like the API's views (apps/timesheets/api/views.py): pages read through
:mod:`apps.timesheets.selectors`, forms call the same services as the API's
``submit`` / ``withdraw`` / ``approve`` / ``reject`` / ``reopen`` actions with
the caller's :class:`Membership` as ``actor``, under the same permissions
(``ACTION_PERMISSIONS``). A refused write re-renders the page with the
service's message (next to the field it names) and what was typed kept.
Entries are shown read-only here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from apps.common.errors import ApplicationError
from apps.iam.web.access import member_page, refused
from apps.organizations.models import Membership
from apps.organizations.permissions import may, require
from apps.timesheets import periods, selectors, services
from apps.timesheets.approvers import check_may_decide, decidable_sheets
from apps.timesheets.constants import ACTION_PERMISSIONS, TimesheetStatus
from apps.timesheets.models import Timesheet

#: Events whose comment is a reviewer's: approve, reject, reopen (approved → draft).
REVIEWED = Q(to_status__in=(TimesheetStatus.APPROVED, TimesheetStatus.REJECTED)) | Q(
    from_status=TimesheetStatus.APPROVED, to_status=TimesheetStatus.DRAFT
)

#: At most this many sheets in a list (the page's size and queries stay bounded).
MAX_SHEETS = 50


def _names(user_ids: set[Any], actor: Membership) -> dict[str, str]:
    """Display names of the organization's members ``user_ids`` (one query)."""
    rows = Membership.objects.filter(
        organization_id=actor.organization_id, user_id__in=user_ids
    ).select_related("user")
    return {str(m.user_id): m.user.full_name for m in rows}


def _last_comments(sheets: list[Timesheet]) -> None:
    """Set ``sheet.comment``: the latest reviewer comment (of an approval,
    rejection or reopening; one query)."""
    from apps.timesheets.models import TimesheetEvent

    latest: dict[Any, str] = {}
    events = (
        TimesheetEvent.objects.filter(timesheet_id__in=[s.pk for s in sheets])
        .filter(REVIEWED)
        .exclude(comment="")
        .order_by("timesheet_id", "-created_at")
        .values_list("timesheet_id", "comment")
    )
    for sheet_id, comment in events:
        latest.setdefault(sheet_id, comment)
    for sheet in sheets:
        sheet.comment = latest.get(sheet.pk, "")  # type: ignore[attr-defined]


def _field_errors(error: ApplicationError | None) -> dict[str, list[str]]:
    return dict((error.extra or {}).get("fields", {})) if error is not None else {}


# --- my timesheet -------------------------------------------------------------------


def _my_page(
    request: HttpRequest, actor: Membership, *, error: ApplicationError | None = None
) -> HttpResponse:
    organization = actor.organization
    today = periods.local_date(organization, timezone.now())
    start, _end = periods.period_bounds(organization, today)
    context: dict[str, Any] = {"actor": actor, "error": error, "detail": None}
    try:
        # The API's POST /timesheets/ (get or create the current period's draft).
        sheet, _created = services.timesheet_get_or_create(
            user_id=actor.user_id, period_start=start
        )
        context["detail"] = selectors.timesheet_detail(sheet=sheet, today=today)
    except ApplicationError as exc:
        context["error"] = error or exc
    history = list(
        selectors.timesheet_list(actor=actor)
        .filter(user_id=actor.user_id)
        .exclude(period_start=start)[:MAX_SHEETS]
    )
    _last_comments(history)
    context["history"] = history
    context["may_track"] = may(actor, ACTION_PERMISSIONS["submit"])
    status = error.status_code if error is not None else 200
    return render(request, "timesheets/my.html", context, status=status)


@require_GET
@member_page
def timesheets_page(request: HttpRequest, *, actor: Membership) -> HttpResponse:
    return _my_page(request, actor)


def _own_transition(
    request: HttpRequest, actor: Membership, pk: Any, action: str, service: Callable[..., Any]
) -> HttpResponse:
    try:
        require(actor, ACTION_PERMISSIONS[action])
        sheet = selectors.timesheet_get_for_member(actor=actor, timesheet_id=pk)
        service(timesheet=sheet, actor=actor, comment=request.POST.get("comment", ""))
    except ApplicationError as exc:
        return _my_page(request, actor, error=exc)
    return HttpResponseRedirect(reverse("timesheets_web:timesheets"))


@require_POST
@member_page
def submit(request: HttpRequest, pk: Any, *, actor: Membership) -> HttpResponse:
    return _own_transition(request, actor, pk, "submit", services.timesheet_submit)


@require_POST
@member_page
def withdraw(request: HttpRequest, pk: Any, *, actor: Membership) -> HttpResponse:
    return _own_transition(request, actor, pk, "withdraw", services.timesheet_withdraw)


# --- approvals ----------------------------------------------------------------------


def _may_approve(request: HttpRequest, actor: Membership) -> HttpResponse | None:
    if may(actor, ACTION_PERMISSIONS["approve"]):
        return None
    return refused(request, _("Only managers and above may approve timesheets."))


@require_GET
@member_page
def approvals_page(request: HttpRequest, *, actor: Membership) -> HttpResponse:
    if (refusal := _may_approve(request, actor)) is not None:
        return refusal
    visible = selectors.timesheet_list(actor=actor)
    # Filtered by the approver rule first, then cut: a cut first could hide
    # sheets this manager decides behind others' (submitted sheets are at
    # most one per member and open period).
    submitted = list(visible.filter(status=TimesheetStatus.SUBMITTED))
    pending = decidable_sheets(actor=actor, sheets=submitted)[:MAX_SHEETS]
    approved: list[Timesheet] = []
    if may(actor, "timesheets.reopen"):
        approved = list(visible.filter(status=TimesheetStatus.APPROVED)[:MAX_SHEETS])
    names = _names({s.user_id for s in pending + approved}, actor)
    for sheet in pending + approved:
        sheet.owner_name = names.get(str(sheet.user_id), "")  # type: ignore[attr-defined]
    context = {"actor": actor, "pending": pending, "approved": approved}
    return render(request, "timesheets/approvals.html", context)


def _approval(
    request: HttpRequest,
    actor: Membership,
    pk: Any,
    *,
    error: ApplicationError | None = None,
) -> HttpResponse:
    sheet = selectors.timesheet_get_for_member(actor=actor, timesheet_id=pk)
    detail = selectors.timesheet_detail(sheet=sheet)
    # The service's own rule decides whether Approve / Reject are offered: a
    # sheet opened by URL that this approver may not decide says why instead.
    why_not = None
    if sheet.status == TimesheetStatus.SUBMITTED:
        try:
            check_may_decide(sheet=sheet, actor=actor)
        except ApplicationError as refusal:
            why_not = refusal.message
    context = {
        "actor": actor,
        "detail": detail,
        "owner_name": _names({sheet.user_id}, actor).get(str(sheet.user_id), ""),
        "error": error,
        "field_errors": _field_errors(error),
        "data": request.POST if request.method == "POST" else {},
        "may_reopen": may(actor, "timesheets.reopen"),
        "why_not": why_not,
    }
    status = error.status_code if error is not None else 200
    return render(request, "timesheets/approval.html", context, status=status)


@require_GET
@member_page
def approval_page(request: HttpRequest, pk: Any, *, actor: Membership) -> HttpResponse:
    if (refusal := _may_approve(request, actor)) is not None:
        return refusal
    try:
        return _approval(request, actor, pk)
    except Http404:
        return refused(request, _("No such timesheet."), 404)


def _decision(
    request: HttpRequest, actor: Membership, pk: Any, action: str, call: Callable[..., Any]
) -> HttpResponse:
    if (refusal := _may_approve(request, actor)) is not None:
        return refusal
    try:
        sheet = selectors.timesheet_get_for_member(actor=actor, timesheet_id=pk)
    except Http404:
        return refused(request, _("No such timesheet."), 404)
    try:
        require(actor, ACTION_PERMISSIONS[action])
        call(sheet)
    except ApplicationError as exc:
        return _approval(request, actor, pk, error=exc)
    return HttpResponseRedirect(reverse("timesheets_web:approvals"))


@require_POST
@member_page
def approve(request: HttpRequest, pk: Any, *, actor: Membership) -> HttpResponse:
    comment = request.POST.get("comment", "")
    return _decision(
        request,
        actor,
        pk,
        "approve",
        lambda sheet: services.timesheet_approve(timesheet=sheet, actor=actor, comment=comment),
    )


@require_POST
@member_page
def reject(request: HttpRequest, pk: Any, *, actor: Membership) -> HttpResponse:
    comment = request.POST.get("comment", "")
    return _decision(
        request,
        actor,
        pk,
        "reject",
        lambda sheet: services.timesheet_reject(timesheet=sheet, actor=actor, comment=comment),
    )


@require_POST
@member_page
def reopen(request: HttpRequest, pk: Any, *, actor: Membership) -> HttpResponse:
    reason = request.POST.get("reason", "")
    return _decision(
        request,
        actor,
        pk,
        "reopen",
        lambda sheet: services.timesheet_reopen(timesheet=sheet, actor=actor, reason=reason),
    )
