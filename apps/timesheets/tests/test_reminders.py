"""Reminders and auto-submission (the hourly beat job), at fixed instants
(time-machine) and in the organization's timezone."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.utils import timezone

from apps.organizations.constants import Role
from apps.organizations.tests.factories import MembershipFactory
from apps.timesheets import approvers, reminders, services, tasks
from apps.timesheets.constants import TimesheetStatus as S
from apps.timesheets.models import Timesheet, TimesheetEvent

from .factories import TimesheetFactory, at, make_entry

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
MONDAY = datetime.date(2026, 11, 2)  # the closed week is Nov 2..8
TUESDAY_AFTER = datetime.datetime(2026, 11, 10, 8, 0, tzinfo=UTC)
JOINED = datetime.datetime(2026, 10, 1, tzinfo=UTC)


def _member(tenant, role=Role.MEMBER, joined=JOINED):
    return MembershipFactory(organization=tenant, role=role, joined_at=joined)


@pytest.fixture
def team(tenant):
    """Only this test's people count: the session tenant may hold others."""
    return {
        "missing": _member(tenant),
        "draft": _member(tenant),
        "submitted": _member(tenant),
        "viewer": _member(tenant, Role.VIEWER),
        "newcomer": _member(tenant, joined=datetime.datetime(2026, 11, 9, 12, tzinfo=UTC)),
        "manager": _member(tenant, Role.MANAGER),
    }


def _ids(events, op):
    return {uid for e in events if e.op == op for uid in e.user_ids}


@time_machine.travel(TUESDAY_AFTER, tick=False)
def test_members_with_unsubmitted_sheets_are_reminded_once(in_tenant, team, emitted):
    TimesheetFactory(user_id=team["draft"].user_id, period_start=MONDAY)
    TimesheetFactory(user_id=team["submitted"].user_id, period_start=MONDAY, status=S.SUBMITTED)
    mail.outbox.clear()
    with emitted() as events:
        reminders.timesheet_reminders_run()

    reminded = _ids(events, "reminder")
    assert {str(team["missing"].user_id), str(team["draft"].user_id)} <= reminded
    for quiet in ("submitted", "viewer", "newcomer"):
        assert str(team[quiet].user_id) not in reminded
    sheet = Timesheet.objects.get(user_id=team["missing"].user_id)
    assert (sheet.period_start, sheet.status, sheet.reminded_at) == (
        MONDAY,
        S.DRAFT,
        timezone.now(),
    )
    recipients = {address for m in mail.outbox for address in m.to}
    assert team["missing"].user.email in recipients
    assert team["draft"].user.email in recipients
    assert team["viewer"].user.email not in recipients
    # Approvers hear about the submitted sheet of the closed period.
    assert str(team["manager"].user_id) in _ids(events, "approval_reminder")

    mail.outbox.clear()
    with emitted() as again:
        reminders.timesheet_reminders_run()
    assert [e for e in again if e.op in ("reminder", "approval_reminder")] == []
    assert mail.outbox == []


def test_nothing_is_due_before_the_period_closes_in_the_org_timezone(in_tenant, team, emitted):
    # Sunday 2026-11-08 12:00 UTC: still the week of Nov 2 in UTC, but already
    # Monday 01:00 in Auckland (UTC+13), where that week has closed.
    instant = datetime.datetime(2026, 11, 8, 12, 0, tzinfo=UTC)
    with time_machine.travel(instant, tick=False):
        reminders.timesheet_reminders_run()
    assert not Timesheet.objects.filter(period_start=MONDAY).exists()

    in_tenant.timezone = "Pacific/Auckland"
    with time_machine.travel(instant, tick=False):
        reminders.timesheet_reminders_run()
    assert Timesheet.objects.filter(
        user_id=team["missing"].user_id, period_start=MONDAY, reminded_at__isnull=False
    ).exists()


@time_machine.travel(TUESDAY_AFTER, tick=False)
def test_a_rejected_sheet_is_reminded_and_a_transition_rearms_the_reminder(
    in_tenant, team, emitted
):
    sheet = TimesheetFactory(user_id=team["draft"].user_id, period_start=MONDAY)
    reminders.timesheet_reminders_run()
    sheet.refresh_from_db()
    assert sheet.reminded_at is not None
    services.timesheet_submit(timesheet=sheet, actor=team["draft"])
    services.timesheet_reject(timesheet=sheet, actor=team["manager"], comment="No")
    assert sheet.reminded_at is None
    with emitted() as events:
        reminders.timesheet_reminders_run()
    assert str(sheet.user_id) in _ids(events, "reminder")


@time_machine.travel(TUESDAY_AFTER, tick=False)
def test_auto_submit_at_period_end(in_tenant, team, emitted):
    in_tenant.auto_submit_timesheets = True
    draft = TimesheetFactory(user_id=team["draft"].user_id, period_start=MONDAY)
    make_entry(user_id=team["missing"].user_id, started_at=at(MONDAY), seconds=600)
    # A timer still running since the closed week blocks auto-submission.
    running = _member(in_tenant)
    make_entry(
        user_id=running.user_id,
        started_at=at(MONDAY + datetime.timedelta(days=6), 20),
        seconds=None,
    )
    TimesheetFactory(user_id=running.user_id, period_start=MONDAY)
    idle = _member(in_tenant)

    with emitted() as events:
        stats = reminders.timesheet_reminders_run()

    draft.refresh_from_db()
    assert draft.status == S.SUBMITTED
    with_time = Timesheet.objects.get(user_id=team["missing"].user_id, period_start=MONDAY)
    assert with_time.status == S.SUBMITTED
    event = TimesheetEvent.objects.get(timesheet=with_time)
    assert (event.actor_id, event.to_status) == (None, S.SUBMITTED)
    assert stats["auto_submitted"] >= 2
    reminded = _ids(events, "reminder")
    assert str(running.user_id) in reminded
    assert str(idle.user_id) in reminded  # nothing to submit: a reminder instead
    assert Timesheet.objects.get(user_id=running.user_id).status == S.DRAFT
    submitted_ops = [e for e in events if e.op == "submitted"]
    assert {e.data["user"] for e in submitted_ops} >= {
        str(team["draft"].user_id),
        str(team["missing"].user_id),
    }


@time_machine.travel(TUESDAY_AFTER, tick=False)
def test_the_beat_job_fans_out_one_task_per_writable_customer(tenant, other_tenant, monkeypatch):
    schemas = []
    monkeypatch.setattr(
        tasks.reminders_for_tenant, "delay", lambda: schemas.append(connection.schema_name)
    )
    count = tasks.reminders_all_tenants()
    assert tenant.schema_name in schemas and other_tenant.schema_name in schemas
    assert count == len(schemas) == len(set(schemas))
    assert connection.schema_name == "public"

    other_tenant.status = "suspended"
    other_tenant.save()
    schemas.clear()
    tasks.reminders_all_tenants()
    assert other_tenant.schema_name not in schemas


@time_machine.travel(TUESDAY_AFTER, tick=False)
def test_the_tenant_task_runs_in_its_schema_only(tenant, other_tenant, in_tenant, team):
    result = tasks.reminders_for_tenant.apply().get()
    assert result["reminded"] >= 2
    assert Timesheet.objects.filter(user_id=team["missing"].user_id).exists()
    from django_tenants.utils import tenant_context

    with tenant_context(other_tenant):
        assert not Timesheet.objects.filter(user_id=team["missing"].user_id).exists()


@time_machine.travel(TUESDAY_AFTER, tick=False)
def test_approver_digest_does_not_query_per_sheet(in_tenant, team):
    from django.test.utils import CaptureQueriesContext

    def pending(n):
        for _ in range(n):
            m = _member(in_tenant)
            TimesheetFactory(user_id=m.user_id, period_start=MONDAY, status=S.SUBMITTED)

    pending(2)
    with CaptureQueriesContext(connection) as few:
        reminders._remind_approvers(org=in_tenant, now=timezone.now(), users={})
    pending(12)
    with CaptureQueriesContext(connection) as many:
        reminders._remind_approvers(org=in_tenant, now=timezone.now(), users={})
    assert len(few) == len(many)


@time_machine.travel(TUESDAY_AFTER, tick=False)
def test_limited_approver_digest_loads_project_leads_once_and_reaches_the_same_people(
    in_tenant, emitted
):
    """With approvers limited to managed projects, the project leads of all
    pending sheets' users come in one query (not one per sheet), and each
    manager still hears about exactly the sheets of their projects' members."""
    from django.test.utils import CaptureQueriesContext

    from apps.projects.constants import ProjectRole
    from apps.projects.tests.factories import ProjectFactory, ProjectMemberFactory

    in_tenant.approvers_limited_to_managed_projects = True
    admin = _member(in_tenant, Role.ADMIN)
    idle = _member(in_tenant, Role.MANAGER)  # leads nothing: hears nothing

    def team_of(n, *, deleted=False):
        """A project led by a new manager, with ``n`` members whose sheets wait."""
        lead = _member(in_tenant, Role.MANAGER)
        project = ProjectFactory()
        ProjectMemberFactory(project=project, user_id=lead.user_id, role=ProjectRole.LEAD)
        ProjectMemberFactory(project=project, user_id=idle.user_id)  # a plain member
        sheets = []
        for _ in range(n):
            m = _member(in_tenant)
            ProjectMemberFactory(project=project, user_id=m.user_id)
            sheets.append(
                TimesheetFactory(user_id=m.user_id, period_start=MONDAY, status=S.SUBMITTED)
            )
        if deleted:
            project.soft_delete()
        return lead, sheets

    def run():
        with emitted() as events, CaptureQueriesContext(connection) as queries:
            reminders._remind_approvers(org=in_tenant, now=timezone.now(), users={})
        digests = {
            e.user_ids[0]: {str(i) for i in e.data["ids"]}
            for e in events
            if e.op == "approval_reminder"
        }
        return len(queries), digests

    lead, sheets = team_of(1)
    few, digests = run()
    assert digests[str(lead.user_id)] == {str(s.pk) for s in sheets}
    assert digests[str(admin.user_id)] == {str(s.pk) for s in sheets}
    assert str(idle.user_id) not in digests

    leads_and_sheets = [team_of(3), team_of(2), team_of(2, deleted=True)]
    sheets = [s for _, team in leads_and_sheets for s in team]
    # who each sheet reaches, asked one sheet at a time (the unbatched path)
    expected = {
        s.pk: approvers.timesheet_approver_ids(user_id=s.user_id, organization=in_tenant)
        for s in sheets
    }
    many, digests = run()
    assert few == many
    for (lead, team), reached in zip(leads_and_sheets, (True, True, False), strict=True):
        assert digests.get(str(lead.user_id), set()) == (
            {str(s.pk) for s in team} if reached else set()
        )
    assert digests[str(admin.user_id)] == {str(s.pk) for s in sheets}
    assert str(idle.user_id) not in digests
    for sheet in sheets:
        reached = {who for who, ids in digests.items() if str(sheet.pk) in ids}
        assert reached == set(expected[sheet.pk])
