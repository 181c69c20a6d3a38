"""Read-side queries of timesheets used by other apps."""

from __future__ import annotations

import datetime
from typing import Any

from django.db import connection

from .constants import LOCKED_STATUSES
from .models import Timesheet
from .periods import local_date


def locking_timesheet(
    *, user_id: Any, started_at: datetime.datetime, ended_at: datetime.datetime | None = None
) -> Timesheet | None:
    """The submitted/approved sheet of ``user_id`` covering any day of the span,
    or ``None`` when the span may be written.

    Every write path of time entries calls this (create, edit — for the old
    and the new span —, delete, bulk edit, import, rate recompute) while
    holding :func:`apps.time_entries.locks.user_time_lock`, which timesheet
    transitions hold too: an edit either lands before the submission/approval
    (and is in its snapshot) or sees the lock.
    """
    organization = connection.tenant
    first = local_date(organization, started_at)
    last = local_date(organization, ended_at or started_at)
    return (
        Timesheet.objects.filter(
            user_id=user_id,
            status__in=LOCKED_STATUSES,
            period_start__lte=last,
            period_end__gte=first,
        )
        .order_by("period_start")
        .first()
    )
