"""Amounts in different currencies are never added (issue #18): the week of
conftest.py with the organization in EUR and client Xylo (project Apollo) in
USD. Apollo: e1 150.00 + e4 200.00 USD billable (e3 not billable);
Borealis (no client, so the organization's EUR): e2 26.67."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from openpyxl import load_workbook

from apps.common.testing import expect

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


def test_detailed_export_with_two_currencies_has_a_currency_column(usd_week):
    header, *rows = _csv(usd_week.alice.get("/api/v1/reports/export/", WEEK))

    assert "Amount" in header and "Hourly rate" in header
    assert not any(h.startswith("Amount (") for h in header)
    amount, currency = header.index("Amount"), header.index("Currency")
    assert currency == amount + 1
    assert sorted((r[header.index("Project")], r[amount], r[currency]) for r in rows) == [
        ("Apollo", "0.00", "USD"),
        ("Apollo", "150.00", "USD"),
        ("Apollo", "200.00", "USD"),
        ("Borealis", "26.67", "EUR"),
    ]


def test_detailed_export_in_one_currency_names_it_in_the_header(usd_week):
    params = {**WEEK, "projects": str(usd_week.project_a.pk)}
    header, *_ = _csv(usd_week.alice.get("/api/v1/reports/export/", params))
    assert "Amount (USD)" in header and "Hourly rate (USD)" in header
    assert "Currency" not in header


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
