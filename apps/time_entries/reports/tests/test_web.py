"""The Reports page (``/reports/``) and its downloads (``/reports/export/``):
the page's totals are the API's summary for the same filters, money follows
the API's rule, bad filters show the API's messages next to the fields, the
exports are the API's summary export, and the query count stays flat.

Data: the hand-checked week of conftest.py (Monday 2026-03-02, acme).
"""

from __future__ import annotations

import csv
import datetime
import io
import re
from html import unescape
from html.parser import HTMLParser
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.html import escape
from django_tenants.utils import tenant_context

from apps.common.testing import app_queries, expect
from apps.iam.tests.factories import DEFAULT_PASSWORD
from apps.organizations.tests.factories import MembershipFactory, client_as
from apps.projects.tests.factories import ProjectFactory
from apps.time_entries.reports.exports import hms
from apps.time_entries.reports.web.chart import hours_minutes
from tenants.testing import TenantAPIClient

from .factories import at, make_entry

pytestmark = pytest.mark.django_db

PAGE = "/reports/"
EXPORT = "/reports/export/"
API = "/api/v1/reports/summary/"
WEEK = {"from": "2026-03-02", "to": "2026-03-08"}
DASH, ARROW = "\u2013", "\u203a"  # en dash; the subgroup mark of the table


def signed_in(tenant: Any, membership: Any) -> TenantAPIClient:
    client = TenantAPIClient(tenant, HTTP_ACCEPT="text/html")
    response = client.post(
        "/signin/", {"email": membership.user.email, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 302, response.content
    return client


def set_org(tenant: Any, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(tenant, name, value)
    tenant.save(update_fields=list(fields))


class _Table(HTMLParser):
    """The report table's rows as lists of cell texts (header row included)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._in_table = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and ("class", "report-table") in attrs:
            self._in_table = True
        elif self._in_table and tag == "tr":
            self.rows.append([])
        elif self._in_table and tag in ("th", "td"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_table = False
        elif self._in_table and tag in ("th", "td") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table(body: str) -> list[list[str]]:
    parser = _Table()
    parser.feed(body)
    assert parser.rows, "no report table"
    return parser.rows


def expected_rows(report: dict[str, Any]) -> list[list[str]]:
    """The table the page must show for the API's ``report``: group, hours,
    billable hours, and each currency's amount when the API shows money."""
    currencies = [a["currency"] for a in report["billable_amounts"] or ()]
    if report["billable_amounts"] is not None and not currencies:
        currencies = [report["currency"]]

    def line(label: str, node: dict[str, Any]) -> list[str]:
        cells = [label, hours_minutes(node["total_seconds"])]
        cells.append(hours_minutes(node["billable_seconds"]))
        if node["billable_amounts"] is not None:
            amounts = {a["currency"]: a["amount"] for a in node["billable_amounts"]}
            cells += [amounts.get(c, "0.00") for c in currencies]
        return cells

    rows = []
    for group in report["groups"]:
        rows.append(line(group["label"], group))
        for sub in group.get("groups", ()):
            rows.append(line(f"{group['label']} {ARROW} {sub['label']}", sub))
    rows.append(line("Total", report))
    return rows


def page_params(api: dict[str, str]) -> dict[str, Any]:
    """The page's fields for the API's parameters (``group_by=a,b`` is the
    page's Group by and Then by; lists are repeated fields)."""
    params: dict[str, Any] = dict(api)
    first, _, second = api.get("group_by", "project").partition(",")
    params["group_by"] = first
    if second:
        params["then_by"] = second
    for name in ("users", "projects", "clients"):
        if name in api:
            params[name] = api[name].split(",")
    return params


def first_message(detail: Any) -> str:
    """The first message of a field's errors (a list field's come per item)."""
    while not isinstance(detail, str):
        detail = next(iter(detail.values())) if isinstance(detail, dict) else detail[0]
    return detail


# --- totals ---------------------------------------------------------------------------


def _cases(week: Any) -> list[dict[str, str]]:
    return [
        {**WEEK, "group_by": "project"},
        {**WEEK, "group_by": "project,user"},
        {**WEEK, "group_by": "tag", "billable": "true"},
        {**WEEK, "group_by": "client,task", "projects": str(week.project_a.pk)},
        {**WEEK, "group_by": "user,day", "users": f"{week.a},{week.b}", "tags": "dev,meeting"},
        {**WEEK, "group_by": "week", "clients": str(week.xylo.pk), "billable": "false"},
    ]


def test_manager_totals_equal_the_api_summary(week):
    web = signed_in(week.tenant, week.alice.membership)

    for api in _cases(week):
        report = expect(week.alice.get(API, api), 200)
        response = web.get(PAGE, page_params(api))

        assert response.status_code == 200
        rows = table(response.content.decode())
        assert rows[0][:3] == ["Group", "Hours", "Billable hours"]
        assert rows[1:] == expected_rows(report), api
        assert report["billable_amount"] is not None  # a manager sees money
        assert rows[0][3:] == [f"Billable amount ({report['currency']})"]


def test_table_numbers_are_the_hand_checked_ones(week):
    body = signed_in(week.tenant, week.alice.membership).get(PAGE, page_params(WEEK)).content

    # conftest.py: Apollo e1 5400 + e3 420 + e4 7200, Borealis e2 1200.
    assert table(body.decode())[1:] == [
        ["Apollo", "3:37", "3:30", "350.00"],
        ["Borealis", "0:20", "0:20", "26.67"],
        ["Total", "3:57", "3:50", "376.67"],
    ]


def test_chart_is_an_img_named_by_what_it_shows(week):
    body = (
        signed_in(week.tenant, week.alice.membership)
        .get(PAGE, page_params({**WEEK, "group_by": "user,project"}))
        .content.decode()
    )

    assert '<svg role="img" aria-labelledby="report-chart-title"' in body
    assert f'<title id="report-chart-title">Hours by user, 2{DASH}8 Mar 2026</title>' in body
    # One bar per first-level group, the longest filling the drawing's bar room.
    assert body.count('class="chart-bar"') == 2
    assert 'width="328.0"' in body  # Bob: 7620 s, the longest (400 - 72)
    assert 'style="' not in body


def test_member_sees_own_time_and_no_money_unless_the_organization_shows_it(week):
    web = signed_in(week.tenant, week.bob.membership)
    # Asking for alice's time narrows to nothing, as in the API.
    api = {**WEEK, "group_by": "project,user", "users": week.a}

    report = expect(week.bob.get(API, api), 200)
    body = web.get(PAGE, page_params(api)).content.decode()
    own = expect(week.bob.get(API, {**WEEK, "group_by": "project"}), 200)
    own_body = web.get(PAGE, page_params({**WEEK, "group_by": "project"})).content.decode()

    assert report["billable_amount"] is None and own["billable_amount"] is None
    assert "No time in this range" in body
    assert table(own_body)[0] == ["Group", "Hours", "Billable hours"]
    assert table(own_body)[1:] == expected_rows(own)
    assert table(own_body)[-1] == ["Total", "2:07", "2:00"]  # bob: e3 + e4
    assert "Billable amount" not in own_body and "200.00" not in own_body
    assert 'name="users"' not in own_body  # no list of others to choose from

    set_org(week.tenant, members_see_rates=True)
    shown = expect(week.bob.get(API, {**WEEK, "group_by": "project"}), 200)
    shown_body = web.get(PAGE, page_params({**WEEK, "group_by": "project"})).content.decode()

    assert shown["billable_amount"] == "200.00"
    assert table(shown_body)[1:] == expected_rows(shown)
    assert table(shown_body)[-1] == ["Total", "2:07", "2:00", "200.00"]


@time_machine.travel(datetime.datetime(2026, 3, 8, 20, 0, tzinfo=datetime.UTC), tick=False)
def test_default_range_is_this_week_in_the_organizations_time_zone(week):
    # Sunday 20:00 UTC is Monday 09:00 in Auckland: its week starts 2026-03-09.
    set_org(week.tenant, timezone="Pacific/Auckland")
    web = signed_in(week.tenant, week.alice.membership)

    body = web.get(PAGE).content.decode()

    assert 'name="from" value="2026-03-09"' in body
    assert 'name="to" value="2026-03-15"' in body
    assert '<option value="project" selected>' in body
    assert f"Hours by project, 9{DASH}15 Mar 2026" in body

    set_org(week.tenant, timezone="UTC", week_start=6)  # weeks start on Sunday
    assert 'name="from" value="2026-03-08"' in web.get(PAGE).content.decode()


# --- bad filters ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api", "field", "kept"),
    [
        ({"from": "2026-03-09", "to": "2026-03-02"}, "to", 'name="to" value="2026-03-02"'),
        ({"from": "2026-02-31", "to": "2026-03-02"}, "from", 'name="from" value="2026-02-31"'),
        ({"from": "someday", "to": "2026-03-02"}, "from", 'name="from" value="someday"'),
        ({**WEEK, "group_by": "colour"}, "group_by", 'name="to" value="2026-03-08"'),
        ({**WEEK, "group_by": "user,user"}, "group_by", '<option value="user" selected>'),
        ({**WEEK, "billable": "maybe"}, "billable", 'name="from" value="2026-03-02"'),
    ],
)
def test_bad_filters_show_the_apis_message_next_to_the_field(week, api, field, kept):
    error = expect(week.alice.get(API, api), 400, "invalid")
    message = first_message(error["fields"][field])
    web = signed_in(week.tenant, week.alice.membership)

    response = web.get(PAGE, {**page_params(api), "tags": "typed, kept"})

    body = response.content.decode()
    assert response.status_code == 200
    errors = body.split(f'id="id_{field}-errors"', 1)
    assert len(errors) == 2, f"no errors next to {field}"
    assert escape(message) in errors[1].split("</ul>", 1)[0]
    assert kept in body
    assert 'name="tags" value="typed, kept"' in body
    assert "Export CSV" not in body  # no report to export


# --- exports --------------------------------------------------------------------------


def _content(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def test_csv_export_is_the_apis_summary_of_the_same_filters(week):
    web = signed_in(week.tenant, week.alice.membership)
    api = {**WEEK, "group_by": "project,user", "billable": "true"}
    report = expect(week.alice.get(API, api), 200)
    page = web.get(PAGE, page_params(api)).content.decode()
    href = re.search(r'href="([^"]+)">Export CSV<', page)

    assert href is not None and href[1].startswith(EXPORT)
    response = web.get(unescape(href[1]))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    rows = list(csv.reader(io.StringIO(_content(response).decode("utf-8-sig"))))
    assert rows[0][:4] == ["Project", "User", "Duration", "Hours"]
    assert rows[-1][0] == "Total" and rows[-1][2] == hms(report["total_seconds"])
    firsts = [r for r in rows[1:-1] if r[1] == ""]
    assert [(r[0], r[2]) for r in firsts] == [
        (g["label"], hms(g["total_seconds"])) for g in report["groups"]
    ]
    assert rows[-1][-1] == report["billable_amount"]


def test_xlsx_export_and_a_members_export_has_no_money(week):
    from openpyxl import load_workbook

    web = signed_in(week.tenant, week.bob.membership)
    api = {**WEEK, "group_by": "project"}
    report = expect(week.bob.get(API, api), 200)

    response = web.get(EXPORT, {**page_params(api), "format": "xlsx"})

    assert response.status_code == 200
    assert response["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert response["Content-Disposition"].startswith("attachment; filename=")
    sheet = load_workbook(io.BytesIO(_content(response))).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0] == ["Project", "Duration", "Hours", "Billable duration", "Billable hours"]
    assert [(r[0], r[1]) for r in rows[1:]] == [
        *((g["label"], hms(g["total_seconds"])) for g in report["groups"]),
        ("Total", hms(report["total_seconds"])),
    ]


def test_export_with_bad_filters_shows_the_page_with_the_message(week):
    web = signed_in(week.tenant, week.alice.membership)

    response = web.get(EXPORT, {"from": "2026-03-09", "to": "2026-03-02", "format": "csv"})
    bad_format = web.get(EXPORT, {**WEEK, "group_by": "project", "format": "pdf"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert 'id="id_to-errors"' in response.content.decode()
    assert bad_format.status_code == 200 and "not a valid choice" in bad_format.content.decode()


# --- queries --------------------------------------------------------------------------


def _queries(client: TenantAPIClient, params: dict[str, Any]) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(PAGE, params)
    assert response.status_code == 200
    return len(app_queries(captured))


def test_query_count_is_bounded_and_flat(week, django_assert_max_num_queries):
    web = signed_in(week.tenant, week.alice.membership)
    member = signed_in(week.tenant, week.bob.membership)
    params = page_params({**WEEK, "group_by": "project,user"})
    web.get(PAGE, params)  # warm the host-resolution cache
    small, member_small = _queries(web, params), _queries(member, params)

    extra = [MembershipFactory(organization=week.tenant, role="member") for _ in range(12)]
    with tenant_context(week.tenant):
        for i in range(40):
            project = ProjectFactory(name=f"Extra {i}")
            for j in range(3):
                make_entry(
                    user_id=extra[(i + j) % 12].user_id,
                    project=project,
                    start=at(f"2026-03-0{3 + j} {i % 20:02d}:00"),
                    seconds=600,
                    rate="90",
                    tags=[f"t{i % 5}"],
                )
    with django_assert_max_num_queries(10):
        body = web.get(PAGE, params).content.decode()
    large, member_large = _queries(web, params), _queries(member, params)

    assert len(table(body)) == 1 + 42 + (3 + 40 * 3) + 1  # header, groups, subgroups, total
    assert small <= 10 and member_small <= 10
    assert (large, member_large) == (small, member_small)


def test_api_and_page_agree_for_another_role(week):
    viewer = client_as(week.tenant, "viewer")
    web = signed_in(week.tenant, viewer.membership)
    make_entry(
        user_id=viewer.user.pk, project=week.project_b, start=at("2026-03-03 09:00"), seconds=900
    )
    report = expect(viewer.get(API, WEEK), 200)

    assert table(web.get(PAGE, page_params(WEEK)).content.decode())[1:] == expected_rows(report)
    assert report["total_seconds"] == 900


# --- the chart's helpers --------------------------------------------------------------


def test_chart_draws_at_most_fifty_bars_proportional_to_the_totals():
    from apps.time_entries.reports.web.chart import MAX_BARS, WIDTH, bar_chart

    groups = [{"label": f"G{i}", "total_seconds": 3600 * (i + 1)} for i in range(MAX_BARS + 1)]

    chart = bar_chart(groups, name="n")

    assert chart.cut and len(chart.bars) == MAX_BARS
    assert chart.bars[-1].width == WIDTH - 72  # the longest drawn bar fills the room
    assert chart.bars[0].width == round((WIDTH - 72) / MAX_BARS, 1)
    assert [b.value for b in chart.bars[:2]] == ["1:00", "2:00"]
    assert not bar_chart(groups[:3], name="n").cut


def test_date_range_names():
    from apps.time_entries.reports.web.chart import date_range_label

    d = datetime.date
    assert date_range_label(d(2026, 12, 1), d(2026, 12, 7)) == f"1{DASH}7 Dec 2026"
    assert date_range_label(d(2026, 11, 30), d(2026, 12, 6)) == f"30 Nov {DASH} 6 Dec 2026"
    assert date_range_label(d(2026, 12, 28), d(2027, 1, 3)) == f"28 Dec 2026 {DASH} 3 Jan 2027"
    assert date_range_label(d(2026, 12, 1), d(2026, 12, 1)) == "1 Dec 2026"
