"""The state machine, approver rules, snapshot and linking, at the service
level (every caller — API, Celery, admin — goes through these)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from apps.common.errors import ApplicationError
from apps.organizations.constants import Role
from apps.organizations.tests.factories import MembershipFactory
from apps.projects.constants import ProjectRole
from apps.projects.tests.factories import ProjectFactory, ProjectMemberFactory
from apps.time_entries.models import TimeEntry
from apps.timesheets import services
from apps.timesheets.constants import TimesheetStatus as S
from apps.timesheets.models import Timesheet, TimesheetEvent

from .factories import TimesheetFactory, at, make_entry

pytestmark = pytest.mark.django_db

MONDAY = datetime.date(2026, 11, 2)


@pytest.fixture
def member(tenant):
    return MembershipFactory(organization=tenant, role=Role.MEMBER)


@pytest.fixture
def manager(tenant):
    return MembershipFactory(organization=tenant, role=Role.MANAGER)


@pytest.fixture
def admin(tenant):
    return MembershipFactory(organization=tenant, role=Role.ADMIN)


def _sheet(member, status=S.DRAFT, **kwargs):
    return TimesheetFactory(user_id=member.user_id, period_start=MONDAY, status=status, **kwargs)


def _refusal(exc):
    return exc.value.status_code, exc.value.code


# --- creation -----------------------------------------------------------------------


def test_get_or_create_returns_one_sheet_per_user_and_period(in_tenant, member):
    sheet, created = services.timesheet_get_or_create(user_id=member.user_id, period_start=MONDAY)
    again, created_again = services.timesheet_get_or_create(
        user_id=member.user_id, period_start=MONDAY
    )
    assert (created, created_again) == (True, False)
    assert again.pk == sheet.pk
    assert (sheet.period_start, sheet.period_end) == (MONDAY, datetime.date(2026, 11, 8))
    assert sheet.status == S.DRAFT


@pytest.mark.parametrize(
    ("period", "week_start", "start", "aligned"),
    [
        ("weekly", 0, datetime.date(2026, 11, 2), True),
        ("weekly", 0, datetime.date(2026, 11, 3), False),
        ("weekly", 6, datetime.date(2026, 11, 1), True),
        ("semi_monthly", 0, datetime.date(2026, 11, 16), True),
        ("semi_monthly", 0, datetime.date(2026, 11, 15), False),
        ("monthly", 0, datetime.date(2026, 2, 1), True),
        ("monthly", 0, datetime.date(2026, 2, 2), False),
    ],
)
def test_period_alignment_follows_the_organization(
    in_tenant, member, period, week_start, start, aligned
):
    in_tenant.timesheet_period = period
    in_tenant.week_start = week_start
    if aligned:
        sheet, _ = services.timesheet_get_or_create(user_id=member.user_id, period_start=start)
        assert sheet.period_start == start
    else:
        with pytest.raises(ApplicationError) as exc:
            services.timesheet_get_or_create(user_id=member.user_id, period_start=start)
        assert _refusal(exc) == (400, "period_not_aligned")
        assert not Timesheet.objects.exists()


def test_monthly_and_semi_monthly_period_ends(in_tenant, member):
    in_tenant.timesheet_period = "monthly"
    sheet, _ = services.timesheet_get_or_create(
        user_id=member.user_id, period_start=datetime.date(2028, 2, 1)
    )
    assert sheet.period_end == datetime.date(2028, 2, 29)
    in_tenant.timesheet_period = "semi_monthly"
    sheet, _ = services.timesheet_get_or_create(
        user_id=member.user_id, period_start=datetime.date(2026, 11, 16)
    )
    assert sheet.period_end == datetime.date(2026, 11, 30)


# --- transitions matrix ---------------------------------------------------------------

ALL = [S.DRAFT, S.SUBMITTED, S.APPROVED, S.REJECTED]


def _do(action, sheet, member, manager, admin):
    if action == "submit":
        return services.timesheet_submit(timesheet=sheet, actor=member)
    if action == "withdraw":
        return services.timesheet_withdraw(timesheet=sheet, actor=member)
    if action == "approve":
        return services.timesheet_approve(timesheet=sheet, actor=manager)
    if action == "reject":
        return services.timesheet_reject(timesheet=sheet, actor=manager, comment="Missing Friday.")
    return services.timesheet_reopen(timesheet=sheet, actor=admin, reason="Client disputed hours.")


LEGAL = {
    ("submit", S.DRAFT): S.SUBMITTED,
    ("submit", S.REJECTED): S.SUBMITTED,
    ("withdraw", S.SUBMITTED): S.DRAFT,
    ("approve", S.SUBMITTED): S.APPROVED,
    ("reject", S.SUBMITTED): S.REJECTED,
    ("reopen", S.APPROVED): S.DRAFT,
}


@pytest.mark.parametrize("action", ["submit", "withdraw", "approve", "reject", "reopen"])
@pytest.mark.parametrize("status", ALL)
def test_transition_matrix(in_tenant, member, manager, admin, action, status):
    sheet = _sheet(member, status)
    expected = LEGAL.get((action, status))
    if expected is None:
        with pytest.raises(ApplicationError) as exc:
            _do(action, sheet, member, manager, admin)
        assert _refusal(exc) == (409, "invalid_transition")
        sheet.refresh_from_db()
        assert sheet.status == status
        assert not TimesheetEvent.objects.exists()
        return
    _do(action, sheet, member, manager, admin)
    sheet.refresh_from_db()
    assert sheet.status == expected
    (event,) = TimesheetEvent.objects.filter(timesheet=sheet)
    assert (event.from_status, event.to_status) == (status, expected)


def test_full_cycle_records_an_ordered_audit_trail(in_tenant, member, manager, admin):
    sheet = _sheet(member)
    services.timesheet_submit(timesheet=sheet, actor=member)
    services.timesheet_reject(timesheet=sheet, actor=manager, comment="Fix Tue.")
    services.timesheet_submit(timesheet=sheet, actor=member, comment="Fixed.")
    services.timesheet_approve(timesheet=sheet, actor=manager)
    services.timesheet_reopen(timesheet=sheet, actor=admin, reason="Typo.")
    trail = list(
        TimesheetEvent.objects.filter(timesheet=sheet)
        .order_by("created_at")
        .values_list("from_status", "to_status", "actor_id", "comment")
    )
    assert trail == [
        (S.DRAFT, S.SUBMITTED, member.user_id, ""),
        (S.SUBMITTED, S.REJECTED, manager.user_id, "Fix Tue."),
        (S.REJECTED, S.SUBMITTED, member.user_id, "Fixed."),
        (S.SUBMITTED, S.APPROVED, manager.user_id, ""),
        (S.APPROVED, S.DRAFT, admin.user_id, "Typo."),
    ]
    assert sheet.approved_total_seconds is None  # reopen clears the snapshot


def test_events_are_immutable(in_tenant, member):
    sheet = _sheet(member)
    services.timesheet_submit(timesheet=sheet, actor=member)
    event = TimesheetEvent.objects.get()
    event.comment = "rewritten"
    with pytest.raises(RuntimeError):
        event.save()
    with pytest.raises(RuntimeError):
        event.delete()


def test_submit_refused_while_a_timer_runs_in_the_period(in_tenant, member):
    sheet = _sheet(member)
    make_entry(
        user_id=member.user_id, started_at=at(MONDAY + datetime.timedelta(days=2)), seconds=None
    )
    with pytest.raises(ApplicationError) as exc:
        services.timesheet_submit(timesheet=sheet, actor=member)
    assert _refusal(exc) == (409, "timer_running")
    sheet.refresh_from_db()
    assert sheet.status == S.DRAFT


def test_a_timer_started_after_the_period_does_not_block_submission(in_tenant, member):
    sheet = _sheet(member)
    make_entry(
        user_id=member.user_id, started_at=at(MONDAY + datetime.timedelta(days=8)), seconds=None
    )
    services.timesheet_submit(timesheet=sheet, actor=member)
    assert sheet.status == S.SUBMITTED


def test_withdraw_only_by_the_owner(in_tenant, member, manager):
    sheet = _sheet(member, S.SUBMITTED)
    with pytest.raises(ApplicationError) as exc:
        services.timesheet_withdraw(timesheet=sheet, actor=manager)
    assert _refusal(exc) == (403, "not_sheet_owner")
    sheet.refresh_from_db()
    assert sheet.status == S.SUBMITTED


@pytest.mark.parametrize("comment", ["", "   ", None])
def test_reject_needs_a_comment(in_tenant, member, manager, comment):
    sheet = _sheet(member, S.SUBMITTED)
    with pytest.raises(ApplicationError) as exc:
        services.timesheet_reject(timesheet=sheet, actor=manager, comment=comment)
    assert _refusal(exc) == (400, "comment_required")
    assert exc.value.extra["fields"].keys() == {"comment"}
    sheet.refresh_from_db()
    assert sheet.status == S.SUBMITTED


def test_reopen_needs_a_reason_and_admin(in_tenant, member, manager, admin):
    sheet = _sheet(member, S.APPROVED)
    with pytest.raises(ApplicationError) as exc:
        services.timesheet_reopen(timesheet=sheet, actor=admin, reason=" ")
    assert _refusal(exc) == (400, "reason_required")
    with pytest.raises(ApplicationError) as exc:
        services.timesheet_reopen(timesheet=sheet, actor=manager, reason="x")
    assert _refusal(exc) == (403, "role_required")
    sheet.refresh_from_db()
    assert sheet.status == S.APPROVED


# --- approvers ----------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_members_and_viewers_do_not_approve(in_tenant, tenant, member, role):
    other = MembershipFactory(organization=tenant, role=role)
    sheet = _sheet(member, S.SUBMITTED)
    with pytest.raises(ApplicationError) as exc:
        services.timesheet_approve(timesheet=sheet, actor=other)
    assert _refusal(exc) == (403, "role_required")
    sheet.refresh_from_db()
    assert sheet.status == S.SUBMITTED


@pytest.mark.parametrize("role", [Role.MANAGER, Role.ADMIN, Role.OWNER])
def test_nobody_approves_their_own_sheet_by_default(in_tenant, tenant, role):
    approver = MembershipFactory(organization=tenant, role=role)
    sheet = _sheet(approver, S.SUBMITTED)
    with pytest.raises(ApplicationError) as exc:
        services.timesheet_approve(timesheet=sheet, actor=approver)
    assert _refusal(exc) == (403, "self_approval")
    sheet.refresh_from_db()
    assert sheet.status == S.SUBMITTED


@pytest.mark.parametrize(("role", "allowed"), [(Role.OWNER, True), (Role.ADMIN, False)])
def test_self_approval_setting_is_for_owners_only(in_tenant, tenant, role, allowed):
    in_tenant.allow_self_approval = True
    approver = MembershipFactory(organization=tenant, role=role)
    sheet = _sheet(approver, S.SUBMITTED)
    if allowed:
        services.timesheet_approve(timesheet=sheet, actor=approver)
        assert sheet.status == S.APPROVED
    else:
        with pytest.raises(ApplicationError) as exc:
            services.timesheet_approve(timesheet=sheet, actor=approver)
        assert _refusal(exc) == (403, "self_approval")


def test_limited_approvers_decide_only_members_of_projects_they_lead(
    in_tenant, member, manager, admin
):
    in_tenant.approvers_limited_to_managed_projects = True
    sheet = _sheet(member, S.SUBMITTED)
    with pytest.raises(ApplicationError) as exc:
        services.timesheet_approve(timesheet=sheet, actor=manager)
    assert _refusal(exc) == (403, "not_sheet_approver")
    assert services.timesheet_approver_ids(user_id=member.user_id) == [str(admin.user_id)]

    project = ProjectFactory()
    ProjectMemberFactory(project=project, user_id=member.user_id)
    ProjectMemberFactory(project=project, user_id=manager.user_id, role=ProjectRole.MEMBER)
    with pytest.raises(ApplicationError):  # a plain project member is not its manager
        services.timesheet_approve(timesheet=sheet, actor=manager)
    ProjectMemberFactory(project=ProjectFactory(), user_id=manager.user_id, role=ProjectRole.LEAD)
    with pytest.raises(ApplicationError):  # leads another project only
        services.timesheet_approve(timesheet=sheet, actor=manager)

    project.members.filter(user_id=manager.user_id).update(role=ProjectRole.LEAD)
    services.timesheet_approve(timesheet=sheet, actor=manager)
    assert sheet.status == S.APPROVED


def test_admins_are_not_limited_to_managed_projects(in_tenant, member, admin):
    in_tenant.approvers_limited_to_managed_projects = True
    sheet = _sheet(member, S.SUBMITTED)
    services.timesheet_approve(timesheet=sheet, actor=admin)
    assert sheet.status == S.APPROVED


def test_membership_of_another_organization_cannot_approve(in_tenant, other_tenant, member):
    foreign = MembershipFactory(organization=other_tenant, role=Role.OWNER)
    sheet = _sheet(member, S.SUBMITTED)
    with pytest.raises(ApplicationError) as exc:
        services.timesheet_approve(timesheet=sheet, actor=foreign)
    assert _refusal(exc) == (403, "role_required")


# --- snapshot and linking -----------------------------------------------------------


def test_approval_snapshots_the_period_totals(in_tenant, member, manager):
    sheet = _sheet(member, S.SUBMITTED)
    uid = member.user_id
    make_entry(user_id=uid, started_at=at(MONDAY), seconds=3600, rate=Decimal("90.00"))
    make_entry(user_id=uid, started_at=at(MONDAY, 11), seconds=1800, billable=False)
    make_entry(
        user_id=uid, started_at=at(MONDAY + datetime.timedelta(days=6), 23, 30), seconds=5400
    )
    # Outside: before the period, after it, deleted, someone else's.
    make_entry(user_id=uid, started_at=at(MONDAY - datetime.timedelta(days=1), 23), seconds=7200)
    make_entry(user_id=uid, started_at=at(MONDAY + datetime.timedelta(days=7), 2), seconds=7200)
    make_entry(user_id=uid, started_at=at(MONDAY, 14), seconds=600).soft_delete()
    make_entry(user_id=manager.user_id, started_at=at(MONDAY), seconds=600)

    services.timesheet_approve(timesheet=sheet, actor=manager)
    stored = Timesheet.objects.get(pk=sheet.pk)
    assert stored.approved_total_seconds == 3600 + 1800 + 5400
    assert stored.approved_billable_seconds == 3600 + 5400
    assert stored.approved_billable_amount == Decimal("90.00") + Decimal("150.00")
    assert stored.decided_by_id == manager.user_id
    linked = TimeEntry.objects.filter(timesheet=sheet).count()
    assert linked == 3


def test_period_days_are_the_organizations_local_days(in_tenant, member, manager):
    in_tenant.timezone = "America/New_York"
    sheet = _sheet(member, S.SUBMITTED)
    # 03:00 UTC Monday is Sunday evening in New York: previous period.
    make_entry(user_id=member.user_id, started_at=at(MONDAY, 3), seconds=100)
    # 02:00 UTC next Monday is still Sunday in New York: this period.
    make_entry(
        user_id=member.user_id, started_at=at(MONDAY + datetime.timedelta(days=7), 2), seconds=200
    )
    services.timesheet_approve(timesheet=sheet, actor=manager)
    assert sheet.approved_total_seconds == 200


def test_submit_links_entries_and_unlinks_moved_ones(in_tenant, member):
    sheet = _sheet(member)
    inside = make_entry(user_id=member.user_id, started_at=at(MONDAY))
    moved = make_entry(
        user_id=member.user_id, started_at=at(MONDAY - datetime.timedelta(days=3)), timesheet=sheet
    )
    services.timesheet_submit(timesheet=sheet, actor=member)
    inside.refresh_from_db()
    moved.refresh_from_db()
    assert inside.timesheet_id == sheet.pk
    assert moved.timesheet_id is None


# --- events -------------------------------------------------------------------------


def test_submission_is_announced_to_approvers_and_decisions_to_the_owner(
    in_tenant, member, manager, admin, emitted
):
    sheet = _sheet(member)
    with emitted() as events:
        services.timesheet_submit(timesheet=sheet, actor=member)
    (event,) = events
    assert (event.type, event.op) == ("timesheet", "submitted")
    approvers = set(event.user_ids)
    assert {str(manager.user_id), str(admin.user_id)} <= approvers
    assert str(member.user_id) not in approvers
    assert event.data["id"] == str(sheet.pk)

    with emitted() as events:
        services.timesheet_approve(timesheet=sheet, actor=manager)
    (event,) = events
    assert (event.op, event.user_ids, event.data["status"]) == (
        "approved",
        (str(member.user_id),),
        "approved",
    )
    with emitted() as events:
        services.timesheet_reopen(timesheet=sheet, actor=admin, reason="r")
    assert [(e.op, e.user_ids) for e in events] == [("reopened", (str(member.user_id),))]
    services.timesheet_submit(timesheet=sheet, actor=member)
    with emitted() as events:
        services.timesheet_reject(timesheet=sheet, actor=manager, comment="No.")
    assert [(e.op, e.data["comment"]) for e in events] == [("rejected", "No.")]


def test_a_refused_transition_emits_nothing(in_tenant, member, manager, emitted):
    sheet = _sheet(member)
    with emitted() as events, pytest.raises(ApplicationError):
        services.timesheet_approve(timesheet=sheet, actor=manager)
    assert events == []


def test_bulk_approve_reports_each_id(in_tenant, tenant, member, manager):
    ok = _sheet(member, S.SUBMITTED)
    draft = TimesheetFactory(
        user_id=member.user_id, period_start=MONDAY + datetime.timedelta(days=7)
    )
    own = _sheet(manager, S.SUBMITTED)
    unknown = "00000000-0000-0000-0000-000000000000"
    results = services.timesheet_bulk_approve(
        timesheet_ids=[ok.pk, draft.pk, own.pk, unknown], actor=manager
    )
    assert [(r["id"], r["ok"], r.get("code")) for r in results] == [
        (str(ok.pk), True, None),
        (str(draft.pk), False, "invalid_transition"),
        (str(own.pk), False, "self_approval"),
        (unknown, False, "not_found"),
    ]
    assert Timesheet.objects.get(pk=ok.pk).status == S.APPROVED
    assert Timesheet.objects.get(pk=draft.pk).status == S.DRAFT


def test_a_new_period_kind_cannot_overlap_an_existing_sheet(in_tenant, member):
    weekly, _ = services.timesheet_get_or_create(user_id=member.user_id, period_start=MONDAY)
    in_tenant.timesheet_period = "monthly"
    with pytest.raises(ApplicationError) as exc:
        services.timesheet_get_or_create(
            user_id=member.user_id, period_start=datetime.date(2026, 11, 1)
        )
    assert _refusal(exc) == (409, "period_overlaps")
    assert exc.value.extra["timesheet"] == str(weekly.pk)
    assert Timesheet.objects.count() == 1
    # The next month is free.
    services.timesheet_get_or_create(
        user_id=member.user_id, period_start=datetime.date(2026, 12, 1)
    )


def test_the_database_refuses_overlapping_sheets(in_tenant, member):
    from django.db import IntegrityError, transaction

    TimesheetFactory(user_id=member.user_id, period_start=MONDAY)
    with pytest.raises(IntegrityError), transaction.atomic():
        Timesheet.objects.create(
            user_id=member.user_id,
            period_start=datetime.date(2026, 11, 1),
            period_end=datetime.date(2026, 11, 30),
        )
    # Touching periods (end day + 1 = next start) are not an overlap.
    TimesheetFactory(user_id=member.user_id, period_start=MONDAY + datetime.timedelta(days=7))


def test_withdrawal_is_announced_to_active_approvers_only(
    in_tenant, tenant, member, manager, emitted
):
    gone = MembershipFactory(organization=tenant, role=Role.ADMIN, status="deactivated")
    sheet = _sheet(member, S.SUBMITTED)
    with emitted() as events:
        services.timesheet_withdraw(timesheet=sheet, actor=member, comment="oops")
    (event,) = events
    assert (event.op, event.data["status"], event.data["comment"]) == ("withdrawn", "draft", "oops")
    assert str(manager.user_id) in event.user_ids
    assert str(gone.user_id) not in event.user_ids
    assert str(member.user_id) not in event.user_ids


def test_timesheet_for_day_finds_the_period(in_tenant, member):
    sheet, created = services.timesheet_for_day(
        user_id=member.user_id, day=datetime.date(2026, 11, 5)
    )
    assert created and sheet.period_start == MONDAY


def test_period_bounds_follow_a_dst_change_in_the_org_timezone(in_tenant, member, manager):
    # Berlin leaves summer time on Sunday 2026-10-25 (UTC+2 → UTC+1).
    in_tenant.timezone = "Europe/Berlin"
    monday = datetime.date(2026, 10, 19)
    sheet = TimesheetFactory(user_id=member.user_id, period_start=monday, status=S.SUBMITTED)
    utc = datetime.UTC
    # Monday 00:30 Berlin summer time is Sunday 22:30 UTC.
    make_entry(
        user_id=member.user_id,
        started_at=datetime.datetime(2026, 10, 18, 22, 30, tzinfo=utc),
        seconds=1,
    )
    # Sunday 23:30 Berlin winter time (22:30 UTC): last hour of the week.
    make_entry(
        user_id=member.user_id,
        started_at=datetime.datetime(2026, 10, 25, 22, 30, tzinfo=utc),
        seconds=10,
    )
    # Monday 00:30 Berlin winter time (23:30 UTC): next week.
    make_entry(
        user_id=member.user_id,
        started_at=datetime.datetime(2026, 10, 25, 23, 30, tzinfo=utc),
        seconds=100,
    )
    # Sunday 23:30 Berlin summer time the week before (21:30 UTC): previous week.
    make_entry(
        user_id=member.user_id,
        started_at=datetime.datetime(2026, 10, 18, 21, 30, tzinfo=utc),
        seconds=1000,
    )
    services.timesheet_approve(timesheet=sheet, actor=manager)
    assert sheet.approved_total_seconds == 11
