"""Automation runners on real data, the run log, and the Celery fan-out."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
import time_machine
from django.db import connection

from apps.ai_services import automation, tasks
from apps.ai_services.models import MissingDayReminder, RuleRun, SuggestionModel
from apps.time_entries.models import TimeEntry
from apps.timesheets.constants import TimesheetStatus
from apps.timesheets.models import TimesheetEvent

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
