"""Heartbeats, idle detection and the user's decision about idle periods."""

from __future__ import annotations

import datetime

import pytest
import time_machine

from apps.common.testing import clear_test_cache, expect
from apps.organizations.tests.factories import client_as
from apps.projects.tests.factories import ProjectFactory
from apps.time_entries.constants import IdleResolution
from apps.time_entries.models import IdlePeriod, TimeEntry
from apps.timesheets.models import Timesheet

from .factories import IdlePeriodFactory, TimeEntryFactory

pytestmark = pytest.mark.django_db

START = datetime.datetime(2026, 11, 26, 8, 0, tzinfo=datetime.UTC)
NOW = START + datetime.timedelta(hours=3)


def minutes(n: float) -> datetime.datetime:
    return START + datetime.timedelta(minutes=n)


@pytest.fixture
def member(in_tenant):
    return client_as(in_tenant, "member")


@pytest.fixture
def running(member):
    return TimeEntryFactory(user_id=member.user.pk, running=True, started_at=START)


def beat(client, moment):
    return client.post(
        "/api/v1/activity/heartbeat/", {"last_input_at": moment.isoformat()}, format="json"
    )


@time_machine.travel(NOW, tick=False)
def test_heartbeat_records_activity_without_idle(member, running, emitted):
    with emitted() as events:
        body = expect(beat(member, minutes(5)), 200)
        body2 = expect(beat(member, minutes(14)), 200)  # 9 min gap < 10 min threshold

    assert body["running"] is True and body["entry"] == str(running.pk)
    assert body2["idle_period"] is None
    running.refresh_from_db()
    assert running.last_activity_at == minutes(14)
    assert not IdlePeriod.objects.exists()
    assert events == []


@time_machine.travel(NOW, tick=False)
def test_gap_over_the_threshold_becomes_an_idle_period(member, running, emitted):
    beat(member, minutes(10))
    with emitted() as events:
        body = expect(beat(member, minutes(45)), 200)

    idle = IdlePeriod.objects.get()
    assert (idle.entry_id, idle.started_at, idle.ended_at) == (running.pk, minutes(10), minutes(45))
    assert body["idle_period"]["id"] == str(idle.pk)
    assert body["idle_period"]["idle_seconds"] == 35 * 60
    assert [(e.type, e.op, e.user_ids) for e in events] == [
        ("idle", "detected", (str(member.user.pk),))
    ]
    # The same input again is no new gap; an older one does not move activity back.
    expect(beat(member, minutes(45)), 200)
    expect(beat(member, minutes(20)), 200)
    running.refresh_from_db()
    assert running.last_activity_at == minutes(45)
    assert IdlePeriod.objects.count() == 1


@time_machine.travel(NOW, tick=False)
def test_threshold_is_the_organizations(in_tenant, member, running):
    in_tenant.idle_threshold_minutes = 30
    in_tenant.save(update_fields=["idle_threshold_minutes"])
    beat(member, minutes(25))
    assert not IdlePeriod.objects.exists()
    beat(member, minutes(56))
    assert IdlePeriod.objects.count() == 1


@time_machine.travel(NOW, tick=False)
def test_heartbeat_without_timer(member):
    body = expect(beat(member, minutes(1)), 200)
    assert body == {"running": False, "entry": None, "last_activity_at": None, "idle_period": None}


@time_machine.travel(NOW, tick=False)
def test_heartbeat_bad_input(member, running):
    expect(beat(member, NOW + datetime.timedelta(hours=1)), 400, "entry_in_future")
    expect(member.post("/api/v1/activity/heartbeat/", {}, format="json"), 400, "invalid")
    running.refresh_from_db()
    assert running.last_activity_at is None


def test_heartbeat_makes_few_queries(member, running, django_assert_max_num_queries):
    beat(member, minutes(1))
    # search_path, the membership, the UPDATE: nothing else on the hot path.
    with django_assert_max_num_queries(3):
        expect(beat(member, minutes(2)), 200)


def test_heartbeats_are_throttled_per_user(in_tenant, member, running, monkeypatch):
    from rest_framework.throttling import ScopedRateThrottle

    clear_test_cache()
    # monkeypatch, not assignment: restoring by assignment left the inherited
    # rates pinned on ScopedRateThrottle itself, shadowing every later patch of
    # SimpleRateThrottle's (tests/test_client_ip.py then saw no limit at all).
    rates = {**ScopedRateThrottle.THROTTLE_RATES, "heartbeat": "3/min"}
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", rates)
    moment = datetime.datetime.now(datetime.UTC)
    for _ in range(3):
        expect(beat(member, moment), 200)
    expect(beat(member, moment), 429, "throttled")
    other = client_as(in_tenant, "member")
    expect(beat(other, moment), 200)


def _idle(member, running, start=30, end=90):
    return IdlePeriodFactory(entry=running, started_at=minutes(start), ended_at=minutes(end))


def resolve(client, idle, action):
    return client.post(
        f"/api/v1/activity/idle-periods/{idle.pk}/resolve/", {"action": action}, format="json"
    )


def test_list_shows_own_periods(in_tenant, member, running):
    mine = _idle(member, running)
    other = client_as(in_tenant, "member")
    IdlePeriodFactory(entry=TimeEntryFactory(user_id=other.user.pk))
    body = expect(member.get("/api/v1/activity/idle-periods/?resolution=pending"), 200)
    assert [p["id"] for p in body["results"]] == [str(mine.pk)]


@time_machine.travel(NOW, tick=False)
def test_keep(member, running, emitted):
    idle = _idle(member, running)
    with emitted() as events:
        body = expect(resolve(member, idle, "keep"), 200)
    assert [(e.type, e.op, e.user_ids) for e in events] == [
        ("idle", "resolved", (str(member.user.pk),))
    ]
    assert body["idle_period"]["resolution"] == "kept"
    running.refresh_from_db()
    assert running.ended_at is None
    expect(resolve(member, idle, "discard"), 409, "idle_already_resolved")


@time_machine.travel(NOW, tick=False)
def test_discard_on_a_running_timer_stops_it_at_the_idle_start(member, running, emitted):
    idle = _idle(member, running)
    with emitted() as events:
        body = expect(resolve(member, idle, "discard"), 200)
    running.refresh_from_db()
    assert (running.ended_at, running.duration_seconds) == (minutes(30), 1800)
    assert body["running_entry"] is None
    assert IdlePeriod.objects.get().resolution == IdleResolution.DISCARDED
    assert ("timer", "stopped") in [(e.type, e.op) for e in events]


@time_machine.travel(NOW, tick=False)
def test_discard_in_the_middle_of_a_finished_entry_splits_it(member):
    entry = TimeEntryFactory(
        user_id=member.user.pk, started_at=START, ended_at=minutes(120), tags=["t"]
    )
    idle = _idle(member, entry)
    expect(resolve(member, idle, "discard"), 200)
    spans = list(
        TimeEntry.objects.order_by("started_at").values_list(
            "started_at", "ended_at", "duration_seconds", "tags"
        )
    )
    assert spans == [
        (START, minutes(30), 1800, ["t"]),
        (minutes(90), minutes(120), 1800, ["t"]),
    ]


@time_machine.travel(NOW, tick=False)
def test_discard_and_continue_starts_a_new_timer_now(member, running):
    idle = _idle(member, running)
    body = expect(resolve(member, idle, "discard_and_continue"), 200)
    assert body["idle_period"]["resolution"] == "discarded_and_continued"
    new = TimeEntry.objects.get(ended_at__isnull=True)
    assert body["running_entry"]["id"] == str(new.pk)
    assert (new.started_at, new.project_id, new.description) == (
        NOW,
        running.project_id,
        running.description,
    )
    running.refresh_from_db()
    assert running.ended_at == minutes(30)


@time_machine.travel(NOW, tick=False)
def test_discard_in_a_locked_period_is_409(member, running):
    idle = _idle(member, running)
    Timesheet.objects.create(
        user_id=member.user.pk,
        period_start=datetime.date(2026, 11, 23),
        period_end=datetime.date(2026, 11, 29),
        status="submitted",
    )
    expect(resolve(member, idle, "discard"), 409, "entry_locked")
    assert IdlePeriod.objects.get().resolution == IdleResolution.PENDING


def test_someone_elses_period_is_404(in_tenant, member):
    other = client_as(in_tenant, "member")
    theirs = IdlePeriodFactory(entry=TimeEntryFactory(user_id=other.user.pk))
    expect(resolve(member, theirs, "keep"), 404)
    expect(resolve(other, theirs, "explode"), 400, "invalid")


def test_project_switch_via_timer_start(member):
    # A heartbeat after the timer switched projects applies to the new entry.
    with time_machine.travel(START, tick=False):
        member.post("/api/v1/timer/start/", {"project": str(ProjectFactory().pk)})
    with time_machine.travel(minutes(5), tick=False):
        new = expect(
            member.post("/api/v1/timer/start/", {"project": str(ProjectFactory().pk)}), 201
        )
    with time_machine.travel(minutes(6), tick=False):
        assert expect(beat(member, minutes(6)), 200)["entry"] == new["id"]
