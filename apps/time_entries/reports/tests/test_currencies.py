"""Amounts in different currencies are never added (issue #18): the week of
conftest.py with the organization in EUR and client Xylo (project Apollo) in
USD. Apollo: e1 150.00 + e4 200.00 USD billable (e3 not billable);
Borealis (no client, so the organization's EUR): e2 26.67."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from openpyxl import load_workbook

from apps.common.testing import expect
from apps.time_entries.reports import summary

pytestmark = pytest.mark.django_db

WEEK = {"from": "2026-03-02", "to": "2026-03-08"}
MIXED = [{"currency": "EUR", "amount": "26.67"}, {"currency": "USD", "amount": "350.00"}]


@pytest.fixture
def usd_week(week: Any) -> Any:
    week.tenant.currency = "EUR"
    week.tenant.save(update_fields=["currency"])
    week.xylo.currency = "USD"
    week.xylo.save(update_fields=["currency"])
    return week


def _money(node: dict[str, Any]) -> tuple[Any, Any, Any]:
    return node["billable_amount"], node["currency"], node["billable_amounts"]


def test_summary_totals_are_per_currency(usd_week):
    report = expect(usd_week.alice.get("/api/v1/reports/summary/", WEEK), 200)

    assert _money(report) == (None, None, MIXED)
    assert (report["total_seconds"], report["billable_seconds"]) == (14220, 13800)
    apollo, borealis = report["groups"]
    assert _money(apollo) == ("350.00", "USD", [{"currency": "USD", "amount": "350.00"}])
    assert _money(borealis) == ("26.67", "EUR", [{"currency": "EUR", "amount": "26.67"}])


def test_summary_groups_mixing_currencies_list_each(usd_week):
    report = expect(
        usd_week.alice.get("/api/v1/reports/summary/", {**WEEK, "group_by": "user,project"}), 200
    )

    alice, bob = report["groups"]
    assert (alice["label"], _money(alice)) == (
        "Alice Archer",
        (
            None,
            None,
            [{"currency": "EUR", "amount": "26.67"}, {"currency": "USD", "amount": "150.00"}],
        ),
    )
    assert [(g["label"], g["billable_amount"], g["currency"]) for g in alice["groups"]] == [
        ("Apollo", "150.00", "USD"),
        ("Borealis", "26.67", "EUR"),
    ]
    # Bob's non-billable USD entry adds time, not a currency.
    assert (bob["total_seconds"], _money(bob)) == (
        7620,
        ("200.00", "USD", [{"currency": "USD", "amount": "200.00"}]),
    )


def test_summary_by_tag_keeps_currencies_apart(usd_week):
    report = expect(
        usd_week.alice.get("/api/v1/reports/summary/", {**WEEK, "group_by": "tag"}), 200
    )
    assert _money(report) == (None, None, MIXED)
    dev = next(g for g in report["groups"] if g["key"] == "dev")
    assert dev["billable_amounts"] == [
        {"currency": "EUR", "amount": "26.67"},
        {"currency": "USD", "amount": "150.00"},
    ]


def test_one_currency_keeps_the_single_amount_and_names_it(usd_week):
    """Only Apollo: everything is USD, so ``billable_amount`` is the USD sum
    and ``currency`` says USD (not the organization's EUR)."""
    params = {**WEEK, "projects": str(usd_week.project_a.pk)}
    report = expect(usd_week.alice.get("/api/v1/reports/summary/", params), 200)
    assert _money(report) == ("350.00", "USD", [{"currency": "USD", "amount": "350.00"}])


def test_detailed_rows_name_their_currency(usd_week):
    rows = expect(usd_week.alice.get("/api/v1/reports/detailed/", WEEK), 200)["results"]
    assert [(r["project"]["name"], r["billable_amount"], r["currency"]) for r in rows] == [
        ("Borealis", "26.67", "EUR"),
        ("Apollo", "200.00", "USD"),
        ("Apollo", "150.00", "USD"),
        ("Apollo", "0.00", "USD"),
    ]


def _csv(response: Any) -> list[list[str]]:
    assert response.status_code == 200, response.content
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode()[1:])))


MONEY_COLUMNS = ["Amount", "Currency", "Rounded duration", "Duration (decimal)", "Hourly rate"]


def test_detailed_export_names_each_rows_currency(usd_week):
    header, *rows = _csv(usd_week.alice.get("/api/v1/reports/export/", WEEK))

    assert header[-5:] == MONEY_COLUMNS
    amount, currency, rate = (header.index(h) for h in ("Amount", "Currency", "Hourly rate"))
    assert sorted((r[header.index("Project")], r[amount], r[currency], r[rate]) for r in rows) == [
        ("Apollo", "0.00", "USD", "100.00"),
        ("Apollo", "150.00", "USD", "100.00"),
        ("Apollo", "200.00", "USD", "100.00"),
        ("Borealis", "26.67", "EUR", "80.00"),
    ]


@pytest.mark.parametrize(
    "projects",
    [
        "project_a",  # USD only
        "project_b",  # EUR only
        None,  # both
    ],
)
def test_the_detailed_export_header_never_depends_on_the_rows(usd_week, projects):
    """Same columns whatever currencies the rows hold (before, a separate
    query chose ``Amount (USD)`` or ``Amount`` + ``Currency``, counting
    non-billable entries, and a row written between it and the rows could
    land under another currency's header)."""
    params = {**WEEK, "projects": str(getattr(usd_week, projects).pk)} if projects else WEEK
    header, *rows = _csv(usd_week.alice.get("/api/v1/reports/export/", params))

    assert header[-5:] == MONEY_COLUMNS
    assert rows and all(r[header.index("Currency")] in ("EUR", "USD") for r in rows)


def test_the_detailed_export_reads_the_entries_once(usd_week):
    """The rows' own statement is the only read of the entries: no earlier
    statement can see other entries than the rows do."""
    with CaptureQueriesContext(connection) as queries:
        _csv(usd_week.alice.get("/api/v1/reports/export/", WEEK))
    reads = [q["sql"] for q in queries.captured_queries if "time_entries_timeentry" in q["sql"]]
    assert len(reads) == 1, reads


def test_summary_export_has_one_amount_column_per_currency(usd_week):
    header, *rows = _csv(
        usd_week.alice.get(
            "/api/v1/reports/export/", {**WEEK, "type": "summary", "group_by": "user"}
        )
    )
    assert header[-2:] == ["Billable amount (EUR)", "Billable amount (USD)"]
    assert [[r[0], *r[-2:]] for r in rows] == [
        ["Alice Archer", "26.67", "150.00"],
        ["Bob Baker", "0.00", "200.00"],
        ["Total", "26.67", "350.00"],
    ]


def test_summary_xlsx_export_has_one_amount_column_per_currency(usd_week):
    response = usd_week.alice.get(
        "/api/v1/reports/export/", {**WEEK, "type": "summary", "format": "xlsx"}
    )
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    values = list(book.active.iter_rows(values_only=True))
    assert values[0][-2:] == ("Billable amount (EUR)", "Billable amount (USD)")
    assert [(r[0], *r[-2:]) for r in values[1:]] == [
        ("Apollo", 0, 350),
        ("Borealis", 26.67, 0),
        ("Total", 26.67, 350),
    ]


# --- the currency costs no join per entry (#18 section 6 review: +26 % to +79 %) ---------

GROUPINGS = ["", "project", "project,user", "user,project", "tag", "tag,day", "client,task"]


def _in_eur(week: Any) -> Any:
    week.tenant.currency = "EUR"
    week.tenant.save(update_fields=["currency"])
    return week


def _base_rows_statement(client: Any, params: dict[str, str]) -> str:
    """The per-entry part (``WITH e AS (...)``) of the summary's statement."""
    with CaptureQueriesContext(connection) as queries:
        expect(client.get("/api/v1/reports/summary/", params), 200)
    [statement] = [q["sql"] for q in queries.captured_queries if "GROUPING SETS" in q["sql"]]
    return statement[: statement.index(") SELECT r.level")]


@pytest.mark.parametrize("several", [False, True], ids=["one-currency", "several-currencies"])
def test_the_currency_is_never_joined_onto_every_entry(week, several):
    """The entries are read without projects or clients (grouping by project
    or user needs neither); the currency follows from the project on the
    aggregated rows."""
    _in_eur(week)
    if several:
        week.xylo.currency = "USD"
        week.xylo.save(update_fields=["currency"])
    base = _base_rows_statement(week.alice, {**WEEK, "group_by": "project,user"})

    assert "time_entries_timeentry" in base
    assert "projects_project" not in base and "projects_client" not in base


@pytest.mark.parametrize("group_by", GROUPINGS)
def test_the_one_currency_shortcut_gives_the_same_report(week, monkeypatch, group_by):
    """An organization whose clients set no other currency gets the statement
    without the per-project currency step: its report is identical (exact
    amounts, every level) to the one the several-currencies step computes."""
    _in_eur(week)
    params = {**WEEK, "group_by": group_by} if group_by else WEEK
    fast = expect(week.alice.get("/api/v1/reports/summary/", params), 200)
    monkeypatch.setattr(summary, "has_foreign_currency", lambda currency: True)
    with CaptureQueriesContext(connection) as queries:
        general = expect(week.alice.get("/api/v1/reports/summary/", params), 200)

    assert any("AS pid" in q["sql"] for q in queries.captured_queries)  # the other path ran
    assert general == fast
    assert fast["billable_amounts"] == [{"currency": "EUR", "amount": "376.67"}]


def test_any_client_with_another_currency_makes_a_report_per_currency(week):
    """Archived and soft-deleted clients count too: their projects' old
    entries keep the client's currency."""
    _in_eur(week)
    assert not summary.has_foreign_currency("EUR")
    week.xylo.currency = "EUR"
    week.xylo.save(update_fields=["currency"])
    assert not summary.has_foreign_currency("EUR")
    week.xylo.currency = "USD"
    week.xylo.is_archived = True
    week.xylo.deleted_at = timezone.now()
    week.xylo.save(update_fields=["currency", "is_archived", "deleted_at"])
    assert summary.has_foreign_currency("EUR")
    assert not summary.has_foreign_currency("USD")
