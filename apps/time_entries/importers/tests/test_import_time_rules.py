"""The import never loses or invents time without saying so: local times in a
daylight-saving gap are row errors, times in a fold are settled by the
duration or taken as the first one with a warning, an end and a duration
that disagree are a row error naming both, and hostile durations and dates
are row errors (never a 500). Europe/Berlin, 2026: the clocks skip
02:00-03:00 on 29 March and repeat 02:00-03:00 on 25 October."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django_tenants.utils import tenant_context

from apps.common.testing import expect
from apps.time_entries.models import TimeEntry

from .test_import_api import upload

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
TOGGL_HEADER = (
    "User,Email,Client,Project,Task,Description,Billable,Start date,Start time,"
    "End date,End time,Duration,Tags,Amount (USD)\n"
)
CLOCKIFY_HEADER = (
    "Project,Client,Description,Task,User,Group,Email,Tags,Billable,Start Date,Start Time,"
    "End Date,End Time,Duration (h),Duration (decimal),Billable Rate (USD),"
    "Billable Amount (USD)\n"
)


def toggl(*rows: tuple[str, str, str, str, str]) -> bytes:
    """Alice's Apollo rows: (start date, start time, end date, end time, duration)."""
    lines = [
        f"A,alice@acme.test,Xylo,Apollo,,row {i},Yes,{sd},{st},{ed},{et},{dur},,\n"
        for i, (sd, st, ed, et, dur) in enumerate(rows, start=1)
    ]
    return (TOGGL_HEADER + "".join(lines)).encode()


def berlin(client: Any, content: bytes, **form: Any) -> Any:
    return upload(client, content, timezone="Europe/Berlin", **form)


def errors(report: dict[str, Any]) -> list[tuple[int, str, str]]:
    return [(e["line"], e["code"], e.get("field", "")) for e in report["errors"]]


def written() -> list[tuple[datetime.datetime, datetime.datetime, int]]:
    return list(
        TimeEntry.objects.order_by("started_at").values_list(
            "started_at", "ended_at", "duration_seconds"
        )
    )


# --- daylight-saving gap: refused, never a 0 s (or 2 h) entry ---------------------------


@pytest.mark.parametrize(
    ("row", "field"),
    [
        # The audit's row: 02:00 does not exist, 03:00 does: it became 0 seconds.
        (("2026-03-29", "02:00:00", "2026-03-29", "03:00:00", "01:00:00"), "Start time"),
        (("2026-03-29", "02:30:00", "2026-03-29", "03:30:00", "01:00:00"), "Start time"),
        (("2026-03-29", "01:30:00", "2026-03-29", "02:30:00", "01:00:00"), "End time"),
        (("2026-03-29", "02:15:00", "", "", "00:30:00"), "Start time"),  # duration only
    ],
)
def test_a_time_the_clocks_skip_is_a_row_error(acme, row, field):
    report = expect(berlin(acme.manager, toggl(row)), 200)

    assert errors(report) == [(2, "nonexistent_local_time", field)]
    assert "does not exist in Europe/Berlin" in report["errors"][0]["message"]
    assert report["entries"] == {"create": 0, "total_seconds": 0}


def test_a_real_run_with_a_skipped_time_writes_nothing(acme):
    content = toggl(
        ("2026-03-28", "09:00:00", "2026-03-28", "10:00:00", "01:00:00"),
        ("2026-03-29", "02:00:00", "2026-03-29", "03:00:00", "01:00:00"),
    )

    body = expect(berlin(acme.manager, content, dry_run="false"), 400, "import_invalid")

    assert errors(body["report"]) == [(3, "nonexistent_local_time", "Start time")]
    with tenant_context(acme.tenant):
        assert not TimeEntry.all_objects.exists()


def test_a_span_across_the_gap_is_real_time(acme):
    row = ("2026-03-29", "01:30:00", "2026-03-29", "03:30:00", "01:00:00")

    expect(berlin(acme.manager, toggl(row), dry_run="false"), 201)

    with tenant_context(acme.tenant):
        assert written() == [
            (
                datetime.datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
                datetime.datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
                3600,
            )
        ]


# --- daylight-saving fold: the duration decides, else the first one with a warning -------


def test_the_duration_settles_an_ambiguous_end(acme):
    # 01:50 CEST → 02:10: CEST (20 min) or CET (80 min)? The file says 20 min.
    row = ("2026-10-25", "01:50:00", "2026-10-25", "02:10:00", "00:20:00")

    report = expect(berlin(acme.manager, toggl(row), dry_run="false"), 201)

    assert (report["errors"], report["warnings"], report["warning_count"]) == ([], [], 0)
    with tenant_context(acme.tenant):
        assert written() == [
            (
                datetime.datetime(2026, 10, 24, 23, 50, tzinfo=UTC),
                datetime.datetime(2026, 10, 25, 0, 10, tzinfo=UTC),
                1200,
            )
        ]


def test_the_duration_settles_a_span_from_the_first_to_the_second_pass(acme):
    # 02:50 (first pass, CEST) → 02:10 (second pass, CET) is 20 minutes, not
    # "the end is before the start".
    row = ("2026-10-25", "02:50:00", "2026-10-25", "02:10:00", "00:20:00")

    report = expect(berlin(acme.manager, toggl(row), dry_run="false"), 201)

    assert (report["errors"], report["warnings"]) == ([], [])
    with tenant_context(acme.tenant):
        assert written() == [
            (
                datetime.datetime(2026, 10, 25, 0, 50, tzinfo=UTC),
                datetime.datetime(2026, 10, 25, 1, 10, tzinfo=UTC),
                1200,
            )
        ]


@pytest.mark.parametrize(
    ("row", "fields", "start", "seconds"),
    [
        # Both passes give 20 minutes: the first (CEST) is taken, and said so.
        (
            ("2026-10-25", "02:30:00", "2026-10-25", "02:50:00", "00:20:00"),
            ["Start time", "End time"],
            datetime.datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
            1200,
        ),
        # No duration to tell: the first (CEST), and said so.
        (
            ("2026-10-25", "02:30:00", "2026-10-25", "03:30:00", ""),
            ["Start time"],
            datetime.datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
            7200,
        ),
        # Start and duration only.
        (
            ("2026-10-25", "02:30:00", "", "", "00:45:00"),
            ["Start time"],
            datetime.datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
            2700,
        ),
    ],
)
def test_an_unsettled_ambiguous_time_is_the_first_one_with_a_warning(
    acme, row, fields, start, seconds
):
    report = expect(berlin(acme.manager, toggl(row), dry_run="false"), 201)

    assert report["errors"] == []
    assert [(w["line"], w["code"], w["field"]) for w in report["warnings"]] == [
        (2, "ambiguous_local_time", f) for f in fields
    ]
    assert report["warning_count"] == len(fields)
    assert "happens twice in Europe/Berlin" in report["warnings"][0]["message"]
    assert "(CEST, UTC+0200)" in report["warnings"][0]["message"]
    with tenant_context(acme.tenant):
        assert written() == [(start, start + datetime.timedelta(seconds=seconds), seconds)]


@pytest.mark.parametrize(
    ("row", "start", "seconds"),
    [
        # 02:30 CEST → 02:15 CET: the only reading whose end is not before its
        # start (45 minutes); was end_before_start with no duration column.
        (
            ("2026-10-25", "02:30:00", "2026-10-25", "02:15:00", ""),
            datetime.datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
            2700,
        ),
        # Both times repeat: 02:50 → 02:10 is only the first pass to the second.
        (
            ("2026-10-25", "02:50:00", "2026-10-25", "02:10:00", ""),
            datetime.datetime(2026, 10, 25, 0, 50, tzinfo=UTC),
            1200,
        ),
    ],
)
def test_without_a_duration_the_one_possible_reading_is_taken_silently(acme, row, start, seconds):
    report = expect(berlin(acme.manager, toggl(row), dry_run="false"), 201)

    assert (report["errors"], report["warnings"]) == ([], [])
    with tenant_context(acme.tenant):
        assert written() == [(start, start + datetime.timedelta(seconds=seconds), seconds)]


def test_without_a_duration_an_end_before_every_reading_of_the_start_is_still_refused(acme):
    # 02:30 → 01:15 on the same night: no reading ends after it starts.
    row = ("2026-10-25", "02:30:00", "2026-10-25", "01:15:00", "")

    report = expect(berlin(acme.manager, toggl(row)), 200)

    assert errors(report) == [(2, "end_before_start", "End time")]
    assert report["entries"] == {"create": 0, "total_seconds": 0}


def test_a_dry_run_shows_the_warnings_before_anything_is_written(acme):
    row = ("2026-10-25", "02:30:00", "", "", "00:45:00")

    report = expect(berlin(acme.manager, toggl(row)), 200)

    assert report["warning_count"] == 1
    assert report["entries"] == {"create": 1, "total_seconds": 2700}


# --- end and duration must agree --------------------------------------------------------


def test_an_end_and_a_duration_that_disagree_are_a_row_error_naming_both(acme):
    row = ("2026-03-02", "09:00:00", "2026-03-02", "10:00:00", "02:00:00")

    report = expect(upload(acme.manager, toggl(row)), 200)

    assert errors(report) == [(2, "duration_mismatch", "Duration")]
    message = report["errors"][0]["message"]
    assert "2026-03-02 10:00:00" in message and "1:00:00" in message and "'02:00:00'" in message
    assert report["entries"]["create"] == 0


def test_a_second_of_rounding_between_end_and_duration_is_fine(acme):
    row = ("2026-03-02", "09:00:00", "2026-03-02", "10:00:01", "01:00:00")

    report = expect(upload(acme.manager, toggl(row), dry_run="false"), 201)

    assert report["errors"] == []
    with tenant_context(acme.tenant):
        assert written()[0][2] == 3601  # the end wins: real instants


def clockify(end: str, hms: str, decimal_hours: str) -> bytes:
    return (
        CLOCKIFY_HEADER
        + f"Apollo,Xylo,d,,A,,alice@acme.test,,Yes,03/02/2026,09:00:00 AM,03/02/2026,{end},"
        f"{hms},{decimal_hours},100.00,150.00\n"
    ).encode()


@pytest.mark.parametrize(
    ("end", "hms", "decimal_hours", "code"),
    [
        ("10:30:00 AM", "01:30:00", "1.50", None),
        ("10:30:10 AM", "", "1.50", None),  # 1.50 h is ±18 s precise
        ("10:31:00 AM", "", "1.50", "duration_mismatch"),
        ("10:31:00 AM", "01:30:00", "1.52", "duration_mismatch"),  # H:MM:SS is checked first
        ("11:30:00 AM", "", "2.5", None),  # 2.5 h: ±3 min
    ],
)
def test_clockify_durations_agree_within_their_precision(acme, end, hms, decimal_hours, code):
    report = expect(upload(acme.manager, clockify(end, hms, decimal_hours), source="clockify"), 200)

    assert [e["code"] for e in report["errors"]] == ([code] if code else [])


# --- hostile durations and dates: row errors, never a 500 ------------------------------


@pytest.mark.parametrize(
    ("duration", "code"),
    [
        ("99999999:00:00", "entry_too_long"),
        ("9" * 400 + ":00:00", "entry_too_long"),
        ("24:00:01", "entry_too_long"),
        ("100000000000000000000", "entry_too_long"),  # 10^20 hours
        ("1e20", "entry_too_long"),
        ("1e999999999", "entry_too_long"),
        ("Infinity", "invalid_duration"),
        ("NaN", "invalid_duration"),
        ("sNaN", "invalid_duration"),
        ("-1", "invalid_duration"),
        ("-01:00:00", "invalid_duration"),
        ("1:-5:00", "invalid_duration"),
        ("1e-999999999", None),  # zero, not an error
    ],
)
def test_hostile_durations_are_row_errors(acme, duration, code):
    row = ("2026-03-02", "09:00:00", "", "", duration)

    report = expect(upload(acme.manager, toggl(row)), 200)

    assert [e["code"] for e in report["errors"]] == ([code] if code else [])


def test_a_hostile_duration_next_to_an_end_is_a_row_error_too(acme):
    row = ("2026-03-02", "09:00:00", "2026-03-02", "10:00:00", "99999999:00:00")

    report = expect(upload(acme.manager, toggl(row), dry_run="false"), 400, "import_invalid")

    assert errors(report["report"]) == [(2, "entry_too_long", "Duration")]


@pytest.mark.parametrize(
    ("row", "timezone"),
    [
        (("9999-12-31", "23:30:00", "", "", "02:00:00"), "UTC"),  # ends after year 9999
        (("9999-12-31", "23:30:00", "9999-12-31", "23:45:00", ""), "America/New_York"),
        (("0001-01-01", "00:30:00", "0001-01-01", "01:00:00", ""), "Asia/Tokyo"),
        (("1969-12-31", "09:00:00", "1969-12-31", "10:00:00", "01:00:00"), "UTC"),
    ],
)
def test_dates_at_the_ends_of_the_calendar_are_row_errors(acme, row, timezone):
    report = expect(upload(acme.manager, toggl(row), timezone=timezone), 200)

    assert [e["code"] for e in report["errors"]] == ["invalid_date"]
