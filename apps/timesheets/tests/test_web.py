"""The Timesheets pages (``/timesheets/``, ``/timesheets/approvals/``): who may
open them, what they show, and that their forms write what the API writes
(same services, same rules, same messages)."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.common.testing import app_queries
from apps.iam.tests.factories import DEFAULT_PASSWORD
from apps.organizations.tests.factories import MembershipFactory
from apps.projects.constants import ProjectRole
from apps.projects.tests.factories import ProjectFactory, ProjectMemberFactory
from apps.timesheets.constants import TimesheetStatus as S
from apps.timesheets.models import Timesheet, TimesheetEvent
from tenants.testing import TenantAPIClient

from .factories import TimesheetFactory, at, make_entry

pytestmark = pytest.mark.django_db

# A Thursday; acme's periods are weeks starting Monday 2026-11-23.
NOW = datetime.datetime(2026, 11, 26, 15, 0, tzinfo=datetime.UTC)
MONDAY = datetime.date(2026, 11, 23)


def signed_in(tenant, role="member", membership=None) -> TenantAPIClient:
    membership = membership or MembershipFactory(organization=tenant, role=role)
    client = TenantAPIClient(tenant, HTTP_ACCEPT="text/html")
    response = client.post(
        "/signin/", {"email": membership.user.email, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 302, response.content
    client.membership = membership
    return client


def _week(tenant) -> datetime.date:
    """The first day of acme's period containing NOW (its settings decide)."""
    from apps.timesheets.periods import period_bounds

    return period_bounds(tenant, NOW.date())[0]


def _submitted_sheet(tenant, owner, *, entries=1, start=None):
    start = start or _week(tenant) - datetime.timedelta(days=7)
    sheet = TimesheetFactory(
        user_id=owner.user_id,
        period_start=start,
        period_end=start + datetime.timedelta(days=6),
        status=S.SUBMITTED,
    )
    for i in range(entries):
        make_entry(user_id=owner.user_id, started_at=at(start, 9 + i % 8), description=f"Work {i}")
    return sheet


# --- my timesheet ---------------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_my_page_shows_the_current_period_with_day_totals_and_submit(in_tenant):
    client = signed_in(in_tenant)
    start = _week(in_tenant)
    make_entry(user_id=client.membership.user_id, started_at=at(start, 9), description="Spec")

    response = client.get("/timesheets/")

    body = response.content.decode()
    assert response.status_code == 200
    sheet = Timesheet.objects.get(user_id=client.membership.user_id)
    assert sheet.period_start == start and sheet.status == S.DRAFT
    assert "Submit timesheet" in body and "Withdraw" not in body
    assert "Spec" in body and "Hours per day" in body
    assert "Edit" not in body  # entries are read-only here


@time_machine.travel(NOW, tick=False)
def test_submit_and_withdraw_through_the_forms(in_tenant):
    client = signed_in(in_tenant)
    client.get("/timesheets/")
    sheet = Timesheet.objects.get(user_id=client.membership.user_id)

    assert client.post(f"/timesheets/{sheet.pk}/submit/").status_code == 302
    sheet.refresh_from_db()
    assert sheet.status == S.SUBMITTED and sheet.submitted_at is not None
    event = TimesheetEvent.objects.get(timesheet=sheet, to_status=S.SUBMITTED)
    assert event.actor_id == client.membership.user_id
    body = client.get("/timesheets/").content.decode()
    assert "Withdraw" in body and "Submit timesheet" not in body

    assert client.post(f"/timesheets/{sheet.pk}/withdraw/").status_code == 302
    sheet.refresh_from_db()
    assert sheet.status == S.DRAFT


@time_machine.travel(NOW, tick=False)
def test_submit_refused_shows_the_services_message(in_tenant):
    client = signed_in(in_tenant)
    client.get("/timesheets/")
    sheet = Timesheet.objects.get(user_id=client.membership.user_id)
    make_entry(user_id=client.membership.user_id, started_at=at(_week(in_tenant), 9), seconds=None)

    response = client.post(f"/timesheets/{sheet.pk}/submit/")

    assert response.status_code in (400, 409)
    assert "timer" in response.content.decode().lower()
    sheet.refresh_from_db()
    assert sheet.status == S.DRAFT


@time_machine.travel(NOW, tick=False)
def test_history_shows_status_and_reviewer_comment(in_tenant):
    client = signed_in(in_tenant)
    manager = MembershipFactory(organization=in_tenant, role="manager")
    sheet = _submitted_sheet(in_tenant, client.membership)
    from apps.timesheets import services

    services.timesheet_reject(timesheet=sheet, actor=manager, comment="Missing Friday")

    body = client.get("/timesheets/").content.decode()

    assert "Rejected" in body and "Missing Friday" in body


@time_machine.travel(NOW, tick=False)
def test_my_page_queries_do_not_grow_with_sheets_or_entries(in_tenant):
    client = signed_in(in_tenant)
    user_id = client.membership.user_id

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/timesheets/").status_code == 200
        return len(app_queries(captured))

    client.get("/timesheets/")  # creates the current draft
    _submitted_sheet(
        in_tenant, client.membership, start=_week(in_tenant) - datetime.timedelta(days=70)
    )
    few = count()
    for week in range(1, 8):
        start = _week(in_tenant) - datetime.timedelta(days=7 * week)
        sheet = _submitted_sheet(in_tenant, client.membership, entries=3, start=start)
        TimesheetEvent.objects.create(
            timesheet=sheet, from_status=S.DRAFT, to_status=S.SUBMITTED, comment="c"
        )
    for i in range(6):
        make_entry(user_id=user_id, started_at=at(_week(in_tenant), 8 + i))
    many = count()
    assert many == few
    assert many <= 10


# --- approvals ------------------------------------------------------------------------


def test_a_member_is_refused_on_approvals(in_tenant):
    client = signed_in(in_tenant)
    owner = MembershipFactory(organization=in_tenant)
    sheet = _submitted_sheet(in_tenant, owner)

    response = client.get("/timesheets/approvals/")

    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")
    assert client.get(f"/timesheets/approvals/{sheet.pk}/").status_code == 403
    assert client.post(f"/timesheets/approvals/{sheet.pk}/approve/").status_code == 403
    sheet.refresh_from_db()
    assert sheet.status == S.SUBMITTED


@time_machine.travel(NOW, tick=False)
def test_manager_approves_through_the_form(in_tenant):
    client = signed_in(in_tenant, role="manager")
    owner = MembershipFactory(organization=in_tenant)
    sheet = _submitted_sheet(in_tenant, owner)

    listing = client.get("/timesheets/approvals/").content.decode()
    assert f"/timesheets/approvals/{sheet.pk}/" in listing
    page = client.get(f"/timesheets/approvals/{sheet.pk}/").content.decode()
    assert "Approve" in page and "Reject" in page and "Work 0" in page
    assert "Edit" not in page

    response = client.post(f"/timesheets/approvals/{sheet.pk}/approve/", {"comment": "Fine"})

    assert response.status_code == 302
    sheet.refresh_from_db()
    assert sheet.status == S.APPROVED and sheet.decided_by_id == client.membership.user_id
    assert sheet.approved_total_seconds == 3600  # the service's snapshot


@time_machine.travel(NOW, tick=False)
def test_reject_requires_a_comment_shown_next_to_the_field(in_tenant):
    client = signed_in(in_tenant, role="manager")
    sheet = _submitted_sheet(in_tenant, MembershipFactory(organization=in_tenant))

    response = client.post(f"/timesheets/approvals/{sheet.pk}/reject/", {"comment": "  "})

    body = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_comment-errors"' in body
    assert "Say why the timesheet is rejected." in body
    sheet.refresh_from_db()
    assert sheet.status == S.SUBMITTED

    response = client.post(f"/timesheets/approvals/{sheet.pk}/reject/", {"comment": "Why"})
    assert response.status_code == 302
    sheet.refresh_from_db()
    assert sheet.status == S.REJECTED


@time_machine.travel(NOW, tick=False)
def test_manager_cannot_reopen_admin_can(in_tenant):
    owner = MembershipFactory(organization=in_tenant)
    sheet = _submitted_sheet(in_tenant, owner)
    Timesheet.objects.filter(pk=sheet.pk).update(status=S.APPROVED)
    manager = signed_in(in_tenant, role="manager")

    assert "Reopen" not in manager.get(f"/timesheets/approvals/{sheet.pk}/").content.decode()
    response = manager.post(f"/timesheets/approvals/{sheet.pk}/reopen/", {"reason": "x"})
    assert response.status_code == 403

    admin = signed_in(in_tenant, role="admin")
    assert "Reopen" in admin.get(f"/timesheets/approvals/{sheet.pk}/").content.decode()
    response = admin.post(f"/timesheets/approvals/{sheet.pk}/reopen/", {"reason": ""})
    assert response.status_code == 400
    assert "Say why the timesheet is reopened." in response.content.decode()
    response = admin.post(f"/timesheets/approvals/{sheet.pk}/reopen/", {"reason": "Fix"})
    assert response.status_code == 302
    sheet.refresh_from_db()
    assert sheet.status == S.DRAFT


@time_machine.travel(NOW, tick=False)
def test_limited_manager_sees_only_members_of_projects_they_lead(in_tenant):
    in_tenant.approvers_limited_to_managed_projects = True
    in_tenant.save(update_fields=["approvers_limited_to_managed_projects"])
    try:
        client = signed_in(in_tenant, role="manager")
        mine = MembershipFactory(organization=in_tenant)
        other = MembershipFactory(organization=in_tenant)
        project = ProjectFactory()
        ProjectMemberFactory(project=project, user_id=mine.user_id)
        ProjectMemberFactory(
            project=project, user_id=client.membership.user_id, role=ProjectRole.LEAD
        )
        my_sheet = _submitted_sheet(in_tenant, mine)
        other_sheet = _submitted_sheet(in_tenant, other)

        body = client.get("/timesheets/approvals/").content.decode()

        assert str(my_sheet.pk) in body and str(other_sheet.pk) not in body
        # Opened by URL, the sheet it may not decide offers no Approve / Reject, and says why.
        page = client.get(f"/timesheets/approvals/{other_sheet.pk}/").content.decode()
        assert ">Approve</button>" not in page and ">Reject</button>" not in page
        assert "You approve only members of projects you manage." in page
        assert (
            ">Approve</button>"
            in client.get(f"/timesheets/approvals/{my_sheet.pk}/").content.decode()
        )
        response = client.post(f"/timesheets/approvals/{other_sheet.pk}/approve/")
        assert response.status_code == 403
        other_sheet.refresh_from_db()
        assert other_sheet.status == S.SUBMITTED
    finally:
        in_tenant.approvers_limited_to_managed_projects = False
        in_tenant.save(update_fields=["approvers_limited_to_managed_projects"])


@time_machine.travel(NOW, tick=False)
def test_approval_pages_queries_do_not_grow(in_tenant):
    client = signed_in(in_tenant, role="manager")
    first = _submitted_sheet(in_tenant, MembershipFactory(organization=in_tenant))

    def count(path: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(path).status_code == 200
        return len(app_queries(captured))

    few_list, few_detail = (
        count("/timesheets/approvals/"),
        count(f"/timesheets/approvals/{first.pk}/"),
    )
    for _ in range(6):
        _submitted_sheet(in_tenant, MembershipFactory(organization=in_tenant), entries=2)
    for i in range(8):
        make_entry(
            user_id=first.user_id,
            started_at=at(first.period_start + datetime.timedelta(days=i % 5), 10 + i // 5),
        )
    many_list, many_detail = (
        count("/timesheets/approvals/"),
        count(f"/timesheets/approvals/{first.pk}/"),
    )
    assert (many_list, many_detail) == (few_list, few_detail)
    assert many_list <= 10 and many_detail <= 10


@pytest.mark.parametrize(("role", "sees_approvals"), [("member", False), ("manager", True)])
def test_navigation_links_the_pages_the_role_may_open(in_tenant, role, sees_approvals):
    """UI.md: `Timesheets` for everyone, `Approvals` for managers and up."""
    client = signed_in(in_tenant, role=role)
    page = client.get("/").content.decode()
    assert 'href="/timesheets/"' in page and ">Timesheets</a>" in page
    assert ('href="/timesheets/approvals/"' in page) is sees_approvals
    assert (">Approvals</a>" in page) is sees_approvals


def test_limited_manager_sees_their_sheets_however_many_others_wait(in_tenant, monkeypatch):
    """The list is cut after the approver rule, not before: sheets this
    manager may not decide never crowd out the ones they may."""
    from apps.timesheets.web import views

    monkeypatch.setattr(views, "MAX_SHEETS", 1)
    in_tenant.approvers_limited_to_managed_projects = True
    in_tenant.save(update_fields=["approvers_limited_to_managed_projects"])
    try:
        client = signed_in(in_tenant, role="manager")
        mine = MembershipFactory(organization=in_tenant)
        project = ProjectFactory()
        ProjectMemberFactory(project=project, user_id=mine.user_id)
        ProjectMemberFactory(
            project=project, user_id=client.membership.user_id, role=ProjectRole.LEAD
        )
        others = [
            _submitted_sheet(in_tenant, MembershipFactory(organization=in_tenant)) for _ in range(3)
        ]
        my_sheet = _submitted_sheet(in_tenant, mine)
        others += [
            _submitted_sheet(in_tenant, MembershipFactory(organization=in_tenant)) for _ in range(3)
        ]

        body = client.get("/timesheets/approvals/").content.decode()

        assert str(my_sheet.pk) in body
        assert not any(str(sheet.pk) in body for sheet in others)
    finally:
        in_tenant.approvers_limited_to_managed_projects = False
        in_tenant.save(update_fields=["approvers_limited_to_managed_projects"])
