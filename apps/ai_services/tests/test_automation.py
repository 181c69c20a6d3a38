"""Automation runners on real data, the run log, and the Celery fan-out."""

from __future__ import annotations

import datetime
import uuid
import zoneinfo

import pytest
import time_machine
from django.db import connection

from apps.ai_services import automation, tasks
from apps.ai_services.models import AutomationRule, MissingDayReminder, RuleRun, SuggestionModel
from apps.common.errors import ConflictError
from apps.time_entries.models import TimeEntry
from apps.timesheets.constants import TimesheetStatus
from apps.timesheets.models import Timesheet, TimesheetEvent

from .factories import (
    ProjectFactory,
    RuleFactory,
    TimeEntryFactory,
    TimesheetFactory,
    entry_at,
    member_of,
)

pytestmark = pytest.mark.django_db
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
# Thursday 26 Nov 2026 12:00 Berlin.
NOW = datetime.datetime(2026, 11, 26, 12, 0, tzinfo=BERLIN)


@pytest.fixture
def org(in_tenant):
    in_tenant.timezone = "Europe/Berlin"
    in_tenant.save(update_fields=["timezone"])
    return in_tenant


def _local(day, hour, minute=0):
    return datetime.datetime(2026, 11, day, hour, minute, tzinfo=BERLIN)


def _running(user_id, start, project=None):
    return TimeEntryFactory(
        user_id=user_id,
        project=project or ProjectFactory(),
        started_at=start,
        ended_at=None,
        duration_seconds=None,
    )


@time_machine.travel(NOW, tick=False)
def test_auto_stop_stops_at_the_exact_local_time(org, emitted):
    yesterday = _running(member_of(org).user_id, _local(25, 9))
    evening = _running(member_of(org).user_id, _local(25, 19))  # next 18:00 is tonight
    morning = _running(member_of(org).user_id, _local(26, 9))
    rule = RuleFactory(kind="auto_stop_timers_at", params={"time": "18:00"})

    with emitted() as events:
        run = automation.rule_run(rule)

    assert run.status == "ok" and run.affected_count == 1
    assert run.details["stopped"] == [str(yesterday.pk)]
    yesterday.refresh_from_db()
    assert yesterday.ended_at == _local(25, 18)
    assert yesterday.duration_seconds == 9 * 3600
    assert (
        TimeEntry.objects.filter(pk__in=[evening.pk, morning.pk], ended_at__isnull=True).count()
        == 2
    )
    assert [(e.type, e.op) for e in events] == [("timer", "stopped")]
    assert automation.rule_run(rule).affected_count == 0  # idempotent


@time_machine.travel(datetime.datetime(2026, 10, 26, 12, 0, tzinfo=BERLIN), tick=False)
def test_auto_stop_time_is_local_across_a_dst_change(org):
    """The stop time is computed in SQL, in the organization's calendar: the
    day the clocks go back has 25 hours and 18:00 is 17:00 UTC again."""
    saturday = _running(member_of(org).user_id, datetime.datetime(2026, 10, 24, 20, tzinfo=BERLIN))
    rule = RuleFactory(kind="auto_stop_timers_at", params={"time": "18:00"})

    assert automation.rule_run(rule).affected_count == 1

    saturday.refresh_from_db()
    assert saturday.ended_at == datetime.datetime(2026, 10, 25, 17, tzinfo=datetime.UTC)
    assert saturday.duration_seconds == 23 * 3600  # 22 on the clock, one hour twice


@time_machine.travel(NOW, tick=False)
def test_auto_stop_respects_locked_timesheets(org):
    member = member_of(org)
    entry = _running(member.user_id, _local(20, 9))
    TimesheetFactory(
        user_id=member.user_id,
        period_start=datetime.date(2026, 11, 16),
        period_end=datetime.date(2026, 11, 22),
        status=TimesheetStatus.APPROVED,
    )
    rule = RuleFactory(kind="auto_stop_timers_at", params={"time": "18:00"})

    run = automation.rule_run(rule)

    assert run.status == "ok" and run.affected_count == 0
    assert run.details["skipped"] == [str(entry.pk)]
    entry.refresh_from_db()
    assert entry.ended_at is None


@time_machine.travel(NOW, tick=False)
def test_auto_submit_submits_closed_draft_periods(org, emitted):
    member = member_of(org)
    project = ProjectFactory()
    entry_at(member.user_id, project, _local(17, 9))
    due = TimesheetFactory(
        user_id=member.user_id,
        period_start=datetime.date(2026, 11, 16),
        period_end=datetime.date(2026, 11, 22),
    )
    current = TimesheetFactory(
        user_id=member.user_id,
        period_start=datetime.date(2026, 11, 23),
        period_end=datetime.date(2026, 11, 29),
    )
    patient = RuleFactory(kind="auto_submit_timesheets", params={"grace_days": 7})
    rule = RuleFactory(kind="auto_submit_timesheets", params={"grace_days": 0})

    assert automation.rule_run(patient).affected_count == 0
    with emitted() as events:
        run = automation.rule_run(rule)

    assert run.affected_count == 1 and run.details["submitted"] == [str(due.pk)]
    due.refresh_from_db()
    current.refresh_from_db()
    assert due.status == TimesheetStatus.SUBMITTED and current.status == TimesheetStatus.DRAFT
    event = TimesheetEvent.objects.get(timesheet=due)
    assert event.actor_id is None and event.to_status == TimesheetStatus.SUBMITTED
    assert ("timesheet", "submitted") in [(e.type, e.op) for e in events]
    assert automation.rule_run(rule).affected_count == 0


@time_machine.travel(NOW, tick=False)
def test_remind_missing_days_once_per_day(org, emitted):
    member = member_of(org)
    member.joined_at = _local(1, 9)
    member.save()
    late_joiner = member_of(org)  # joined today: nothing missed
    viewer = member_of(org, role="viewer")
    viewer.joined_at = _local(1, 9)
    viewer.save()
    entry_at(member.user_id, ProjectFactory(), _local(23, 9))
    rule = RuleFactory(kind="remind_missing_days", params={"lookback_days": 3})

    with emitted() as events:
        run = automation.rule_run(rule)

    assert run.affected_count == 2
    assert run.details["reminded"] == {str(member.user_id): ["2026-11-24", "2026-11-25"]}
    [event] = events
    assert (event.type, event.op) == ("reminder", "created")
    assert event.user_ids == (str(member.user_id),)
    assert event.data["days"] == ["2026-11-24", "2026-11-25"]
    assert MissingDayReminder.objects.count() == 2
    assert late_joiner.user_id not in set(
        MissingDayReminder.objects.values_list("user_id", flat=True)
    )
    with emitted() as again:
        assert automation.rule_run(rule).affected_count == 0
    assert again == []


@time_machine.travel(NOW, tick=False)
def test_auto_tag_by_keyword(org):
    member = member_of(org)
    locked_member = member_of(org)
    project = ProjectFactory()
    hit = entry_at(member.user_id, project, _local(25, 9), description="Daily STANDUP", tags=["x"])
    done = entry_at(member.user_id, project, _local(24, 9), description="standup", tags=["meeting"])
    old = entry_at(member.user_id, project, _local(10, 9), description="standup")
    other = entry_at(member.user_id, project, _local(25, 11), description="coding")
    locked = entry_at(locked_member.user_id, project, _local(20, 9), description="standup")
    TimesheetFactory(
        user_id=locked_member.user_id,
        period_start=datetime.date(2026, 11, 16),
        period_end=datetime.date(2026, 11, 22),
        status=TimesheetStatus.SUBMITTED,
    )
    rule = RuleFactory(kind="auto_tag_by_keyword", params={"keyword": "standup", "tag": "meeting"})

    run = automation.rule_run(rule)

    assert run.affected_count == 1 and run.details["entries"] == [str(hit.pk)]
    tags = dict(TimeEntry.objects.values_list("pk", "tags"))
    assert tags[hit.pk] == ["x", "meeting"]
    assert tags[done.pk] == ["meeting"]
    assert tags[old.pk] == [] and tags[other.pk] == [] and tags[locked.pk] == []
    assert automation.rule_run(rule).affected_count == 0


# --- batches: one run is bounded, every qualifying object is reached -------------------


def _runs_until_quiet(rule, limit=10):
    """Run ``rule`` until a run changes nothing (at most ``limit`` runs)."""
    runs = []
    while len(runs) < limit:
        runs.append(automation.rule_run(rule))
        assert runs[-1].status == "ok", runs[-1].error
        if runs[-1].affected_count == 0:
            return runs
    raise AssertionError(f"still changing after {limit} runs")


@time_machine.travel(NOW, tick=False)
def test_remind_missing_days_reaches_members_beyond_the_batch(org, monkeypatch, emitted):
    """The first members of a batch are reminded and leave it: the next runs
    remind the next ones (a slice of all members would take the same first
    ones every time)."""
    monkeypatch.setattr(automation, "RUN_BATCH", 3)
    members = [member_of(org, joined_at=_local(1, 9)) for _ in range(7)]
    rule = RuleFactory(kind="remind_missing_days", params={"lookback_days": 1})

    with emitted() as events:
        runs = _runs_until_quiet(rule)

    assert all(run.affected_count <= 3 for run in runs)
    reminded = [u for run in runs for u in run.details["reminded"]]
    assert len(reminded) == len(set(reminded))  # once each
    assert {str(m.user_id) for m in members} <= set(reminded)
    assert set(MissingDayReminder.objects.values_list("user_id", flat=True)) >= {
        m.user_id for m in members
    }
    assert {e.user_ids[0] for e in events} >= {str(m.user_id) for m in members}
    assert all(e.data["days"] == ["2026-11-25"] for e in events)


@time_machine.travel(NOW, tick=False)
def test_auto_stop_reaches_timers_behind_locked_ones(org, monkeypatch):
    """Timers in locked timesheets are left out in SQL (and listed as
    skipped): they never fill the batch of the timers that can be stopped."""
    locked = []
    for start in (_local(20, 9), _local(20, 10)):
        member = member_of(org)
        locked.append(_running(member.user_id, start))
        TimesheetFactory(user_id=member.user_id, status=TimesheetStatus.APPROVED)
    # Started on a free Sunday; its stop time (Monday 18:00) is in a locked week.
    member = member_of(org)
    locked.append(_running(member.user_id, _local(22, 19)))
    TimesheetFactory(
        user_id=member.user_id,
        period_start=datetime.date(2026, 11, 23),
        period_end=datetime.date(2026, 11, 29),
        status=TimesheetStatus.SUBMITTED,
    )
    # Older than the locked ones: behind them in any newest-first slice.
    free = [_running(member_of(org).user_id, _local(day, 9)) for day in (16, 17, 18, 19)]
    rule = RuleFactory(kind="auto_stop_timers_at", params={"time": "18:00"})
    monkeypatch.setattr(automation, "RUN_BATCH", 3)

    runs = _runs_until_quiet(rule)

    assert [run.affected_count for run in runs] == [3, 1, 0]
    assert sorted(pk for run in runs for pk in run.details["stopped"]) == sorted(
        str(e.pk) for e in free
    )
    for entry in free:
        entry.refresh_from_db()
        assert entry.ended_at == entry.started_at.astimezone(BERLIN).replace(hour=18)
    assert sorted(runs[-1].details["skipped"]) == sorted(str(e.pk) for e in locked)
    assert TimeEntry.objects.filter(pk__in=[e.pk for e in locked], ended_at=None).count() == 3


@time_machine.travel(NOW, tick=False)
def test_auto_stop_walks_past_timers_the_service_refuses(org, monkeypatch):
    """A refusal the SQL filter does not foresee (here a stand-in for any
    ``ApplicationError`` of ``timer_stop``) leaves the timer running: the
    rule's cursor moves past it, so the timers behind it are stopped by the
    next runs instead of never."""
    monkeypatch.setattr(automation, "RUN_BATCH", 3)
    stubborn = {  # refused by the stand-in below
        TimeEntryFactory(
            id=uuid.UUID(int=n),  # first in key order
            user_id=member_of(org).user_id,
            started_at=_local(25, 9 + n),  # and the newest
            ended_at=None,
            duration_seconds=None,
        ).user_id
        for n in (1, 2, 3)
    }
    free = [_running(member_of(org).user_id, _local(day, 9)) for day in (19, 20, 23, 24)]
    real_stop = automation.timer_stop

    def refusing_stop(*, user_id, at):
        if user_id in stubborn:
            raise ConflictError("Refused.", code="refused_for_the_test")
        return real_stop(user_id=user_id, at=at)

    monkeypatch.setattr(automation, "timer_stop", refusing_stop)
    rule = RuleFactory(kind="auto_stop_timers_at", params={"time": "18:00"})

    runs = [automation.rule_run(rule) for _ in range(4)]  # ceil(7 / 3) + 1

    assert all(len(r.details["stopped"]) + len(r.details["skipped"]) <= 3 for r in runs)
    assert sum(run.affected_count for run in runs) == 4
    assert TimeEntry.objects.filter(pk__in=[e.pk for e in free], ended_at=None).count() == 0
    assert TimeEntry.objects.filter(user_id__in=stubborn, ended_at=None).count() == 3
    assert AutomationRule.objects.get(pk=rule.pk).cursor is not None


def _draft(member, week_start, **kwargs):
    return TimesheetFactory(
        user_id=member.user_id,
        period_start=week_start,
        period_end=week_start + datetime.timedelta(days=6),
        **kwargs,
    )


@time_machine.travel(NOW, tick=False)
def test_auto_submit_reaches_sheets_behind_refused_ones(org, monkeypatch):
    """Sheets refused with ``timer_running`` are left out in SQL (and listed
    as refused) until the timer stops: they never fill the batch."""
    monkeypatch.setattr(automation, "RUN_BATCH", 3)
    waiting = []
    for _ in range(3):
        member = member_of(org)
        _running(member.user_id, _local(20, 9))  # runs into the period
        waiting.append(_draft(member, datetime.date(2026, 11, 16)))  # newest periods
    free = [_draft(member_of(org), datetime.date(2026, 11, 9)) for _ in range(4)]
    rule = RuleFactory(kind="auto_submit_timesheets", params={"grace_days": 0})

    runs = _runs_until_quiet(rule)

    assert [run.affected_count for run in runs] == [3, 1, 0]
    assert sorted(pk for run in runs for pk in run.details["submitted"]) == sorted(
        str(s.pk) for s in free
    )
    assert sorted(runs[-1].details["refused"]) == sorted(str(s.pk) for s in waiting)
    for sheet in waiting:
        sheet.refresh_from_db()
        assert sheet.status == TimesheetStatus.DRAFT
    # Once the timers stop, the waiting sheets go too.
    TimeEntry.objects.filter(ended_at=None).update(
        ended_at=_local(20, 17), duration_seconds=8 * 3600
    )
    assert automation.rule_run(rule).affected_count == 3


@time_machine.travel(NOW, tick=False)
def test_auto_submit_walks_past_sheets_the_service_refuses(org, monkeypatch):
    """As for timers: a sheet ``timesheet_submit`` keeps refusing for a reason
    the SQL filter does not know never holds back the sheets behind it."""
    monkeypatch.setattr(automation, "RUN_BATCH", 3)
    stubborn = {
        _draft(member_of(org), datetime.date(2026, 11, 16), id=uuid.UUID(int=n)).pk
        for n in (1, 2, 3)
    }
    free = [_draft(member_of(org), datetime.date(2026, 11, 9)) for _ in range(4)]
    real_submit = automation.timesheet_submit

    def refusing_submit(*, timesheet, **kwargs):
        if timesheet.pk in stubborn:
            raise ConflictError("Refused.", code="refused_for_the_test")
        return real_submit(timesheet=timesheet, **kwargs)

    monkeypatch.setattr(automation, "timesheet_submit", refusing_submit)
    rule = RuleFactory(kind="auto_submit_timesheets", params={"grace_days": 0})

    runs = [automation.rule_run(rule) for _ in range(4)]  # ceil(7 / 3) + 1

    assert all(len(r.details["submitted"]) + len(r.details["refused"]) <= 3 for r in runs)
    assert sum(run.affected_count for run in runs) == 4
    statuses = dict(Timesheet.objects.values_list("pk", "status"))
    assert {statuses[s.pk] for s in free} == {TimesheetStatus.SUBMITTED}
    assert {statuses[pk] for pk in stubborn} == {TimesheetStatus.DRAFT}
    assert AutomationRule.objects.get(pk=rule.pk).cursor is not None


@time_machine.travel(NOW, tick=False)
def test_auto_tag_reaches_entries_beyond_the_batch(org, monkeypatch):
    """Locked entries are left out in SQL and tagged ones leave the set:
    nothing can hold the next batch back."""
    monkeypatch.setattr(automation, "RUN_BATCH", 3)
    project = ProjectFactory()
    locked_member = member_of(org)
    TimesheetFactory(user_id=locked_member.user_id, status=TimesheetStatus.APPROVED)
    locked = [  # the oldest: first in the run's order
        entry_at(locked_member.user_id, project, _local(day, 9), description="standup")
        for day in (16, 17, 18)
    ]
    member = member_of(org)
    free = [
        entry_at(member.user_id, project, _local(day, 9), description="standup")
        for day in (23, 24, 25, 26)
    ]
    rule = RuleFactory(
        kind="auto_tag_by_keyword",
        params={"keyword": "standup", "tag": "meeting", "lookback_days": 14},
    )

    runs = _runs_until_quiet(rule)

    assert [run.affected_count for run in runs] == [3, 1, 0]
    tags = dict(TimeEntry.objects.values_list("pk", "tags"))
    assert all(tags[e.pk] == ["meeting"] for e in free)
    assert all(tags[e.pk] == [] for e in locked)


@time_machine.travel(NOW, tick=False)
def test_auto_tag_leaves_entries_reaching_into_a_locked_sheet(org):
    """The lock is about the entry's whole span, as for every entry write:
    an entry from Sunday night into a locked Monday is read-only."""
    member = member_of(org)
    project = ProjectFactory()
    TimesheetFactory(
        user_id=member.user_id,
        period_start=datetime.date(2026, 11, 23),
        period_end=datetime.date(2026, 11, 29),
        status=TimesheetStatus.SUBMITTED,
    )
    overnight = entry_at(member.user_id, project, _local(22, 23), 2 * 3600, description="standup")
    sunday = entry_at(member.user_id, project, _local(22, 9), description="standup")
    rule = RuleFactory(kind="auto_tag_by_keyword", params={"keyword": "standup", "tag": "m"})

    run = automation.rule_run(rule)

    assert run.details["entries"] == [str(sunday.pk)]
    overnight.refresh_from_db()
    assert overnight.tags == []


@time_machine.travel(NOW, tick=False)
def test_a_broken_rule_is_logged_and_does_not_stop_the_others(org):
    broken = RuleFactory(kind="auto_stop_timers_at", params={"time": "25:99"})
    fine = RuleFactory(kind="auto_submit_timesheets", params={})
    RuleFactory(kind="auto_submit_timesheets", params={}, enabled=False)

    runs = automation.automation_run_tenant()

    assert {r.rule_id: r.status for r in runs} == {broken.pk: "failed", fine.pk: "ok"}
    failed = RuleRun.objects.get(rule=broken)
    assert "time" in failed.error and failed.finished_at is not None
    broken.refresh_from_db()
    assert broken.last_run_at == failed.finished_at


def test_fan_out_sends_one_task_per_serving_organization(tenant, other_tenant, monkeypatch):
    sent = []
    monkeypatch.setattr(
        tasks.automation_tenant, "delay", lambda: sent.append(connection.schema_name)
    )

    count = tasks.automation_all_tenants()

    assert count == len(sent)
    assert {tenant.schema_name, other_tenant.schema_name} <= set(sent)
    assert "public" not in sent
    from django_tenants.utils import get_tenant_model

    internal = get_tenant_model().objects.filter(status__in=["template", "pooled"])
    assert not {t.schema_name for t in internal} & set(sent)


def test_beat_task_names_are_registered():
    from config.celery import app

    for name in (
        "ai_services.automation_all_tenants",
        "ai_services.automation_tenant",
        "ai_services.train_suggestion_model",
    ):
        assert name in app.tasks


def test_tenant_task_runs_rules_and_trains_when_due(org):
    member = member_of(org)
    project = ProjectFactory()
    for n in range(35):
        entry_at(
            member.user_id,
            project,
            NOW - datetime.timedelta(days=1, hours=2 * n),
            description=f"work item {n % 5}",
        )
    RuleFactory(kind="auto_submit_timesheets", params={})

    result = tasks.automation_tenant.apply().get()

    assert result == {"runs": 1, "trained_version": 1}
    assert SuggestionModel.objects.count() == 1
    assert RuleRun.objects.count() == 1
    assert tasks.automation_tenant.apply().get() == {"runs": 1, "trained_version": None}


@time_machine.travel(NOW, tick=False)
def test_auto_tag_follows_the_entries_tag_rule(org):
    """No case-insensitive duplicate and never more than MAX_TAGS tags: the
    rule every other entry write follows (services.normalize_tags)."""
    from apps.time_entries.services import MAX_TAGS

    member = member_of(org)
    project = ProjectFactory()
    spelled = entry_at(
        member.user_id, project, _local(23, 9), description="standup", tags=["Meeting"]
    )
    full = entry_at(
        member.user_id,
        project,
        _local(24, 9),
        description="standup",
        tags=[f"t{i}" for i in range(MAX_TAGS)],
    )
    room = entry_at(
        member.user_id,
        project,
        _local(25, 9),
        description="standup",
        tags=[f"t{i}" for i in range(MAX_TAGS - 1)],
    )
    rule = RuleFactory(kind="auto_tag_by_keyword", params={"keyword": "standup", "tag": "meeting"})

    run = automation.rule_run(rule)

    assert run.details["entries"] == [str(room.pk)]
    tags = dict(TimeEntry.objects.values_list("pk", "tags"))
    assert tags[spelled.pk] == ["Meeting"]
    assert tags[full.pk] == [f"t{i}" for i in range(MAX_TAGS)]
    assert tags[room.pk] == [f"t{i}" for i in range(MAX_TAGS - 1)] + ["meeting"]
