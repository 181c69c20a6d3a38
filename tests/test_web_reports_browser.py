"""The web app in a real browser (issue #20, flow 4): a manager opens
``/reports/``, chooses a date range, a project filter and a grouping; the
chart is an image named by what it shows; the totals in the table beside it
equal the API's summary for the same filters (fetched by the signed-in page
itself); ``Export CSV`` and ``Export XLSX`` download files that parse and hold
the same totals; at 375 px the page body does not scroll sideways.

Role and accessible-name selectors only (UI.md). Reuses the live server and
Chromium of tests/test_web_browser.py / tests/test_admin_browser.py.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model
from django_tenants.utils import get_tenant_model, tenant_context

from apps.organizations.models import Membership
from apps.time_entries.reports.exports import hms
from apps.time_entries.reports.web.chart import hours_minutes
from tenants.provisioning import delete_tenant, provision_tenant
from tenants.testing import committed
from tests.contract.live import live_server
from tests.test_admin_browser import browser_page, sign_in  # noqa: F401  (fixture)

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

SLUG_PREFIX = "web-rp-"
SLUG = f"{SLUG_PREFIX}{uuid.uuid4().hex[:8]}"
MANAGER = "web-rp-manager@novatime.test"
MEMBER = "web-rp-member@novatime.test"
PASSWORD = "Web-rp-pass-1"
FROM, TO = "2026-03-02", "2026-03-08"
CHART_NAME = "Hours by user, 2\u20138 Mar 2026"  # en dash
#: Ids the fixture made (the project the test filters on).
IDS: dict[str, str] = {}


def _delete() -> None:
    for org in get_tenant_model().objects.filter(slug__startswith=SLUG_PREFIX):
        delete_tenant(org)
    get_user_model().objects.filter(email__in=[MANAGER, MEMBER]).delete()


def _create() -> None:
    from apps.projects.tests.factories import ProjectFactory
    from apps.time_entries.reports.tests.factories import at, make_entry

    _delete()
    org = provision_tenant(slug=SLUG, name="Reports Co", status="active").tenant
    manager = get_user_model().objects.create_user(MANAGER, PASSWORD)
    member = get_user_model().objects.create_user(MEMBER, PASSWORD)
    manager.first_name, manager.last_name = "Mara", "Manager"
    manager.save(update_fields=["first_name", "last_name"])
    Membership.objects.create(user=manager, organization=org, role="manager")
    Membership.objects.create(user=member, organization=org, role="member")
    with tenant_context(org):
        apollo = ProjectFactory(name="Apollo")
        borealis = ProjectFactory(name="Borealis")
        IDS["apollo"] = str(apollo.pk)
        entries = [
            (manager, apollo, "2026-03-02 09:00", 5400, True),
            (manager, apollo, "2026-03-04 13:00", 1860, False),
            (member, apollo, "2026-03-03 10:00", 7230, True),
            (member, borealis, "2026-03-03 14:00", 3600, True),  # filtered out
            (member, apollo, "2026-03-09 10:00", 3600, True),  # after the range
        ]
        for user, project, start, seconds, billable in entries:
            make_entry(
                user_id=user.pk,
                project=project,
                start=at(start),
                seconds=seconds,
                billable=billable,
                rate="90",
            )


@pytest.fixture
def server(django_db_blocker: Any, tmp_path: Path) -> Iterator[str]:
    committed(django_db_blocker, _create)
    try:
        with live_server(tmp_path) as live:
            yield f"http://{SLUG}.localhost:{live.port}"
    finally:
        committed(django_db_blocker, _delete)


def test_reports_table_equals_the_api_summary_and_exports_download(
    browser_page: Any,  # noqa: F811
    server: str,
    tmp_path: Path,
):
    from openpyxl import load_workbook
    from playwright.sync_api import expect

    page = browser_page
    page.goto(f"{server}/reports/")
    sign_in(page, MANAGER, PASSWORD)
    expect(page.get_by_role("heading", name="Reports", level=1)).to_be_visible()

    page.get_by_role("textbox", name="From").fill(FROM)
    page.get_by_role("textbox", name="To", exact=True).fill(TO)
    page.get_by_role("combobox", name="Group by").select_option(label="User")
    page.get_by_role("listbox", name="Projects").select_option(label="Apollo")
    page.get_by_role("button", name="Show report").click()

    expect(page.get_by_role("img", name=CHART_NAME)).to_be_visible()
    # The API's summary for the same filters, asked by the signed-in page.
    query = urlencode({"from": FROM, "to": TO, "group_by": "user", "projects": IDS["apollo"]})
    report = page.evaluate(
        "async (url) => (await fetch(url, {headers: {Accept: 'application/json'}})).json()",
        f"/api/v1/reports/summary/?{query}",
    )
    assert [g["label"] for g in report["groups"]] == ["Mara Manager", MEMBER]
    assert report["total_seconds"] == 5400 + 1860 + 7230
    table = page.get_by_role("table", name=CHART_NAME)
    expected = [(g["label"], g) for g in report["groups"]] + [("Total", report)]
    for label, node in expected:
        row = table.get_by_role("row").filter(
            has=page.get_by_role("rowheader", name=label, exact=True)
        )
        cells = row.get_by_role("cell")
        expect(cells.nth(0)).to_have_text(hours_minutes(node["total_seconds"]))
        expect(cells.nth(1)).to_have_text(hours_minutes(node["billable_seconds"]))
        expect(cells.nth(2)).to_have_text(node["billable_amount"])  # a manager sees money

    with page.expect_download() as csv_download:
        page.get_by_role("link", name="Export CSV").click()
    csv_path = tmp_path / "report.csv"
    csv_download.value.save_as(csv_path)
    rows = list(csv.reader(csv_path.read_text(encoding="utf-8-sig").splitlines()))
    assert rows[0][:2] == ["User", "Duration"]
    assert [(r[0], r[1]) for r in rows[1:]] == [
        (label, hms(node["total_seconds"])) for label, node in expected
    ]

    with page.expect_download() as xlsx_download:
        page.get_by_role("link", name="Export XLSX").click()
    xlsx_path = tmp_path / "report.xlsx"
    xlsx_download.value.save_as(xlsx_path)
    sheet = load_workbook(xlsx_path).active
    cells = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert cells[0][:2] == ["User", "Duration"]
    assert [(r[0], r[1]) for r in cells[1:]] == [
        (label, hms(node["total_seconds"])) for label, node in expected
    ]

    # 375 px wide: the page body does not scroll sideways.
    page.set_viewport_size({"width": 375, "height": 812})
    expect(page.get_by_role("img", name=CHART_NAME)).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
