"""The payroll export (``GET /api/v1/timesheets/export/``): the approved time
of one period, one row per entry, as CSV or XLSX.

User text goes through the reports' formula escaping
(:func:`apps.time_entries.reports.exports.safe_cell`: CSV injection), so both
exports neutralise the same cells.
"""

from __future__ import annotations

import csv
import io

from django.db.models import QuerySet
from django.http import HttpResponse

from apps.organizations.models import Membership
from apps.time_entries.models import TimeEntry
from apps.time_entries.money import project_currency
from apps.time_entries.reports.exports import CSV_CONTENT_TYPE, XLSX_CONTENT_TYPE, safe_cell
from tenants.db import current_tenant

from . import periods

#: A cell of the export: text, a number of seconds, or a formula-escaped text.
Cell = str | int

EXPORT_HEADER = [
    "user_id",
    "email",
    "name",
    "date",
    "started_at",
    "ended_at",
    "client",
    "project",
    "task",
    "description",
    "billable",
    "duration_seconds",
    "hours",
    "hourly_rate",
    "amount",
    "currency",
]
#: Columns left out when the caller may not see money (the one money rule).
_MONEY_COLUMNS = ("hourly_rate", "amount", "currency")


def export_rows(queryset: QuerySet[TimeEntry], *, show_money: bool) -> list[list[Cell]]:
    """Header plus one row per entry; users are looked up in one query. Each
    amount is in the row's ``currency`` (its project's); without
    ``show_money`` the money columns are left out."""
    entries = list(queryset)
    users = {
        m.user_id: m.user
        for m in Membership.objects.filter(
            organization_id=current_tenant().pk, user_id__in={e.user_id for e in entries}
        ).select_related("user")
    }
    org = current_tenant()
    rows: list[list[Cell]] = [list(EXPORT_HEADER)]
    for entry in entries:
        user = users.get(entry.user_id)
        seconds = entry.duration_seconds or 0
        rows.append(
            [
                str(entry.user_id),
                user.email if user else "",
                safe_cell(f"{user.first_name} {user.last_name}".strip() if user else ""),
                periods.local_date(org, entry.started_at).isoformat(),
                entry.started_at.isoformat(),
                entry.ended_at.isoformat() if entry.ended_at else "",
                safe_cell(entry.project.client.name if entry.project.client else ""),
                safe_cell(entry.project.name),
                safe_cell(entry.task.title if entry.task else ""),
                safe_cell(entry.description),
                "yes" if entry.billable else "no",
                seconds,
                f"{seconds / 3600:.2f}",
                "" if entry.hourly_rate is None else str(entry.hourly_rate),
                "" if entry.amount is None else str(entry.amount),
                project_currency(entry.project, default=str(org.currency)),
            ]
        )
    if not show_money:
        keep = [i for i, name in enumerate(EXPORT_HEADER) if name not in _MONEY_COLUMNS]
        rows = [[row[i] for i in keep] for row in rows]
    return rows


def export_file(rows: list[list[Cell]], *, name: str, file_format: str) -> HttpResponse:
    """``rows`` as a download named ``name`` (``file_format`` csv|xlsx)."""
    if file_format == "xlsx":
        return _xlsx_response(rows, name)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows(rows)
    response = HttpResponse(buffer.getvalue(), content_type=CSV_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


def _xlsx_response(rows: list[list[Cell]], name: str) -> HttpResponse:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Approved time")
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = HttpResponse(buffer.getvalue(), content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{name}.xlsx"'
    return response
