"""The timesheet API: contract shapes, permissions, bad input, isolation,
query counts."""

from __future__ import annotations

import csv
import datetime
import io
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from apps.common.testing import expect
from apps.organizations.constants import Role
from apps.organizations.models import Membership
from apps.organizations.tests.factories import MembershipFactory, client_as
from apps.projects.constants import ProjectRole
from apps.projects.tests.factories import ProjectFactory, ProjectMemberFactory
from apps.timesheets.constants import TimesheetStatus as S
from apps.timesheets.models import Timesheet, TimesheetEvent

from .factories import TimesheetFactory, at, make_entry

pytestmark = pytest.mark.django_db

MONDAY = datetime.date(2026, 11, 2)
URL = "/api/v1/timesheets/"


def _url(sheet, action=""):
    return f"{URL}{sheet.pk}/" + (f"{action}/" if action else "")


@pytest.fixture
def member(tenant):
    return client_as(tenant, "member")


@pytest.fixture
def manager(tenant):
    return client_as(tenant, "manager")


def _sheet(client, status=S.DRAFT, start=MONDAY):
    return TimesheetFactory(user_id=client.user.pk, period_start=start, status=status)


# --- create / read ------------------------------------------------------------------


def test_post_creates_then_returns_the_callers_sheet(member, in_tenant):
    body = expect(member.post(URL, {"period_start": "2026-11-02"}), 201)
    assert body["user"] == str(member.user.pk)
    assert (body["period_start"], body["period_end"], body["status"]) == (
        "2026-11-02",
        "2026-11-08",
        "draft",
    )
    assert body["total_seconds"] == 0
    again = expect(member.post(URL, {"period_start": "2026-11-02"}), 200)
    assert again["id"] == body["id"]
    assert Timesheet.objects.count() == 1


@pytest.mark.parametrize(
    ("payload", "code", "field"),
    [
        ({"period_start": "2026-11-03"}, "period_not_aligned", "period_start"),
        ({"period_start": "not a date"}, "invalid", "period_start"),
        ({}, "invalid", "period_start"),
    ],
)
def test_post_refuses_bad_periods(member, in_tenant, payload, code, field):
    body = expect(member.post(URL, payload, format="json"), 400, code)
    assert field in body["fields"]
    assert not Timesheet.objects.exists()


def test_viewers_cannot_create_sheets(tenant, in_tenant):
    viewer = client_as(tenant, "viewer")
    expect(viewer.post(URL, {"period_start": "2026-11-02"}), 403, "role_required")
    assert not Timesheet.objects.exists()


@pytest.mark.parametrize(
    ("who", "status", "code"), [(None, 401, None), ("outsider", 403, "not_a_member")]
)
def test_anonymous_and_outsiders_are_refused(tenant, who, status, code):
    expect(client_as(tenant, who).get(URL), status, code)


def test_members_see_only_their_own_sheets_managers_all(tenant, member, manager, in_tenant):
    mine = _sheet(member)
    theirs = _sheet(manager)
    listed = expect(member.get(URL), 200)
    assert [r["id"] for r in listed["results"]] == [str(mine.pk)]
    expect(member.get(_url(theirs)), 404, "not_found")
    listed = expect(manager.get(URL), 200)
    assert {r["id"] for r in listed["results"]} == {str(mine.pk), str(theirs.pk)}


def test_list_filters(tenant, member, manager, in_tenant):
    a = _sheet(member, S.SUBMITTED)
    b = _sheet(member, S.DRAFT, MONDAY + datetime.timedelta(days=7))
    c = _sheet(manager, S.SUBMITTED)
    ids = lambda r: {row["id"] for row in r["results"]}  # noqa: E731
    assert ids(expect(manager.get(URL, {"status": "submitted"}), 200)) == {str(a.pk), str(c.pk)}
    assert ids(expect(manager.get(URL, {"user": str(member.user.pk)}), 200)) == {
        str(a.pk),
        str(b.pk),
    }
    assert ids(expect(manager.get(URL, {"period_start": "2026-11-09"}), 200)) == {str(b.pk)}
    assert ids(expect(manager.get(URL, {"from": "2026-11-03", "to": "2026-11-30"}), 200)) == {
        str(b.pk)
    }
    assert ids(expect(manager.get(URL, {"to": "2026-11-02"}), 200)) == {str(a.pk), str(c.pk)}
    expect(manager.get(URL, {"from": "yesterday"}), 400, "invalid")
    expect(manager.get(URL, {"status": "bogus"}), 400, "invalid")
    expect(manager.get(URL, {"user": "nope"}), 400, "invalid")


def test_list_totals_are_live_for_drafts_and_snapshots_once_approved(
    tenant, member, manager, in_tenant
):
    draft = _sheet(member)
    make_entry(user_id=member.user.pk, started_at=at(MONDAY), seconds=1200)
    make_entry(
        user_id=member.user.pk, started_at=at(MONDAY - datetime.timedelta(days=1)), seconds=99
    )
    approved = _sheet(member, S.APPROVED, MONDAY + datetime.timedelta(days=7))
    Timesheet.objects.filter(pk=approved.pk).update(approved_total_seconds=4321)
    rows = {r["id"]: r for r in expect(member.get(URL), 200)["results"]}
    assert rows[str(draft.pk)]["total_seconds"] == 1200
    assert rows[str(approved.pk)]["total_seconds"] == 4321


def test_list_query_count_does_not_grow(tenant, manager, in_tenant, django_assert_max_num_queries):
    for i in range(30):
        TimesheetFactory(period_start=MONDAY + datetime.timedelta(days=7 * (i % 3)))
    with django_assert_max_num_queries(6):
        body = expect(manager.get(URL), 200)
    assert len(body["results"]) == 30


def test_detail_shows_entries_totals_flags_and_trail(tenant, member, manager, in_tenant):
    in_tenant.allow_overlapping_entries = True
    member.membership.weekly_expected_hours = Decimal("40")
    member.membership.save()
    uid = member.user.pk
    project = ProjectFactory(name="Apollo")
    other = ProjectFactory(name="Borealis")
    sheet = _sheet(member)
    make_entry(
        user_id=uid, project=project, started_at=at(MONDAY, 9), seconds=8 * 3600, rate=Decimal("50")
    )
    make_entry(
        user_id=uid,
        project=other,
        started_at=at(MONDAY + datetime.timedelta(days=1), 9),
        seconds=3600,
        billable=False,
    )
    a = make_entry(
        user_id=uid,
        project=project,
        started_at=at(MONDAY + datetime.timedelta(days=2), 9),
        seconds=3600,
        overlap_allowed=True,
    )
    b = make_entry(
        user_id=uid,
        project=other,
        started_at=at(MONDAY + datetime.timedelta(days=2), 9, 30),
        seconds=3600,
        overlap_allowed=True,
    )
    member.post(_url(sheet, "submit"))

    body = expect(manager.get(_url(sheet)), 200)
    assert body["status"] == "submitted"
    assert body["total_seconds"] == 11 * 3600
    assert body["billable_seconds"] == 10 * 3600
    assert body["billable_amount"] == "600.00"
    assert len(body["entries"]) == 4
    days = {d["date"]: d["total_seconds"] for d in body["daily_totals"]}
    assert len(days) == 7
    assert days["2026-11-02"] == 8 * 3600 and days["2026-11-04"] == 2 * 3600
    assert [(p["name"], p["total_seconds"]) for p in body["project_totals"]] == [
        ("Apollo", 9 * 3600),
        ("Borealis", 2 * 3600),
    ]
    flags = body["flags"]
    assert flags["gaps"] == ["2026-11-05", "2026-11-06"]
    assert [m["date"] for m in flags["missing_days"]] == [
        "2026-11-03",
        "2026-11-04",
        "2026-11-05",
        "2026-11-06",
    ]
    assert flags["expected_seconds_per_day"] == 8 * 3600
    assert flags["overlaps"] == [[str(a.pk), str(b.pk)]]
    assert [(e["from_status"], e["to_status"]) for e in body["events"]] == [("draft", "submitted")]


def test_members_do_not_see_money_unless_the_organization_allows(tenant, member, in_tenant):
    sheet = _sheet(member)
    make_entry(user_id=member.user.pk, started_at=at(MONDAY), seconds=3600)
    body = expect(member.get(_url(sheet)), 200)
    assert "billable_amount" not in body and "amount" not in body["entries"][0]
    tenant.members_see_rates = True
    tenant.save()
    body = expect(member.get(_url(sheet)), 200)
    assert body["billable_amount"] == "100.00"
    assert body["entries"][0]["amount"] == "100.00"


def test_detail_query_count_is_constant(
    tenant, manager, member, in_tenant, django_assert_max_num_queries
):
    sheet = _sheet(member)
    for i in range(40):
        make_entry(
            user_id=member.user.pk,
            started_at=at(MONDAY, 0) + datetime.timedelta(minutes=10 * i),
            seconds=300,
            project=ProjectFactory(),
        )
    with django_assert_max_num_queries(8):
        body = expect(manager.get(_url(sheet)), 200)
    assert len(body["entries"]) == 40


# --- transitions over HTTP ------------------------------------------------------------


def test_submit_approve_flow(tenant, member, manager, in_tenant):
    sheet = _sheet(member)
    make_entry(user_id=member.user.pk, started_at=at(MONDAY), seconds=1800)
    body = expect(member.post(_url(sheet, "submit"), {"comment": "done"}), 200)
    assert body["status"] == "submitted" and body["submitted_at"]
    body = expect(manager.post(_url(sheet, "approve")), 200)
    assert body["status"] == "approved"
    assert body["approved_total_seconds"] == 1800
    assert body["decided_by"] == str(manager.user.pk)


def test_wrong_state_is_409(member, manager, in_tenant):
    sheet = _sheet(member)
    body = expect(manager.post(_url(sheet, "approve")), 409, "invalid_transition")
    assert body["status"] == "draft"
    expect(member.post(_url(sheet, "withdraw")), 409, "invalid_transition")


def test_submit_with_running_timer_is_409(member, in_tenant):
    sheet = _sheet(member)
    make_entry(user_id=member.user.pk, started_at=at(MONDAY), seconds=None)
    expect(member.post(_url(sheet, "submit")), 409, "timer_running")
    assert Timesheet.objects.get(pk=sheet.pk).status == S.DRAFT


def test_reject_without_comment_is_400(member, manager, in_tenant):
    sheet = _sheet(member, S.SUBMITTED)
    body = expect(manager.post(_url(sheet, "reject"), {}), 400, "comment_required")
    assert "comment" in body["fields"]
    expect(manager.post(_url(sheet, "reject"), {"comment": "x" * 2001}), 400, "invalid")
    assert Timesheet.objects.get(pk=sheet.pk).status == S.SUBMITTED
    assert not TimesheetEvent.objects.exists()
    body = expect(manager.post(_url(sheet, "reject"), {"comment": "Add Friday."}), 200)
    assert body["status"] == "rejected"


def test_approving_ones_own_sheet_is_403(manager, in_tenant):
    sheet = _sheet(manager, S.SUBMITTED)
    expect(manager.post(_url(sheet, "approve")), 403, "self_approval")
    assert Timesheet.objects.get(pk=sheet.pk).status == S.SUBMITTED


@pytest.mark.parametrize(
    ("role", "status", "code"),
    [
        ("viewer", 403, "role_required"),
        ("member", 403, "role_required"),
        ("manager", 200, None),
        ("admin", 200, None),
        ("owner", 200, None),
    ],
)
def test_approve_permission_matrix(tenant, member, in_tenant, role, status, code):
    sheet = _sheet(member, S.SUBMITTED)
    expect(client_as(tenant, role).post(_url(sheet, "approve")), status, code)
    expected = S.APPROVED if status == 200 else S.SUBMITTED
    assert Timesheet.objects.get(pk=sheet.pk).status == expected


@pytest.mark.parametrize(("role", "status"), [("manager", 403), ("admin", 200), ("owner", 200)])
def test_reopen_is_for_admins(tenant, member, in_tenant, role, status):
    sheet = _sheet(member, S.APPROVED)
    Timesheet.objects.filter(pk=sheet.pk).update(approved_total_seconds=3600)
    client = client_as(tenant, role)
    refusal = ("reason_required", 400) if status == 200 else ("role_required", 403)
    expect(client.post(_url(sheet, "reopen"), {}), refusal[1], refusal[0])
    # a refused reopen writes nothing: still approved, snapshot kept, no audit row
    kept = Timesheet.objects.get(pk=sheet.pk)
    assert kept.status == S.APPROVED
    assert kept.approved_total_seconds == 3600
    assert not TimesheetEvent.objects.filter(timesheet=sheet).exists()
    expect(client.post(_url(sheet, "reopen"), {"reason": "Wrong project."}), status)


def test_limited_approvers_over_http(tenant, member, manager, in_tenant):
    tenant.approvers_limited_to_managed_projects = True
    tenant.save()
    sheet = _sheet(member, S.SUBMITTED)
    expect(manager.post(_url(sheet, "approve")), 403, "not_sheet_approver")
    project = ProjectFactory()
    ProjectMemberFactory(project=project, user_id=member.user.pk)
    ProjectMemberFactory(project=project, user_id=manager.user.pk, role=ProjectRole.LEAD)
    expect(manager.post(_url(sheet, "approve")), 200)


def test_members_cannot_submit_someone_elses_sheet(tenant, member, manager, in_tenant):
    sheet = _sheet(manager)
    expect(member.post(_url(sheet, "submit")), 404, "not_found")  # not even visible
    expect(manager.post(_url(_sheet(member), "submit")), 403, "not_sheet_owner")


def test_malformed_ids_are_404(manager):
    expect(manager.post(f"{URL}not-a-uuid/approve/"), 404)


def test_bulk_approve(tenant, member, manager, in_tenant):
    a = _sheet(member, S.SUBMITTED)
    b = _sheet(member, S.DRAFT, MONDAY + datetime.timedelta(days=7))
    body = expect(
        manager.post(f"{URL}bulk-approve/", {"ids": [str(a.pk), str(b.pk)]}, format="json"), 200
    )
    assert (body["approved"], body["failed"]) == (1, 1)
    assert [(r["id"], r["ok"]) for r in body["results"]] == [(str(a.pk), True), (str(b.pk), False)]
    expect(manager.post(f"{URL}bulk-approve/", {"ids": []}, format="json"), 400, "invalid")
    expect(manager.post(f"{URL}bulk-approve/", {"ids": ["x"]}, format="json"), 400, "invalid")
    expect(member.post(f"{URL}bulk-approve/", {"ids": [str(a.pk)]}, format="json"), 403)


# --- isolation ----------------------------------------------------------------------


def test_other_tenants_sheets_are_unknown(tenant, other_tenant, member):
    """The same user is a manager in both organizations; ids of one organization
    are 404 on the other's host and nothing there changes."""
    user = member.user
    MembershipFactory(organization=other_tenant, user=user, role=Role.MANAGER)
    with tenant_context(other_tenant):
        foreign = TimesheetFactory(status=S.SUBMITTED)
    acme_manager = client_as(tenant, "manager")
    for action in ("", "approve", "reject", "submit"):
        response = (
            acme_manager.get(_url(foreign))
            if not action
            else acme_manager.post(_url(foreign, action), {"comment": "x"})
        )
        expect(response, 404, "not_found")
    results = expect(
        acme_manager.post(f"{URL}bulk-approve/", {"ids": [str(foreign.pk)]}, format="json"), 200
    )["results"]
    assert results[0]["code"] == "not_found"
    with tenant_context(other_tenant):
        assert Timesheet.objects.get(pk=foreign.pk).status == S.SUBMITTED
    with tenant_context(tenant):
        _sheet(member)
    with tenant_context(tenant):
        acme_ids = set(Timesheet.objects.values_list("id", flat=True))
    other_ids = {
        r["id"] for r in expect(client_as(other_tenant, "manager").get(URL), 200)["results"]
    }
    assert other_ids == {str(foreign.pk)}
    assert not acme_ids & {uuid.UUID(i) for i in other_ids}


def test_one_user_in_two_organizations_sees_each_ones_sheets_on_its_host(
    tenant, other_tenant, member
):
    """``member`` is a member in acme and a manager in globex."""
    globex = client_as(
        other_tenant, MembershipFactory(organization=other_tenant, user=member.user, role="manager")
    )
    with tenant_context(tenant):
        own = _sheet(member, S.SUBMITTED)
    with tenant_context(other_tenant):
        theirs = TimesheetFactory(status=S.SUBMITTED)
    assert [r["id"] for r in expect(member.get(URL), 200)["results"]] == [str(own.pk)]
    assert [r["id"] for r in expect(globex.get(URL), 200)["results"]] == [str(theirs.pk)]
    # Being a manager in globex gives nothing in acme, and acme ids are unknown there.
    expect(member.post(_url(theirs, "approve")), 403, "role_required")
    expect(globex.post(_url(own, "approve")), 404, "not_found")
    expect(globex.get(_url(own)), 404, "not_found")
    with tenant_context(tenant):
        assert Timesheet.objects.get(pk=own.pk).status == S.SUBMITTED
    overview = expect(globex.get(f"{URL}overview/", {"period_start": "2026-11-02"}), 200)
    assert str(own.user_id) == str(member.user.pk)
    globex_users = {r["user"] for r in overview["results"]}
    acme_only = client_as(tenant, "member").user.pk
    assert str(acme_only) not in globex_users


# --- overview and export ------------------------------------------------------------


def test_overview_lists_every_active_member(tenant, member, manager, in_tenant):
    submitted = _sheet(member, S.SUBMITTED)
    make_entry(user_id=member.user.pk, started_at=at(MONDAY), seconds=3600, rate=Decimal("80"))
    make_entry(user_id=member.user.pk, started_at=at(MONDAY, 12), seconds=600, billable=False)
    body = expect(manager.get(f"{URL}overview/", {"period_start": "2026-11-02"}), 200)
    rows = {r["user"]: r for r in body["results"]}
    assert rows[str(member.user.pk)]["status"] == "submitted"
    assert rows[str(member.user.pk)]["timesheet"] == str(submitted.pk)
    assert rows[str(member.user.pk)]["total_seconds"] == 4200
    assert rows[str(member.user.pk)]["billable_seconds"] == 3600
    assert rows[str(member.user.pk)]["billable_amount"] == "80.00"
    assert rows[str(manager.user.pk)]["status"] == "missing"
    assert rows[str(manager.user.pk)]["timesheet"] is None

    missing = expect(
        manager.get(f"{URL}overview/", {"period_start": "2026-11-02", "status": "missing"}), 200
    )
    assert str(member.user.pk) not in {r["user"] for r in missing["results"]}
    assert str(manager.user.pk) in {r["user"] for r in missing["results"]}
    only = expect(
        manager.get(f"{URL}overview/", {"period_start": "2026-11-02", "user": str(member.user.pk)}),
        200,
    )
    assert [r["user"] for r in only["results"]] == [str(member.user.pk)]
    project = ProjectFactory()
    ProjectMemberFactory(project=project, user_id=manager.user.pk)
    by_project = expect(
        manager.get(f"{URL}overview/", {"period_start": "2026-11-02", "project": str(project.pk)}),
        200,
    )
    assert [r["user"] for r in by_project["results"]] == [str(manager.user.pk)]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "invalid"),
        ({"period_start": "2026-11-03"}, "period_not_aligned"),
        ({"period_start": "2026-11-02", "status": "bogus"}, "invalid"),
        ({"period_start": "2026-11-02", "user": "bogus"}, "invalid"),
    ],
)
def test_overview_bad_input(manager, params, code):
    expect(manager.get(f"{URL}overview/", params), 400, code)


def test_overview_is_for_managers(member):
    expect(member.get(f"{URL}overview/", {"period_start": "2026-11-02"}), 403, "role_required")


def _overview_queries(manager, members):
    with CaptureQueriesContext(connection) as queries:
        body = expect(
            manager.get(f"{URL}overview/", {"period_start": "2026-11-02", "page_size": 500}), 200
        )
    assert len(body["results"]) == members
    return len(queries)


def test_overview_query_count_is_constant(tenant, manager, in_tenant):
    def add(n):
        for i in range(n):
            m = MembershipFactory(organization=tenant, role=Role.MEMBER)
            if i % 2:
                TimesheetFactory(user_id=m.user_id, period_start=MONDAY, status=S.SUBMITTED)
                make_entry(user_id=m.user_id, started_at=at(MONDAY), seconds=60)

    before = Membership.objects.filter(organization=tenant).count()
    add(3)
    _overview_queries(manager, before + 3)  # warm: tenant resolution is cached now
    small = _overview_queries(manager, before + 3)
    add(30)
    large = _overview_queries(manager, before + 33)
    assert small == large <= 6


def test_export_csv_has_only_approved_time(tenant, member, manager, in_tenant):
    approved = _sheet(member, S.SUBMITTED)
    project = ProjectFactory(name="=HYPERLINK()")
    make_entry(
        user_id=member.user.pk,
        project=project,
        started_at=at(MONDAY),
        seconds=5400,
        description="Design",
    )
    other = client_as(tenant, "member")
    _sheet(other, S.SUBMITTED)
    make_entry(user_id=other.user.pk, started_at=at(MONDAY), seconds=60)
    expect(manager.post(_url(approved, "approve")), 200)

    response = manager.get(f"{URL}export/", {"period_start": "2026-11-02", "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["user_id", "email", "name"]
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["user_id"] == str(member.user.pk)
    assert (row["duration_seconds"], row["hours"], row["amount"]) == ("5400", "1.50", "150.00")
    assert row["project"] == "'=HYPERLINK()"

    xlsx = manager.get(f"{URL}export/", {"period_start": "2026-11-02", "format": "xlsx"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    expect(
        manager.get(f"{URL}export/", {"period_start": "2026-11-02", "format": "pdf"}),
        400,
        "invalid",
    )
    expect(manager.get(f"{URL}export/", {"period_start": "2026-11-04"}), 400, "period_not_aligned")
    expect(member.get(f"{URL}export/", {"period_start": "2026-11-02"}), 403, "role_required")


def test_overview_rows_match_the_declared_serializer_fields(tenant, member, manager, in_tenant):
    from rest_framework import serializers as drf

    from apps.timesheets import selectors
    from apps.timesheets.api.serializers import OverviewRowSerializer

    member.membership.weekly_expected_hours = Decimal("37.5")
    member.membership.save()
    sheet = _sheet(member, S.SUBMITTED)
    Timesheet.objects.filter(pk=sheet.pk).update(submitted_at=at(MONDAY, 17, 5))
    make_entry(user_id=member.user.pk, started_at=at(MONDAY), seconds=3600, rate=Decimal("80"))
    rows = selectors.overview_page(
        memberships=list(selectors.timesheet_overview(period_start=MONDAY)), period_start=MONDAY
    )
    serializer = OverviewRowSerializer(context={"can_view_rates": True})
    assert len(rows) >= 2
    for row in rows:
        assert serializer.to_representation(row) == drf.Serializer.to_representation(
            serializer, row
        )


def test_post_refuses_a_period_overlapping_an_existing_sheet(tenant, member, in_tenant):
    existing = _sheet(member)
    tenant.timesheet_period = "monthly"
    tenant.save()
    body = expect(member.post(URL, {"period_start": "2026-11-01"}), 409, "period_overlaps")
    assert body["timesheet"] == str(existing.pk)
    assert Timesheet.objects.count() == 1
