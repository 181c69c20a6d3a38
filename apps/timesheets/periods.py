"""Timesheet period arithmetic in the organization's calendar.

Pure functions of the organization's settings (``timesheet_period``,
``week_start``, ``timezone``) so that entries, timesheets, reminders and
reports agree on where a period starts and ends.
"""

from __future__ import annotations

import calendar
import datetime
import zoneinfo
from typing import TYPE_CHECKING

from apps.common.errors import field_error
from apps.organizations.constants import TimesheetPeriod

if TYPE_CHECKING:
    from apps.organizations.models import Organization


def period_bounds(
    organization: Organization, day: datetime.date
) -> tuple[datetime.date, datetime.date]:
    """The period (first day, inclusive last day) that contains ``day``."""
    kind = organization.timesheet_period
    if kind == TimesheetPeriod.MONTHLY:
        last = calendar.monthrange(day.year, day.month)[1]
        return day.replace(day=1), day.replace(day=last)
    if kind == TimesheetPeriod.SEMI_MONTHLY:
        if day.day <= 15:
            return day.replace(day=1), day.replace(day=15)
        last = calendar.monthrange(day.year, day.month)[1]
        return day.replace(day=16), day.replace(day=last)
    offset = (day.weekday() - organization.week_start) % 7
    start = day - datetime.timedelta(days=offset)
    return start, start + datetime.timedelta(days=6)


def aligned_period(
    organization: Organization, period_start: datetime.date
) -> tuple[datetime.date, datetime.date]:
    """The period that starts on ``period_start``, or 400 ``period_not_aligned``
    (with ``fields.period_start``) when no period of the organization starts
    that day."""
    start, end = period_bounds(organization, period_start)
    if start != period_start:
        raise field_error(
            "period_start",
            f"Periods of this organization start on {start.isoformat()}, "
            f"not {period_start.isoformat()}.",
            code="period_not_aligned",
        )
    return start, end


def is_period_start(organization: Organization, day: datetime.date) -> bool:
    """Whether ``day`` is the first day of one of the organization's periods."""
    return period_bounds(organization, day)[0] == day


def local_date(organization: Organization, moment: datetime.datetime) -> datetime.date:
    """The calendar date of ``moment`` in the organization's timezone."""
    return moment.astimezone(zoneinfo.ZoneInfo(organization.timezone)).date()


def period_range_utc(
    organization: Organization, start: datetime.date, end: datetime.date
) -> tuple[datetime.datetime, datetime.datetime]:
    """The half-open instant range [start 00:00, end+1 00:00) in the org's timezone."""
    tz = zoneinfo.ZoneInfo(organization.timezone)
    low = datetime.datetime.combine(start, datetime.time.min, tzinfo=tz)
    high = datetime.datetime.combine(end + datetime.timedelta(days=1), datetime.time.min, tzinfo=tz)
    return low, high
