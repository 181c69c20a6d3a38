"""Timesheet money per currency (issue #18): the organization bills in EUR,
client Acme US in USD. An approval snapshot, the detail, the overview and the
export never add a USD amount to a EUR one."""

from __future__ import annotations

import csv
import datetime
import io
from decimal import Decimal
from typing import Any

import pytest

from apps.common.testing import expect
from apps.organizations.tests.factories import client_as
from apps.projects.tests.factories import ClientFactory, ProjectFactory
from apps.timesheets.constants import TimesheetStatus as S
from apps.timesheets.models import Timesheet

from .factories import TimesheetFactory, at, make_entry

pytestmark = pytest.mark.django_db

MONDAY = datetime.date(2026, 11, 2)
URL = "/api/v1/timesheets/"
MIXED = [{"currency": "EUR", "amount": "50.00"}, {"currency": "USD", "amount": "150.00"}]


@pytest.fixture
def org(tenant: Any, in_tenant: Any) -> Any:
    tenant.currency = "EUR"
    tenant.save(update_fields=["currency"])
    return tenant


@pytest.fixture
def week(org: Any) -> Any:
    """A member's week: 1 h at 100 on a USD project, 30 min at 100 on a EUR
    one, 30 min non-billable USD, 1 h at 100 on a second USD project."""
    member, manager = client_as(org, "member"), client_as(org, "manager")
    usd = ClientFactory(name="Acme US", currency="USD")
    us_site, us_app = ProjectFactory(name="US site", client=usd), ProjectFactory(client=usd)
    eu_site = ProjectFactory(name="EU site", client=None)
    user = member.user.pk
    make_entry(user_id=user, started_at=at(MONDAY, 9), seconds=3600, project=us_site)
    make_entry(user_id=user, started_at=at(MONDAY, 11), seconds=1800, project=eu_site)
    make_entry(
        user_id=user, started_at=at(MONDAY, 13), seconds=1800, project=us_site, billable=False
    )
    make_entry(user_id=user, started_at=at(MONDAY, 15), seconds=3600, project=us_app, rate=None)
    make_entry(
        user_id=user,
        started_at=at(MONDAY + datetime.timedelta(days=1), 9),
        seconds=1800,
        project=us_app,
        rate=Decimal("100"),
    )
    sheet = TimesheetFactory(user_id=user, period_start=MONDAY, status=S.SUBMITTED)
    return member, manager, sheet


def test_the_approval_snapshot_is_per_currency(week):
    _member, manager, sheet = week

    body = expect(manager.post(f"{URL}{sheet.pk}/approve/"), 200)

    assert body["approved_billable_amount"] is None  # mixed: a sum would mean nothing
    assert body["approved_billable_amounts"] == MIXED
    stored = Timesheet.objects.get(pk=sheet.pk)
    assert (stored.approved_billable_amount, stored.approved_billable_amounts) == (None, MIXED)
    assert stored.approved_billable_seconds == 3600 + 1800 + 3600 + 1800


def test_reopening_clears_both_snapshot_fields(week, org):
    _, manager, sheet = week
    expect(manager.post(f"{URL}{sheet.pk}/approve/"), 200)
    admin = client_as(org, "admin")
    body = expect(admin.post(f"{URL}{sheet.pk}/reopen/", {"reason": "fix"}), 200)
    assert (body["approved_billable_amount"], body["approved_billable_amounts"]) == (None, None)


def test_one_currency_keeps_the_single_snapshot_amount(org):
    member, manager = client_as(org, "member"), client_as(org, "manager")
    usd = ProjectFactory(client=ClientFactory(currency="USD"))
    make_entry(user_id=member.user.pk, started_at=at(MONDAY, 9), seconds=3600, project=usd)
    sheet = TimesheetFactory(user_id=member.user.pk, period_start=MONDAY, status=S.SUBMITTED)

    body = expect(manager.post(f"{URL}{sheet.pk}/approve/"), 200)

    assert body["approved_billable_amount"] == "100.00"
    assert body["approved_billable_amounts"] == [{"currency": "USD", "amount": "100.00"}]


def test_a_sheet_approved_before_keeps_its_amount_in_the_organizations_currency(org):
    member = client_as(org, "member")
    sheet = TimesheetFactory(user_id=member.user.pk, period_start=MONDAY, status=S.APPROVED)
    Timesheet.objects.filter(pk=sheet.pk).update(approved_billable_amount=Decimal("12.50"))
    body = expect(client_as(org, "manager").get(f"{URL}{sheet.pk}/"), 200)
    assert body["approved_billable_amounts"] == [{"currency": "EUR", "amount": "12.50"}]


def test_the_detail_totals_are_per_currency(week):
    _, manager, sheet = week

    body = expect(manager.get(f"{URL}{sheet.pk}/"), 200)

    assert (body["billable_amount"], body["currency"], body["billable_amounts"]) == (
        None,
        None,
        MIXED,
    )
    assert {(p["name"], p["billable_amount"], p["currency"]) for p in body["project_totals"]} >= {
        ("US site", "100.00", "USD"),
        ("EU site", "50.00", "EUR"),
    }
    assert {e["currency"] for e in body["entries"]} == {"EUR", "USD"}


def test_the_overview_is_per_currency(week):
    member, manager, _ = week
    rows = expect(manager.get(f"{URL}overview/", {"period_start": "2026-11-02"}), 200)["results"]
    row = next(r for r in rows if r["user"] == str(member.user.pk))
    assert (row["billable_amount"], row["billable_amounts"]) == (None, MIXED)


def test_the_export_names_each_rows_currency(week):
    _, manager, sheet = week
    expect(manager.post(f"{URL}{sheet.pk}/approve/"), 200)

    response = manager.get(f"{URL}export/", {"period_start": "2026-11-02"})

    header, *rows = list(csv.reader(io.StringIO(response.content.decode())))
    amount, currency = header.index("amount"), header.index("currency")
    assert sorted((r[amount], r[currency]) for r in rows) == [
        ("", "USD"),
        ("100.00", "USD"),
        ("50.00", "EUR"),
        ("50.00", "USD"),
        ("50.00", "USD"),
    ]
