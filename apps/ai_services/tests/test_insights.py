"""GET /api/v1/ai/insights/: each detector on real data, scopes, isolation."""

from __future__ import annotations

import datetime
import zoneinfo
from decimal import Decimal

import pytest
import time_machine
from django_tenants.utils import tenant_context

from apps.common.testing import expect
from apps.timesheets.constants import TimesheetStatus

from .factories import (
    ProjectFactory,
    TimeEntryFactory,
    TimesheetFactory,
    client_as,
    entry_at,
    member_of,
)

pytestmark = pytest.mark.django_db
URL = "/api/v1/ai/insights/"
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
# Thursday 26 Nov 2026 12:00 Berlin.
NOW = datetime.datetime(2026, 11, 26, 12, 0, tzinfo=BERLIN)


@pytest.fixture
def org(in_tenant):
    in_tenant.timezone = "Europe/Berlin"
    in_tenant.forgotten_timer_hours = 10
    in_tenant.save(update_fields=["timezone", "forgotten_timer_hours"])
    return in_tenant


def _local(day: int, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(2026, 11, day, hour, minute, tzinfo=BERLIN)


def _kinds(body):
    return [r["kind"] for r in body["results"]]


def _of(body, kind):
    return [r for r in body["results"] if r["kind"] == kind]


def _full_weeks(user_id, project, days=range(12, 26)):
    """8 h on every working day of the window (so no missing days)."""
    for day in days:
        if datetime.date(2026, 11, day).weekday() < 5:
            entry_at(user_id, project, _local(day, 9), 8 * 3600)


@time_machine.travel(NOW, tick=False)
def test_forgotten_timer(org):
    member = member_of(org)
    project = ProjectFactory(name="Website")
    _full_weeks(member.user_id, project, days=range(12, 25))
    entry = TimeEntryFactory(
        user_id=member.user_id,
        project=project,
        started_at=_local(25, 18),
        ended_at=None,
        duration_seconds=None,
    )

    body = expect(client_as(org, member).get(URL), 200)

    [found] = _of(body, "forgotten_timer")
    assert found["severity"] == "warning"  # 18 h: more than 10, less than 24
    assert found["objects"] == [{"type": "time_entry", "id": str(entry.pk)}]
    assert f"/api/v1/time-entries/{entry.pk}/" in found["links"]
    assert found["data"]["running_seconds"] == 18 * 3600
    assert "Website" in found["message"]
    assert found["user"] == str(member.user_id)


@time_machine.travel(NOW, tick=False)
def test_overlap_only_reported_for_entries_allowed_to_overlap(org):
    member = member_of(org)
    project = ProjectFactory()
    a = entry_at(member.user_id, project, _local(24, 9), 2 * 3600, overlap_allowed=True)
    b = entry_at(member.user_id, project, _local(24, 10), 2 * 3600, overlap_allowed=True)
    entry_at(member.user_id, project, _local(24, 13), 3600)  # touches nothing

    body = expect(client_as(org, member).get(URL), 200)

    [found] = _of(body, "overlap")
    assert {o["id"] for o in found["objects"]} == {str(a.pk), str(b.pk)}
    assert found["data"]["overlap_seconds"] == 3600


@time_machine.travel(NOW, tick=False)
def test_long_day_against_the_users_usual_day(org):
    member = member_of(org)
    project = ProjectFactory()
    _full_weeks(member.user_id, project, days=range(12, 24))
    entry_at(member.user_id, project, _local(24, 7), 13 * 3600)
    entry_at(member.user_id, project, _local(25, 8), 9 * 3600)  # a bit long, not unusual

    body = expect(client_as(org, member).get(URL), 200)

    [found] = _of(body, "long_day")
    assert found["data"]["day"] == "2026-11-24"
    assert found["data"]["total_seconds"] == 13 * 3600
    assert found["severity"] == "warning"


@time_machine.travel(NOW, tick=False)
def test_missing_working_days_in_the_org_calendar(org):
    member = member_of(org)
    member.joined_at = _local(1, 9)
    member.save()
    project = ProjectFactory()
    _full_weeks(member.user_id, project, days=[d for d in range(12, 26) if d not in (17, 23, 24)])
    # 23:30 on the 23rd in Berlin is still the 23rd (UTC would say the 23rd too);
    # 00:30 on the 24th Berlin is the 23rd in UTC: counted on the 24th.
    entry_at(member.user_id, project, _local(24, 0, 30), 1800)

    body = expect(client_as(org, member).get(URL), 200)

    [found] = _of(body, "missing_day")
    assert found["data"]["days"] == ["2026-11-17", "2026-11-23"]  # 22nd is a Sunday


@time_machine.travel(NOW, tick=False)
def test_budget_burn_forecast_before_end_date(org):
    project = ProjectFactory(
        name="Portal", budget_hours=Decimal("100"), end_date=datetime.date(2027, 1, 31)
    )
    safe = ProjectFactory(
        name="Slow", budget_hours=Decimal("1000"), end_date=datetime.date(2027, 1, 31)
    )
    over = ProjectFactory(name="Over", budget_amount=Decimal("500.00"))
    member = member_of(org)
    # 56 h in the last 28 days (2 h/day) on Portal: 44 h left → 22 days → 18 Dec.
    for day in range(28):
        entry_at(member.user_id, project, NOW - datetime.timedelta(days=day, hours=3), 2 * 3600)
    entry_at(member.user_id, safe, NOW - datetime.timedelta(days=2, hours=6), 3600)
    entry_at(member.user_id, over, NOW - datetime.timedelta(days=40), 3600, amount=Decimal("600"))

    team = expect(client_as(org, "manager").get(URL), 200)
    mine = expect(client_as(org, member).get(URL), 200)

    burns = {r["objects"][0]["id"]: r for r in _of(team, "budget_burn")}
    assert set(burns) == {str(project.pk), str(over.pk)}
    assert burns[str(project.pk)]["data"]["projected_date"] == "2026-12-18"
    assert burns[str(project.pk)]["severity"] == "warning"
    assert burns[str(over.pk)]["severity"] == "critical"
    assert team["results"][0]["severity"] == "critical"  # most severe first
    assert _of(mine, "budget_burn") == []  # budgets are a team view


@time_machine.travel(NOW, tick=False)
def test_missing_timesheet_for_closed_periods(org):
    member = member_of(org)
    project = ProjectFactory()
    entry_at(member.user_id, project, _local(10, 9), 3600)  # week of 9 Nov: no sheet
    entry_at(member.user_id, project, _local(17, 9), 3600)  # week of 16 Nov: submitted
    entry_at(member.user_id, project, _local(25, 9), 3600)  # this week: not closed yet
    TimesheetFactory(
        user_id=member.user_id,
        period_start=datetime.date(2026, 11, 16),
        period_end=datetime.date(2026, 11, 22),
        status=TimesheetStatus.SUBMITTED,
    )

    body = expect(client_as(org, member).get(URL), 200)

    [found] = _of(body, "missing_timesheet")
    assert found["data"]["period_start"] == "2026-11-09"


@time_machine.travel(NOW, tick=False)
def test_scope_members_see_only_themselves(org):
    me, other = member_of(org), member_of(org)
    project = ProjectFactory()
    for m in (me, other):
        TimeEntryFactory(
            user_id=m.user_id,
            project=project,
            started_at=_local(20, 9),
            ended_at=None,
            duration_seconds=None,
        )

    mine = expect(client_as(org, me).get(URL), 200)
    team = expect(client_as(org, "manager").get(URL), 200)
    expect(client_as(org, me).get(URL, {"scope": "team"}), 403, "role_required")
    own = expect(client_as(org, "manager").get(URL, {"scope": "me"}), 200)

    assert mine["scope"] == "me" and team["scope"] == "team"
    assert {r["user"] for r in _of(mine, "forgotten_timer")} == {str(me.user_id)}
    both = {str(me.user_id), str(other.user_id)}
    assert {r["user"] for r in _of(team, "forgotten_timer")} == both
    assert own["results"] == []


def test_other_organizations_data_never_appears(tenant, other_tenant):
    with tenant_context(other_tenant):
        outsider = member_of(other_tenant)
        TimeEntryFactory(
            user_id=outsider.user_id,
            started_at=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
            ended_at=None,
            duration_seconds=None,
        )
    with tenant_context(tenant):
        body = expect(client_as(tenant, "owner").get(URL), 200)
    assert body["results"] == []


def test_query_count_does_not_grow_with_data(org, django_assert_max_num_queries):
    members = [member_of(org) for _ in range(5)]
    project = ProjectFactory(budget_hours=Decimal("10"), end_date=datetime.date(2030, 1, 1))
    for m in members:
        for day in range(1, 10):
            entry_at(m.user_id, project, NOW - datetime.timedelta(days=day), 3600)
    client = client_as(org, "owner")
    with django_assert_max_num_queries(14):
        expect(client.get(URL), 200)


@pytest.mark.parametrize("query", [{"scope": "all"}, {"days": 0}, {"days": 61}, {"days": "x"}])
def test_bad_query_is_400(in_tenant, query):
    expect(client_as(in_tenant, "member").get(URL, query), 400, "invalid")
