"""Forgotten timers: reported once (event + email), stopped at the last
activity (or local midnight) when the organization auto-stops, never written
into a locked period; the periodic job fans out per tenant."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.core import mail
from django_tenants.utils import tenant_context

from apps.organizations.tests.factories import client_as
from apps.time_entries.models import TimeEntry
from apps.time_entries.tasks import forgotten_timers, forgotten_timers_all_tenants
from apps.timesheets.models import Timesheet

from .factories import TimeEntryFactory

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 11, 26, 20, 0, tzinfo=datetime.UTC)


def hours_ago(n: float) -> datetime.datetime:
    return NOW - datetime.timedelta(hours=n)


def run(tenant):
    with tenant_context(tenant):
        return forgotten_timers.apply(headers={"_schema_name": tenant.schema_name}).get()


@time_machine.travel(NOW, tick=False)
def test_reported_once_and_left_running_without_auto_stop(in_tenant, emitted):
    member = client_as(in_tenant, "member")
    forgotten = TimeEntryFactory(user_id=member.user.pk, running=True, started_at=hours_ago(11))
    TimeEntryFactory(running=True, started_at=hours_ago(9))  # under the 10 h threshold

    with emitted() as events:
        assert run(in_tenant) == 1
    assert [(e.type, e.op, e.user_ids, e.data["id"]) for e in events] == [
        ("timer", "forgotten", (str(member.user.pk),), str(forgotten.pk))
    ]
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [member.user.email]
    assert "Forgotten timer" in mail.outbox[0].subject
    forgotten.refresh_from_db()
    assert forgotten.ended_at is None

    with emitted() as events:
        run(in_tenant)
    assert events == [] and len(mail.outbox) == 1


@time_machine.travel(NOW, tick=False)
def test_auto_stop_at_the_last_activity(in_tenant, emitted):
    in_tenant.auto_stop_timers = True
    in_tenant.save(update_fields=["auto_stop_timers"])
    member = client_as(in_tenant, "member")
    entry = TimeEntryFactory(
        user_id=member.user.pk,
        running=True,
        started_at=hours_ago(12),
        last_activity_at=hours_ago(8),
    )
    with emitted() as events:
        run(in_tenant)
    entry.refresh_from_db()
    assert (entry.ended_at, entry.duration_seconds) == (hours_ago(8), 4 * 3600)
    assert [(e.type, e.op) for e in events] == [("timer", "forgotten"), ("timer", "stopped")]
    assert "was stopped" in mail.outbox[0].body


@time_machine.travel(NOW, tick=False)
def test_auto_stop_without_activity_stops_at_local_midnight(in_tenant, commit):
    in_tenant.auto_stop_timers = True
    in_tenant.timezone = "Asia/Tokyo"  # UTC+9: NOW is 05:00 on the 27th there
    in_tenant.forgotten_timer_hours = 2
    in_tenant.save(update_fields=["auto_stop_timers", "timezone", "forgotten_timer_hours"])
    entry = TimeEntryFactory(running=True, started_at=hours_ago(6))  # 23:00 Tokyo time
    with commit():
        run(in_tenant)
    entry.refresh_from_db()
    assert entry.ended_at == datetime.datetime(2026, 11, 26, 15, 0, tzinfo=datetime.UTC)


@time_machine.travel(NOW, tick=False)
def test_a_timer_in_a_locked_period_is_reported_but_not_stopped(in_tenant, commit):
    in_tenant.auto_stop_timers = True
    in_tenant.save(update_fields=["auto_stop_timers"])
    member = client_as(in_tenant, "member")
    entry = TimeEntryFactory(user_id=member.user.pk, running=True, started_at=hours_ago(11))
    Timesheet.objects.create(
        user_id=member.user.pk,
        period_start=datetime.date(2026, 11, 23),
        period_end=datetime.date(2026, 11, 29),
        status="submitted",
    )
    with commit():
        run(in_tenant)
    entry.refresh_from_db()
    assert entry.ended_at is None
    assert len(mail.outbox) == 1


@time_machine.travel(NOW, tick=False)
def test_fan_out_runs_each_tenant_in_its_own_schema(tenant, other_tenant, eager_celery, commit):
    with tenant_context(tenant):
        ours = TimeEntryFactory(running=True, started_at=hours_ago(11))
    with tenant_context(other_tenant):
        other_tenant.auto_stop_timers = True
        other_tenant.save(update_fields=["auto_stop_timers"])
        theirs = TimeEntryFactory(running=True, started_at=hours_ago(11))

    with commit():
        assert forgotten_timers_all_tenants.apply().get() >= 2

    with tenant_context(tenant):
        ours.refresh_from_db()
        assert ours.ended_at is None  # acme does not auto-stop
        assert TimeEntry.objects.count() == 1
    with tenant_context(other_tenant):
        theirs.refresh_from_db()
        assert theirs.ended_at is not None
        assert TimeEntry.objects.count() == 1
