"""Factories for time entries (use inside a tenant schema)."""

from __future__ import annotations

import datetime
import uuid

import factory

from apps.projects.tests.factories import ProjectFactory
from apps.time_entries.constants import EntrySource
from apps.time_entries.models import IdlePeriod, TimeEntry

BASE = datetime.datetime(2026, 11, 2, 9, 0, tzinfo=datetime.UTC)  # a Monday


class TimeEntryFactory(factory.django.DjangoModelFactory):
    """A finished one-hour entry; pass ``user_id`` of an organization member."""

    class Meta:
        model = TimeEntry

    user_id = factory.LazyFunction(uuid.uuid4)
    project = factory.SubFactory(ProjectFactory)
    description = factory.Sequence(lambda n: f"Work {n}")
    started_at = factory.Sequence(lambda n: BASE + datetime.timedelta(hours=2 * n))
    ended_at = factory.LazyAttribute(
        lambda o: None if o.running else o.started_at + datetime.timedelta(hours=1)
    )
    duration_seconds = factory.LazyAttribute(
        lambda o: None if o.ended_at is None else int((o.ended_at - o.started_at).total_seconds())
    )
    source = EntrySource.MANUAL

    class Params:
        running = False


class IdlePeriodFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = IdlePeriod

    entry = factory.SubFactory(TimeEntryFactory)
    user_id = factory.LazyAttribute(lambda o: o.entry.user_id)
    started_at = factory.LazyAttribute(lambda o: o.entry.started_at)
    ended_at = factory.LazyAttribute(lambda o: o.started_at + datetime.timedelta(minutes=30))
