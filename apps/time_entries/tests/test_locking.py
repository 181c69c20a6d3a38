"""The one lock rule (apps/time_entries/locking.py): every form of it gives the
same answer, and nothing else in the code re-states it."""

from __future__ import annotations

import datetime
import uuid
import zoneinfo
from pathlib import Path

import pytest
from django.db import connection, transaction

from apps.time_entries.locking import (
    assert_span_writable,
    locked_ranges,
    locked_sheets,
    locking_timesheet,
    locking_timesheet_sql,
    locking_timesheets,
    unlocked_span_sql,
)
from apps.timesheets.models import Timesheet

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]
PERIOD = (datetime.date(2026, 11, 2), datetime.date(2026, 11, 8))  # Monday..Sunday


def _local(tenant, day: int, hour: int, minute: int = 0) -> datetime.datetime:
    """An instant given as a local time of November 2026 (the org's timezone)."""
    tz = zoneinfo.ZoneInfo(tenant.timezone)
    return datetime.datetime(2026, 11, day, hour, minute, tzinfo=tz)


def _spans(tenant):
    """(name, start, end) around the period's edges, running spans included."""
    at = lambda day, hour, minute=0: _local(tenant, day, hour, minute)  # noqa: E731
    return [
        ("inside", at(4, 10), at(4, 11)),
        ("before", at(1, 10), at(1, 11)),
        ("after", at(9, 9), at(9, 10)),
        ("ends at the first midnight", at(1, 23), at(2, 0)),
        ("ends just before it", at(1, 23), at(1, 23, 59)),
        ("starts at the last midnight after", at(9, 0), at(9, 1)),
        ("starts just before it", at(8, 23, 59), at(9, 1)),
        ("across the whole period", at(1, 12), at(9, 12)),
        ("running, started inside", at(5, 8), None),
        ("running, started before", at(1, 8), None),
    ]


def _sql_says_locked(ranges, start, end) -> bool:
    where, params = unlocked_span_sql(ranges)
    if not where:
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT NOT ({' AND '.join(where)}) FROM (SELECT %s::timestamptz AS started_at,"
            " %s::timestamptz AS ended_at) AS e",
            [*params, start, end],
        )
        return bool(cursor.fetchone()[0])


@pytest.mark.parametrize("status", ["draft", "submitted", "approved", "rejected"])
def test_every_form_of_the_rule_gives_the_same_answer(in_tenant, status):
    """One span at a time (compiled), inside a write's own statement (SQL),
    many spans from one query (the import), over instants (the recompute):
    the same spans are locked, and only by a submitted or approved sheet."""
    user_id, other_user = uuid.uuid4(), uuid.uuid4()
    Timesheet.objects.create(
        user_id=user_id, period_start=PERIOD[0], period_end=PERIOD[1], status=status
    )
    Timesheet.objects.create(
        user_id=other_user, period_start=PERIOD[0], period_end=PERIOD[1], status="approved"
    )
    locks = status in ("submitted", "approved")
    spans = _spans(in_tenant)
    first = min(start for _, start, _ in spans)
    last = max(end for _, _, end in spans if end is not None)
    loaded = locked_sheets(
        organization=in_tenant, user_ids=[user_id], started_at=first, ended_at=last
    )
    expected_locked = {
        "inside",
        "ends at the first midnight",
        "starts just before it",
        "across the whole period",
        "running, started inside",
    }
    with transaction.atomic():
        ranges = locked_ranges(in_tenant, user_id)
        for name, start, end in spans:
            one = locking_timesheet(user_id=user_id, started_at=start, ended_at=end)
            sql, params = locking_timesheet_sql(user_id=user_id, started_at=start, ended_at=end)
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT EXISTS ({sql})", params)
                in_statement = cursor.fetchone()[0]
            answers = {
                "locking_timesheet": one is not None,
                "locking_timesheet_sql": in_statement,
                "unlocked_span_sql": _sql_says_locked(ranges, start, end),
            }
            if end is not None:
                covering = loaded.covering(user_id=user_id, started_at=start, ended_at=end)
                answers["locked_sheets"] = covering is not None
            wanted = locks and name in expected_locked
            assert set(answers.values()) == {wanted}, (name, answers)
            # Another user's sheet never locks this user's time.
            assert locking_timesheet(user_id=uuid.uuid4(), started_at=start, ended_at=end) is None


def test_assert_span_writable_names_the_sheet(in_tenant):
    from apps.common.errors import ConflictError

    user_id = uuid.uuid4()
    sheet = Timesheet.objects.create(
        user_id=user_id, period_start=PERIOD[0], period_end=PERIOD[1], status="submitted"
    )
    start = _local(in_tenant, 4, 10)
    with pytest.raises(ConflictError) as refused:
        assert_span_writable(user_id=user_id, started_at=start, ended_at=start)
    assert refused.value.code == "entry_locked"
    assert refused.value.extra == {"timesheet": str(sheet.pk)}
    assert locking_timesheets(user_id=user_id, first=PERIOD[1], last=PERIOD[1]).get() == sheet


def test_the_rule_is_stated_once():
    """Which timesheet statuses lock time is read in one module: no other
    module outside the timesheets app filters sheets by ``LOCKED_STATUSES``
    (the timesheets app defines the statuses and moves sheets between them)."""
    allowed = {ROOT / "apps/time_entries/locking.py"}
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "apps").rglob("*.py")
        if "tests" not in path.parts
        and "migrations" not in path.parts
        and path.parent.name != "timesheets"
        and path not in allowed
        and "LOCKED_STATUSES" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
