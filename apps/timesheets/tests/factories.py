"""Factories for timesheets and the time entries they cover (use inside a
tenant schema). Entries are written directly: these tests exercise the
timesheet rules, not the time-entry services of apps.time_entries."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import factory

from apps.iam.tests.factories import UserFactory
from apps.projects.tests.factories import ProjectFactory
from apps.time_entries.models import TimeEntry
from apps.timesheets.models import Timesheet

UTC = datetime.UTC


class TimesheetFactory(factory.django.DjangoModelFactory):
    """A weekly (Monday) sheet; pass ``period_start``/``period_end`` to match
    the organization's settings."""

    class Meta:
        model = Timesheet

    user_id = factory.LazyFunction(lambda: UserFactory().pk)
    period_start = datetime.date(2026, 11, 2)
    period_end = factory.LazyAttribute(lambda o: o.period_start + datetime.timedelta(days=6))


def make_entry(
    *,
    user_id: Any,
    started_at: datetime.datetime,
    seconds: int | None = 3600,
    project: Any = None,
    billable: bool = True,
    rate: Decimal | None = Decimal("100.00"),
    **extra: Any,
) -> TimeEntry:
    """A finished entry (or a running one with ``seconds=None``) with its amount."""
    ended = None if seconds is None else started_at + datetime.timedelta(seconds=seconds)
    amount = None
    if seconds is not None and rate is not None:
        amount = (rate * Decimal(seconds) / Decimal(3600)).quantize(Decimal("0.01"))
    return TimeEntry.objects.create(
        user_id=user_id,
        project=project or ProjectFactory(),
        started_at=started_at,
        ended_at=ended,
        duration_seconds=seconds,
        billable=billable,
        hourly_rate=rate,
        amount=amount,
        **extra,
    )


def at(day: datetime.date, hour: int = 9, minute: int = 0, tz: Any = UTC) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=tz)
