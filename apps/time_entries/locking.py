"""Which time may be written: the per-user time lock and the one lock rule.

Every write of a user's time (timer, manual entries, bulk edits, idle
resolution, forgotten timers, the import, the rate recompute, automation
rules) and every timesheet transition (submit, approve, reopen) meet here:

- :func:`user_time_lock` serialises them per user (a transaction-scoped
  advisory lock of the current schema; timesheet transitions take it too);
- :func:`locking_timesheets` is **the lock rule**: a submitted or approved
  timesheet of the user that shares a local day (organization timezone)
  with the span makes the span read-only. Everything below is built on it,
  in the form each caller needs:

  - :func:`locking_timesheet` / :func:`locking_timesheet_sql`: one span,
    compiled once per process (the timer's INSERT and stop UPDATE embed the
    SQL, :mod:`apps.time_entries.hot_path`);
  - :func:`assert_span_writable` / :func:`assert_entry_writable`: 409
    ``entry_locked`` naming the sheet;
  - :func:`locked_sheets`: many spans of many users with one query, checked
    in memory (the import);
  - :func:`locked_ranges` / :func:`unlocked_span_sql`: the same rule over
    instants, for one set-based UPDATE (the rate recompute);
  - ``OuterRef`` arguments, for queries that check many rows in SQL
    (``apps.ai_services.automation``).

A check is only true while the caller holds the user's lock: an edit racing
an approval is either before it (and in its snapshot) or refused with
``entry_locked``.
"""

from __future__ import annotations

import datetime
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NoReturn

from django.db.models import Q, QuerySet
from django.db.models.expressions import Combinable
from django.utils import timezone

from apps.common.errors import ConflictError
from apps.common.prepared import PreparedQuery
from apps.organizations.models import Organization
from apps.timesheets.constants import LOCKED_STATUSES
from apps.timesheets.models import Timesheet
from apps.timesheets.periods import local_date, period_range_utc
from tenants.db import current_tenant
from tenants.locks import tenant_lock_key, tenant_xact_lock

from .models import TimeEntry

#: A user id as the services receive it: a UUID, or its text (URLs, Celery).
UserId = uuid.UUID | str
#: A local day, or an expression of one (``OuterRef``) for set-based checks.
Day = datetime.date | Combinable

# --- the per-user time lock ---------------------------------------------------------


def user_time_lock(user_id: UserId) -> None:
    """Hold ``time:<user_id>`` of the current schema until the transaction ends.

    Entry writes check :func:`locking_timesheet` under this lock and
    timesheet transitions change status under it, so an edit racing an
    approval is either before it (and in its snapshot) or refused with
    ``entry_locked``.
    """
    tenant_xact_lock(f"time:{user_id}")


def user_time_lock_key(user_id: UserId) -> str:
    """The key :func:`user_time_lock` takes (``tenants.locks.XACT_LOCK_SQL``),
    for a query that takes it itself."""
    return tenant_lock_key(f"time:{user_id}")


# --- the rule -----------------------------------------------------------------------


def _covering(first: Day, last: Day) -> Q:
    """Submitted or approved, with a period sharing a day with ``first..last``."""
    return Q(status__in=LOCKED_STATUSES, period_start__lte=last, period_end__gte=first)


def _covers(sheet: Timesheet, first: datetime.date, last: datetime.date) -> bool:
    """:func:`_covering` for a sheet already loaded (same test, in memory)."""
    return (
        sheet.status in LOCKED_STATUSES and sheet.period_start <= last and sheet.period_end >= first
    )


def locking_timesheets(
    *, user_id: UserId | Combinable, first: Day, last: Day
) -> QuerySet[Timesheet]:
    """The submitted/approved sheets of ``user_id`` covering any local day from
    ``first`` to ``last``: the one lock rule, as a queryset. The arguments may
    be expressions (``OuterRef``), for queries that check many spans at once
    (``apps.ai_services.automation``)."""
    return Timesheet.objects.filter(_covering(first, last), user_id=user_id)


def span_days(
    organization: Organization, started_at: datetime.datetime, ended_at: datetime.datetime | None
) -> tuple[datetime.date, datetime.date]:
    """The local days (organization timezone) a span touches, first and last;
    a running span (no end) touches its first day only."""
    first = local_date(organization, started_at)
    return first, local_date(organization, ended_at) if ended_at else first


def _span_days(
    user_id: UserId, started_at: datetime.datetime, ended_at: datetime.datetime | None
) -> dict[str, object]:
    first, last = span_days(current_tenant(), started_at, ended_at)
    return {"user_id": user_id, "first": first, "last": last}


def _locking_sheets(
    shape: None, *, user_id: UserId, first: datetime.date, last: datetime.date
) -> QuerySet[Timesheet]:
    return locking_timesheets(user_id=user_id, first=first, last=last).order_by("period_start")[:1]


#: Every write of time asks this: compiled once per process (apps/common/prepared.py).
_LOCKING_SHEETS = PreparedQuery(
    _locking_sheets, user_id=uuid.UUID, first=datetime.date, last=datetime.date
)


def locking_timesheet(
    *, user_id: UserId, started_at: datetime.datetime, ended_at: datetime.datetime | None = None
) -> Timesheet | None:
    """The submitted/approved sheet of ``user_id`` covering any day of the span,
    or ``None`` when the span may be written.

    Every write path of time entries calls this (create, edit — for the old
    and the new span —, delete, bulk edit, rate recompute) while holding
    :func:`user_time_lock`, which timesheet transitions hold too: an edit
    either lands before the submission/approval (and is in its snapshot) or
    sees the lock.
    """
    rows = _LOCKING_SHEETS.run(**_span_days(user_id, started_at, ended_at))
    return rows[0] if rows else None


def locking_timesheet_sql(
    *, user_id: UserId, started_at: datetime.datetime, ended_at: datetime.datetime | None = None
) -> tuple[str, list[object]]:
    """The query of :func:`locking_timesheet` as SQL and parameters, for a
    write that checks it in its own statement (the timer start's INSERT and
    the stop's UPDATE, :mod:`apps.time_entries.hot_path`); same rule, same
    lock discipline."""
    return _LOCKING_SHEETS.sql(**_span_days(user_id, started_at, ended_at))


# --- refusals -----------------------------------------------------------------------


def assert_span_writable(
    *, user_id: UserId, started_at: datetime.datetime, ended_at: datetime.datetime | None
) -> None:
    """409 ``entry_locked`` when a submitted/approved timesheet of ``user_id``
    covers any day of the span. The caller holds ``user_time_lock(user_id)``,
    so the answer stays true until its transaction ends."""
    sheet = locking_timesheet(user_id=user_id, started_at=started_at, ended_at=ended_at)
    if sheet is not None:
        raise ConflictError(
            f"This time is in a {sheet.status} timesheet "
            f"({sheet.period_start}..{sheet.period_end}) and is read-only.",
            code="entry_locked",
            extra={"timesheet": str(sheet.pk)},
        )


def refused_by_lock(
    *, user_id: UserId, started_at: datetime.datetime, ended_at: datetime.datetime | None
) -> NoReturn:
    """A write that checked :func:`locking_timesheet_sql` in its own statement
    wrote nothing: 409 ``entry_locked`` naming the sheet (the user's lock is
    held, so the sheet that refused the write is still there to name)."""
    assert_span_writable(user_id=user_id, started_at=started_at, ended_at=ended_at)
    raise ConflictError("This time is in a locked timesheet.", code="entry_locked")


def assert_entry_writable(entry: TimeEntry, *, now: datetime.datetime | None = None) -> None:
    """:func:`assert_span_writable` for the entry's current span (a running
    entry up to now)."""
    end = entry.ended_at or max(now or timezone.now(), entry.started_at)
    assert_span_writable(user_id=entry.user_id, started_at=entry.started_at, ended_at=end)


# --- many spans at once -------------------------------------------------------------


@dataclass
class LockedSheets:
    """The locking sheets of some users over a range of instants, loaded with
    one query (:func:`locked_sheets`), to check many spans in memory."""

    organization: Organization
    by_user: dict[str, list[Timesheet]] = field(default_factory=dict)

    def covering(
        self, *, user_id: UserId, started_at: datetime.datetime, ended_at: datetime.datetime
    ) -> Timesheet | None:
        """The sheet that locks this span (as :func:`locking_timesheet` would
        answer, for a span inside the loaded range), or ``None``."""
        first, last = span_days(self.organization, started_at, ended_at)
        sheets = self.by_user.get(str(user_id), ())
        return next((s for s in sheets if _covers(s, first, last)), None)


def locked_sheets(
    *,
    organization: Organization,
    user_ids: Iterable[UserId],
    started_at: datetime.datetime,
    ended_at: datetime.datetime,
) -> LockedSheets:
    """The sheets of ``user_ids`` that lock any day from ``started_at`` to
    ``ended_at`` (one query), for :meth:`LockedSheets.covering`."""
    first, last = span_days(organization, started_at, ended_at)
    found = LockedSheets(organization)
    by_user: dict[str, list[Timesheet]] = defaultdict(list)
    for sheet in Timesheet.objects.filter(
        _covering(first, last), user_id__in=[str(u) for u in user_ids]
    ):
        by_user[str(sheet.user_id)].append(sheet)
    found.by_user = dict(by_user)
    return found


def locked_ranges(
    organization: Organization, user_id: UserId
) -> list[tuple[datetime.datetime, datetime.datetime]]:
    """The instant ranges ``[first day 00:00, last day + 1 00:00)`` of
    ``user_id``'s locking sheets (all of them), for :func:`unlocked_span_sql`."""
    return [
        period_range_utc(organization, start, end)
        for start, end in locking_timesheets(
            user_id=user_id, first=datetime.date.min, last=datetime.date.max
        ).values_list("period_start", "period_end")
    ]


def unlocked_span_sql(
    ranges: Sequence[tuple[datetime.datetime, datetime.datetime]],
) -> tuple[list[str], list[datetime.datetime]]:
    """SQL conditions (to AND together) on a time entry row that hold when its
    span touches none of ``ranges`` (from :func:`locked_ranges`): the rule of
    :func:`locking_timesheet` over instants — a span touches a local day when
    it starts before the day ends and ends (a running one: starts) at or
    after the day begins."""
    where: list[str] = []
    params: list[datetime.datetime] = []
    for low, high in ranges:
        where.append("NOT (started_at < %s AND coalesce(ended_at, started_at) >= %s)")
        params += [high, low]
    return where, params
