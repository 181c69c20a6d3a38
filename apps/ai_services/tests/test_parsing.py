"""The text half of natural-language entries (no database)."""

from __future__ import annotations

import datetime

import pytest

from apps.ai_services.parsing import parse_text, remaining_text

TODAY = datetime.date(2026, 11, 26)  # a Thursday


def _rest(text: str) -> str:
    parsed = parse_text(text, today=TODAY)
    return " ".join(remaining_text(text, parsed.consumed).split())


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2h30 review", 9000),
        ("2h 30m review", 9000),
        ("2 hours 30 minutes review", 9000),
        ("2 hrs and 15 min", 8100),
        ("45m code review", 2700),
        ("45 min code review", 2700),
        ("90 minutes sync", 5400),
        ("1.5h api", 5400),
        ("1,25h api", 4500),
        ("1:30h call", 5400),
        ("half an hour emails", 1800),
        ("an hour and a half planning", 5400),
        ("3h", 10800),
        ("2h30m x", 9000),
        ("2h 6 days ago", 7200),  # "6" belongs to the date
        ("harassment training deck 0.5h", 1800),  # "deck" is not December
    ],
)
def test_durations(text, seconds):
    parsed = parse_text(text, today=TODAY)
    assert parsed.duration_seconds == seconds
    assert parsed.unparsed == []


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("today 1h x", TODAY),
        ("yesterday 1h x", datetime.date(2026, 11, 25)),
        ("day before yesterday 1h x", datetime.date(2026, 11, 24)),
        ("3 days ago 1h x", datetime.date(2026, 11, 23)),
        ("monday 1h x", datetime.date(2026, 11, 23)),
        ("on Tue 1h x", datetime.date(2026, 11, 24)),
        ("thursday 1h x", TODAY),  # a weekday name includes today
        ("last thursday 1h x", datetime.date(2026, 11, 19)),
        ("friday 1h x", datetime.date(2026, 11, 20)),
        ("2026-11-02 1h x", datetime.date(2026, 11, 2)),
        ("12.11.2026 1h x", datetime.date(2026, 11, 12)),
        ("nov 3 1h x", datetime.date(2026, 11, 3)),
        ("3rd of November 1h x", datetime.date(2026, 11, 3)),
        ("dec 31 1h x", datetime.date(2025, 12, 31)),  # more than a week ahead: last year
        ("dec 2 1h x", datetime.date(2026, 12, 2)),  # within a week ahead: this year
        ("november 3 1h x", datetime.date(2026, 11, 3)),
    ],
)
def test_dates(text, day):
    parsed = parse_text(text, today=TODAY)
    assert parsed.date == day
    assert parsed.date_explicit
    assert _rest(text) == "x"


def test_no_date_means_today_not_explicit():
    parsed = parse_text("1h x", today=TODAY)
    assert parsed.date == TODAY and not parsed.date_explicit


@pytest.mark.parametrize(
    ("text", "start", "end", "seconds"),
    [
        ("9-11:30 standup", (9, 0), (11, 30), 9000),
        ("9:15 - 10:00 standup", (9, 15), (10, 0), 2700),
        ("from 2pm to 4:30pm workshop", (14, 0), (16, 30), 9000),
        ("11-1 lunch talk", (11, 0), (13, 0), 7200),  # end before start: afternoon
        ("22:00-01:30 deploy", (22, 0), (1, 30), 12600),  # past midnight
        ("9h-11h30 atelier", (9, 0), (11, 30), 9000),
    ],
)
def test_ranges(text, start, end, seconds):
    parsed = parse_text(text, today=TODAY)
    assert parsed.start_time == datetime.time(*start)
    assert parsed.end_time == datetime.time(*end)
    assert parsed.duration_seconds == seconds


@pytest.mark.parametrize(
    ("text", "day", "start", "seconds"),
    [
        ("7:30-8:30 nov 14 x", datetime.date(2026, 11, 14), (7, 30), 3600),
        ("10:30-13 nov 6 x", datetime.date(2026, 11, 6), (10, 30), 9000),
        ("14-15 nov 19 x", datetime.date(2026, 11, 19), (14, 0), 3600),
    ],
)
def test_range_followed_by_month_day(text, day, start, seconds):
    parsed = parse_text(text, today=TODAY)
    assert (parsed.date, parsed.start_time, parsed.duration_seconds) == (
        day,
        datetime.time(*start),
        seconds,
    )
    assert _rest(text) == "x"


def test_start_time_with_duration():
    parsed = parse_text("at 9 for 2h review", today=TODAY)
    assert parsed.start_time == datetime.time(9, 0)
    assert parsed.duration_seconds == 7200


def test_tags_are_collected_lowercase_once():
    parsed = parse_text("fix login #Bug #frontend #bug #m&a", today=TODAY)
    assert parsed.tags == ["bug", "frontend", "m&a"]
    assert _rest("fix login #Bug #frontend #bug #m&a") == "fix login"


@pytest.mark.parametrize(
    ("text", "unparsed"),
    [
        ("25h nonsense", ["25h"]),  # more than a day
        ("2026-02-30 1h x", ["2026-02-30"]),  # no such date
        ("25:00-26:00 x", ["25:00-26:00"]),
        ("yesterday monday 1h x", ["monday"]),  # a second date is not silently used
    ],
)
def test_what_cannot_be_used_is_reported(text, unparsed):
    parsed = parse_text(text, today=TODAY)
    assert parsed.unparsed == unparsed


def test_range_and_contradicting_duration_keeps_the_range():
    parsed = parse_text("9-10 2h x", today=TODAY)
    assert parsed.duration_seconds == 3600
    assert parsed.unparsed == ["duration does not match the time range"]


def test_numbers_inside_words_are_left_alone():
    parsed = parse_text("upgrade python3 to v12 release", today=TODAY)
    assert parsed.duration_seconds is None
    assert parsed.start_time is None
