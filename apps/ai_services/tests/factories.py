"""Factories for AI service tests (use inside a tenant schema)."""

from __future__ import annotations

import datetime
from typing import Any

import factory
from django.utils import timezone

from apps.ai_services.models import AutomationRule
from apps.organizations.tests.factories import client_as
from apps.projects.tests.factories import ProjectFactory
from apps.tasks.tests.factories import TaskFactory, join_project, member_of
from apps.time_entries.models import TimeEntry
from apps.timesheets.models import Timesheet


class TimeEntryFactory(factory.django.DjangoModelFactory):
    """A finished entry of one hour ending ``started_at + duration``; pass
    ``ended_at=None`` for a running timer."""

    class Meta:
        model = TimeEntry

    user_id = factory.LazyFunction(lambda: member_of_default().user_id)
    project = factory.SubFactory(ProjectFactory)
    description = "work"
    started_at = factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(hours=2))
    ended_at = factory.LazyAttribute(
        lambda o: o.started_at + datetime.timedelta(hours=1) if o.started_at else None
    )
    duration_seconds = factory.LazyAttribute(
        lambda o: int((o.ended_at - o.started_at).total_seconds()) if o.ended_at else None
    )


def member_of_default() -> Any:
    from django.db import connection

    return member_of(connection.tenant)


class TimesheetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Timesheet

    period_start = datetime.date(2026, 11, 16)
    period_end = datetime.date(2026, 11, 22)


class RuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AutomationRule

    kind = "auto_stop_timers_at"
    params = factory.LazyFunction(lambda: {"time": "18:00"})


def entry_at(
    user_id: Any, project: Any, start: datetime.datetime, seconds: int = 3600, **kwargs: Any
) -> TimeEntry:
    return TimeEntryFactory(
        user_id=user_id,
        project=project,
        started_at=start,
        ended_at=start + datetime.timedelta(seconds=seconds),
        duration_seconds=seconds,
        **kwargs,
    )


__all__ = ["ProjectFactory", "TaskFactory", "client_as", "join_project", "member_of"]
