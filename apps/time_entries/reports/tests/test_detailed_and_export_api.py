"""GET /api/v1/reports/detailed/ and /api/v1/reports/export/: rows, rounding,
visibility, streaming CSV/XLSX content, formula-injection guard."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context
from openpyxl import load_workbook

from apps.common.testing import expect
from apps.organizations.tests.factories import MembershipFactory, client_as
from apps.projects.tests.factories import ProjectFactory

from ..exports import _pull, safe_cell
from .factories import at, make_entry

pytestmark = pytest.mark.django_db

DETAILED = "/api/v1/reports/detailed/"
EXPORT = "/api/v1/reports/export/"
WEEK = {"from": "2026-03-02", "to": "2026-03-08"}


def csv_rows(response: Any) -> list[list[str]]:
    assert response.status_code == 200, response.content
    assert response.streaming
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


# --- detailed -------------------------------------------------------------------------


def test_detailed_lists_the_report_entries_newest_first(week):
    body = expect(week.alice.get(DETAILED, WEEK), 200)

    assert body["count"] == 4
    rows = body["results"]
    assert [(r["user"]["name"], r["project"]["name"], r["duration_seconds"]) for r in rows] == [
        ("Alice Archer", "Borealis", 1200),
        ("Bob Baker", "Apollo", 7200),
        ("Alice Archer", "Apollo", 5400),
        ("Bob Baker", "Apollo", 420),
    ]
    wireframes = rows[2]
    assert wireframes["client"] == {"id": str(week.xylo.pk), "name": "Xylo"}
    assert wireframes["task"] == {"id": str(week.design.pk), "name": "Design"}
    assert (wireframes["hourly_rate"], wireframes["billable_amount"]) == ("100.00", "150.00")
    assert rows[1]["client"] is not None and rows[0]["client"] is None
    assert rows[3]["billable_amount"] == "0.00"  # not billable


def test_detailed_applies_rounding_per_row(week):
    week.tenant.rounding_mode, week.tenant.rounding_minutes = "up", 15
    week.tenant.save(update_fields=["rounding_mode", "rounding_minutes"])

    rows = expect(week.alice.get(DETAILED, WEEK), 200)["results"]

    assert [(r["duration_seconds"], r["rounded_seconds"], r["billable_amount"]) for r in rows] == [
        (1200, 1800, "40.00"),
        (7200, 7200, "200.00"),
        (5400, 5400, "150.00"),
        (420, 900, "0.00"),
    ]


@pytest.mark.parametrize(
    ("filters", "total"),
    [
        ({"users": "b"}, 7620),
        ({"projects": "project_b"}, 1200),
        ({"clients": "xylo"}, 13020),
        ({"tags": "urgent,meeting"}, 12600),
        ({"billable": "false"}, 420),
    ],
)
def test_detailed_filters_match_the_summary(week, filters, total):
    """The detailed report filters in the ORM (``ReportQuery.entry_filter``),
    the summary in SQL (``where_sql``): both select the same entries."""
    refs = {"b": week.b, "project_b": week.project_b.pk, "xylo": week.xylo.pk}
    params = {k: str(refs.get(v, v)) for k, v in filters.items()}
    rows = expect(week.alice.get(DETAILED, {**WEEK, **params}), 200)["results"]
    summary = expect(week.alice.get("/api/v1/reports/summary/", {**WEEK, **params}), 200)

    assert sum(r["duration_seconds"] for r in rows) == total == summary["total_seconds"]


def test_detailed_for_a_member_is_their_own_without_money(week):
    rows = expect(week.bob.get(DETAILED, WEEK), 200)["results"]

    assert {r["user"]["id"] for r in rows} == {week.b}
    assert {(r["hourly_rate"], r["billable_amount"]) for r in rows} == {(None, None)}


def test_detailed_is_paginated_with_constant_queries(week):
    carol = MembershipFactory(organization=week.tenant, role="member").user
    with tenant_context(week.tenant):
        project = ProjectFactory(name="Many")
        for i in range(40):
            make_entry(
                user_id=carol.pk,
                project=project,
                start=at(f"2026-03-05 {i // 4:02d}:{i % 4 * 15:02d}"),
                seconds=60,
            )
    week.alice.get(DETAILED, WEEK)  # warm the host cache
    with CaptureQueriesContext(connection) as small:
        expect(week.alice.get(DETAILED, {**WEEK, "page_size": 5}), 200)
    with CaptureQueriesContext(connection) as large:
        body = expect(week.alice.get(DETAILED, {**WEEK, "page_size": 40, "page": 1}), 200)

    assert body["count"] == 44 and len(body["results"]) == 40 and body["next"]
    assert len(small) == len(large) <= 5


# --- export -------------------------------------------------------------------------


def test_csv_export_of_the_detailed_report(week):
    response = week.alice.get(EXPORT, {**WEEK, "format": "csv"})

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="novatime-detailed-2026-03-02-2026-03-08.csv"'
    )
    rows = csv_rows(response)
    assert rows[0] == [
        "User",
        "Email",
        "Client",
        "Project",
        "Task",
        "Description",
        "Billable",
        "Start date",
        "Start time",
        "End date",
        "End time",
        "Duration",
        "Tags",
        "Amount",
        "Currency",
        "Rounded duration",
        "Duration (decimal)",
        "Hourly rate",
    ]
    assert len(rows) == 5  # header + e1/e3 (both 09:00), e4, e2 in chronological order
    wireframes = next(r for r in rows if r[5] == "Wireframes")
    assert wireframes == [
        "Alice Archer",
        week.alice.user.email,
        "Xylo",
        "Apollo",
        "Design",
        "Wireframes",
        "Yes",
        "2026-03-02",
        "09:00:00",
        "2026-03-02",
        "10:30:00",
        "01:30:00",
        "dev, urgent",
        "150.00",
        "USD",
        "01:30:00",
        "1.50",
        "100.00",
    ]
    assert sorted(r[11] for r in rows[1:3]) == ["00:07:00", "01:30:00"]
    assert [r[11] for r in rows[3:]] == ["02:00:00", "00:20:00"]


def test_csv_times_are_in_the_organization_timezone(week):
    week.tenant.timezone = "America/New_York"  # UTC-5 in early March
    week.tenant.save(update_fields=["timezone"])

    rows = csv_rows(week.alice.get(EXPORT, {"from": "2026-03-02", "to": "2026-03-02"}))

    assert sorted((r[7], r[8], r[10]) for r in rows[1:3]) == [
        ("2026-03-02", "03:50:00", "03:57:00"),
        ("2026-03-02", "04:00:00", "05:30:00"),
    ]


def test_member_export_has_no_money_columns(week):
    rows = csv_rows(week.bob.get(EXPORT, WEEK))

    assert not {"Amount", "Currency", "Hourly rate"} & set(rows[0])
    assert not any(h.startswith(("Amount", "Hourly rate")) for h in rows[0])
    assert {r[1] for r in rows[1:]} == {week.bob.user.email}


def test_formula_injection_is_neutralised(in_tenant):
    manager = client_as(in_tenant, "manager")
    project = ProjectFactory(name="=cmd|' /C calc'!A0")
    make_entry(
        user_id=manager.user.pk,
        project=project,
        start=at("2026-03-02 09:00"),
        seconds=60,
        description='=HYPERLINK("http://evil","x")',
        tags=["@tag", "+1", "-x"],
    )

    rows = csv_rows(manager.get(EXPORT, WEEK))
    book = load_workbook(
        io.BytesIO(b"".join(manager.get(EXPORT, {**WEEK, "format": "xlsx"}).streaming_content))
    )
    sheet_row = [c.value for c in list(book.active.iter_rows())[1]]

    assert rows[1][3] == "'=cmd|' /C calc'!A0"
    assert rows[1][5] == '\'=HYPERLINK("http://evil","x")'
    assert rows[1][12] == "'@tag, +1, -x"
    assert sheet_row[3] == "'=cmd|' /C calc'!A0" and sheet_row[5].startswith("'=")
    assert [safe_cell(v) for v in ("-5", "ok", 5, "\tx")] == ["'-5", "ok", 5, "'\tx"]


def test_xlsx_export(week):
    response = week.alice.get(EXPORT, {**WEEK, "format": "xlsx"})

    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert response["Content-Disposition"].endswith('.xlsx"')
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    rows = [[c.value for c in row] for row in book.active.iter_rows()]
    assert len(rows) == 5 and rows[0][0] == "User"
    wireframes = next(r for r in rows if r[5] == "Wireframes")
    assert wireframes[3] == "Apollo" and float(wireframes[13]) == 150.0


def test_summary_export(week):
    rows = csv_rows(week.alice.get(EXPORT, {**WEEK, "type": "summary", "group_by": "project,user"}))

    assert rows == [
        [
            "Project",
            "User",
            "Duration",
            "Hours",
            "Billable duration",
            "Billable hours",
            "Billable amount (USD)",
        ],
        ["Apollo", "", "03:37:00", "3.62", "03:30:00", "3.50", "350.00"],
        ["Apollo", "Alice Archer", "01:30:00", "1.50", "01:30:00", "1.50", "150.00"],
        ["Apollo", "Bob Baker", "02:07:00", "2.12", "02:00:00", "2.00", "200.00"],
        ["Borealis", "", "00:20:00", "0.33", "00:20:00", "0.33", "26.67"],
        ["Borealis", "Alice Archer", "00:20:00", "0.33", "00:20:00", "0.33", "26.67"],
        ["Total", "", "03:57:00", "3.95", "03:50:00", "3.83", "376.67"],
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({**WEEK, "format": "pdf"}, "format"),
        ({**WEEK, "type": "pivot"}, "type"),
        ({"format": "csv"}, "from"),
    ],
)
def test_bad_export_parameters_are_json_400(week, params, field):
    response = week.alice.get(EXPORT, params)

    body = expect(response, 400, "invalid")
    assert response["Content-Type"] == "application/json"
    assert field in body["fields"]


def test_export_of_another_tenant_shows_nothing_of_acme(week, other_tenant):
    rows = csv_rows(client_as(other_tenant, "owner").get(EXPORT, WEEK))

    assert rows[1:] == []


def test_async_streaming_pulls_chunk_by_chunk_and_closes():
    pulled: list[int] = []
    closed: list[bool] = []

    def chunks():
        try:
            for i in range(3):
                pulled.append(i)
                yield f"{i}".encode()
        finally:
            closed.append(True)

    async def first_two() -> list[bytes]:
        out = []
        stream = _pull(chunks())
        async for chunk in stream:
            out.append(chunk)
            if len(out) == 2:
                break
        await stream.aclose()
        return out

    assert async_to_sync(first_two)() == [b"0", b"1"]
    assert pulled == [0, 1] and closed == [True]


def test_under_asgi_the_export_streams_an_async_iterator_in_the_right_tenant(week):
    from django.test import AsyncClient

    host = week.tenant.get_primary_domain().domain

    class HostClient(AsyncClient):
        # AsyncClient always sends "host: testserver" first; replace it.
        def _base_scope(self, **request: Any) -> dict[str, Any]:
            scope = super()._base_scope(**request)
            others = [(k, v) for k, v in scope["headers"] if k != b"host"]
            scope["headers"] = [(b"host", host.encode()), *others]
            return scope

    async def download() -> tuple[bool, bytes]:
        client = HostClient()
        await client.aforce_login(week.alice.user)
        response = await client.get(EXPORT, WEEK)
        assert response.status_code == 200
        body = b"".join([chunk async for chunk in response.streaming_content])
        return response.is_async, body

    connection.set_schema_to_public()  # as a server thread would be between requests
    is_async, body = async_to_sync(download)()

    assert is_async
    rows = list(csv.reader(io.StringIO(body.decode("utf-8")[1:])))
    assert len(rows) == 5 and {r[3] for r in rows[1:]} == {"Apollo", "Borealis"}
