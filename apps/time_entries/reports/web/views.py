"""The Reports page (``/reports/``) and its downloads (``/reports/export/``).

Thin like the API's views (apps/time_entries/reports/api/views.py): the
page's parameters go through the API's own serializers
(``SummaryParamsSerializer`` / ``ExportParamsSerializer``: same names, same
rules, same messages), the caller's visibility through
:func:`~apps.time_entries.reports.query.build_report_query` (own time only
below ``entries.view_all``; money per the one money rule), the totals from
:func:`~apps.time_entries.reports.summary.report_summary` and the files from
:func:`~apps.time_entries.reports.exports.export_response` (the summary
export). Bad parameters re-render the page (200) with the serializer's
messages next to the fields and what was typed kept.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, QueryDict
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from apps.common.errors import ApplicationError
from apps.iam.web.access import member_page, refused
from apps.organizations.models import Membership
from apps.organizations.permissions import may, require
from apps.organizations.selectors import members_of
from apps.projects.selectors import client_list, projects_visible_to
from apps.timesheets.periods import local_date

from ..api.serializers import ExportParamsSerializer, SummaryParamsSerializer
from ..exports import export_response
from ..query import ReportQuery, build_report_query
from ..summary import report_summary
from .chart import bar_chart, chart_name, hours_minutes
from .forms import LIST_FILTERS, ReportForm

#: The API's permission on every report endpoint (``ReportView.required_permission``).
REPORT_PERMISSION = "organization.view"
#: At most this many projects, clients and users in the filter lists.
MAX_CHOICES = 500


# --- parameters -----------------------------------------------------------------------


def this_week(actor: Membership) -> tuple[datetime.date, datetime.date]:
    """This week in the organization's time zone, from its first weekday."""
    organization = actor.organization
    today = local_date(organization, timezone.now())
    first = today - datetime.timedelta(days=(today.weekday() - organization.week_start) % 7)
    return first, first + datetime.timedelta(days=6)


def default_data(actor: Membership) -> QueryDict:
    first, last = this_week(actor)
    data = QueryDict(mutable=True)
    data.update({"from": first.isoformat(), "to": last.isoformat(), "group_by": "project"})
    return data


def api_params(data: QueryDict) -> dict[str, str]:
    """The page's fields as the API's query parameters (``group_by`` and
    ``then_by`` become the API's ``group_by=a,b``; lists comma-separated)."""
    params = {
        "from": data.get("from", ""),
        "to": data.get("to", ""),
        "group_by": ",".join(d for d in (data.get("group_by"), data.get("then_by")) if d),
    }
    for name in LIST_FILTERS:
        values = [v for v in data.getlist(name) if v]
        if values:
            params[name] = ",".join(values)
    for name in ("tags", "billable"):
        if value := data.get(name):
            params[name] = str(value)
    return params


def _messages(detail: Any) -> list[str]:
    """The strings of one field's serializer errors (a list field's errors
    come per item: ``{0: [...]}``)."""
    if isinstance(detail, Mapping):
        return [m for value in detail.values() for m in _messages(value)]
    if isinstance(detail, list | tuple):
        return [m for value in detail for m in _messages(value)]
    return [str(detail)]


def serializer_errors(errors: Mapping[str, Any]) -> dict[str, list[str]]:
    return {name: _messages(detail) for name, detail in errors.items()}


# --- the page -------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of the table: a group (level 1) or a subgroup (level 2)."""

    label: str
    parent: str
    level: int
    total: str
    billable: str
    amounts: list[str]


def _amounts(node: Mapping[str, Any], currencies: list[str]) -> list[str]:
    by_currency = {a["currency"]: a["amount"] for a in node.get("billable_amounts") or ()}
    return [by_currency.get(currency, "0.00") for currency in currencies]


def table_rows(report: Mapping[str, Any], currencies: list[str]) -> list[Row]:
    rows = []
    for group in report["groups"]:
        rows.append(_row(group, "", 1, currencies))
        for sub in group.get("groups", ()):
            rows.append(_row(sub, group["label"], 2, currencies))
    return rows


def _row(node: Mapping[str, Any], parent: str, level: int, currencies: list[str]) -> Row:
    return Row(
        label=node.get("label", ""),
        parent=parent,
        level=level,
        total=hours_minutes(node["total_seconds"]),
        billable=hours_minutes(node["billable_seconds"]),
        amounts=_amounts(node, currencies),
    )


def _choices(actor: Membership) -> dict[str, Any]:
    """The filter lists (bounded): projects the caller may see, clients, and
    for those who see everyone's time, the members."""
    projects = projects_visible_to(actor=actor).order_by("name", "id")
    users = None
    if may(actor, "entries.view_all"):
        members = members_of(organization=actor.organization)[:MAX_CHOICES]
        users = sorted(
            ((m.user_id, m.user.full_name) for m in members), key=lambda u: u[1].casefold()
        )
    return {
        "projects": projects.values_list("id", "name")[:MAX_CHOICES],
        "clients": client_list().values_list("id", "name")[:MAX_CHOICES],
        "users": users,
    }


def _page(
    request: HttpRequest,
    actor: Membership,
    data: QueryDict,
    *,
    errors: Mapping[str, list[str]] | None = None,
) -> HttpResponse:
    form = ReportForm(data, **_choices(actor))
    context: dict[str, Any] = {"actor": actor, "form": form, "report": None, "errors": []}
    params = SummaryParamsSerializer(data=api_params(data))
    if errors is None and params.is_valid():
        query = build_report_query(
            organization=actor.organization, actor=actor, params=params.validated_data
        )
        context.update(_report(query, data))
    else:
        found = errors if errors is not None else serializer_errors(params.errors)
        context["errors"] = form.show_errors(found)
    return render(request, "reports/reports.html", context)


def _report(query: ReportQuery, data: QueryDict) -> dict[str, Any]:
    report = report_summary(query)
    currencies: list[str] = []
    if query.show_amounts:
        # As the summary export: one column per currency of the report (the
        # organization's when there is none); amounts are never added across.
        currencies = [a["currency"] for a in report["billable_amounts"] or ()] or [query.currency]
    name = chart_name(query.group_by[0], query.start_date, query.end_date)
    export = reverse("reports_web:export")
    keep = data.copy()
    keep.pop("format", None)
    return {
        "report": report,
        "chart": bar_chart(report["groups"], name=name),
        "rows": table_rows(report, currencies),
        "total": _row(report, "", 0, currencies),
        "currencies": currencies,
        "dimensions": [str(d) for d in query.group_by],
        "export_csv_url": f"{export}?{urlencode({**_flat(keep), 'format': 'csv'}, doseq=True)}",
        "export_xlsx_url": f"{export}?{urlencode({**_flat(keep), 'format': 'xlsx'}, doseq=True)}",
    }


def _flat(data: QueryDict) -> dict[str, list[str]]:
    return {key: data.getlist(key) for key in data}


def _permitted(request: HttpRequest, actor: Membership) -> HttpResponse | None:
    try:
        require(actor, REPORT_PERMISSION)
    except ApplicationError as exc:
        return refused(request, exc.message)
    return None


@require_GET
@member_page
def reports_page(request: HttpRequest, *, actor: Membership) -> HttpResponse:
    if (refusal := _permitted(request, actor)) is not None:
        return refusal
    data = request.GET if request.GET else default_data(actor)
    return _page(request, actor, data)


@require_GET
@member_page
def reports_export(request: HttpRequest, *, actor: Membership) -> HttpResponseBase:
    """The report on the page, same filters, as the API's summary export
    (``format`` csv or xlsx): a download (``Content-Disposition: attachment``)."""
    if (refusal := _permitted(request, actor)) is not None:
        return refusal
    wanted = {**api_params(request.GET), "type": "summary"}
    if "format" in request.GET:
        wanted["format"] = request.GET["format"]
    params = ExportParamsSerializer(data=wanted)
    if not params.is_valid():
        return _page(request, actor, request.GET, errors=serializer_errors(params.errors))
    query = build_report_query(
        organization=actor.organization, actor=actor, params=params.validated_data
    )
    return export_response(
        request, query, file_format=params.validated_data["format"], report_type="summary"
    )
