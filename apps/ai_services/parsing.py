"""The text half of natural-language entries: dates, times, durations, tags.

Pure functions (no database): :func:`parse_text` takes the text and the
user's current local time and returns what it understood plus the character
spans it consumed, so :mod:`apps.ai_services.matching` can look for project
and task names only in what is left, and the description is what remains
after both. Rules are explicit regular expressions rather than a model: dates
and durations must be *exactly* right (a suggestion may be wrong, a draft
that books 2h30 as 2h03 is a bug), and the cases are few and regular.

Conventions (documented in README.md):
* a weekday name means the most recent such day, today included; "last
  <weekday>" the one before today;
* a month-day without a year is this year's, unless that is more than a week
  ahead, then last year's;
* "11-1" without am/pm means 11:00-13:00 (an end hour before the start is
  read as afternoon, and past midnight when even that does not fit);
* durations above 24 hours are refused (they end up in ``unparsed``).
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field

MAX_DURATION_SECONDS = 24 * 3600

_WEEKDAYS = {
    "monday": 0,
    "mon": 0,
    "tuesday": 1,
    "tue": 1,
    "tues": 1,
    "wednesday": 2,
    "wed": 2,
    "thursday": 3,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "friday": 4,
    "fri": 4,
    "saturday": 5,
    "sat": 5,
    "sunday": 6,
    "sun": 6,
}
_MONTHS = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_MONTH_RE = (
    r"(january|february|march|april|may|june|july|august|september|october|november|december"
    r"|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\.?"
)
_WEEKDAY_RE = (
    r"(monday|tuesday|wednesday|thursday|friday|saturday|sunday"
    r"|mon|tues|tue|wed|thurs|thur|thu|fri|sat|sun)\.?"
)

_TAG = re.compile(r"(?<![\w#])#([^\W_][\w\-/&+]{0,58})", re.UNICODE)
_ISO_DATE = re.compile(r"(?<![\d-])(\d{4})-(\d{1,2})-(\d{1,2})(?![\d-])")
_DOT_DATE = re.compile(r"(?<![\d.])(\d{1,2})\.(\d{1,2})\.(\d{4})(?![\d.])")
_MONTH_DAY = re.compile(rf"\b{_MONTH_RE}\s+(\d{{1,2}})(?:st|nd|rd|th)?\b", re.I)
_DAY_MONTH = re.compile(
    rf"(?<![\d:.\-\u2013])\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH_RE}(?![a-z])", re.I
)
_RELATIVE = re.compile(
    r"\b(?:(?:on\s+)?(day before yesterday|yesterday|today)"
    r"|(\d{1,2})\s+days?\s+ago)\b",
    re.I,
)
_WEEKDAY = re.compile(rf"\b(?:on\s+)?(last\s+)?{_WEEKDAY_RE}(?![a-z])", re.I)
_TIME = r"(\d{1,2})(?:[:.h](\d{2})|h)?\s*(am|pm|a\.m\.|p\.m\.)?"
_RANGE = re.compile(
    rf"(?<![\w:.#])(?:from\s+)?{_TIME}\s*(?:-|\u2013|\u2014|to|until|till)\s*{_TIME}(?![\w:])", re.I
)
_START_AT = re.compile(rf"\b(?:at|from|starting)\s+{_TIME}(?![\w:])", re.I)
_HOURS_MINUTES = re.compile(
    r"(?<![\w.,:#])(\d{1,3}(?:[.,]\d{1,2})?)\s*(?:hours|hour|hrs|hr|h)"
    r"(?:(\d{1,2})(?:\s*(?:minutes|minute|mins|min|m))?"  # 2h30, 2h30m
    r"|\s*(?:and\s+)?(\d{1,2})\s*(?:minutes|minute|mins|min|m))?(?![a-z])",  # 2 hours 30 min
    re.I,
)
_CLOCK_DURATION = re.compile(r"(?<![\w:.])(\d{1,2}):(\d{2})\s*(?:h|hrs|hours)(?![a-z])", re.I)
_MINUTES = re.compile(r"(?<![\w.,:#])(\d{1,4})\s*(?:minutes|minute|mins|min|m)(?![a-z])", re.I)
_WORD_DURATION = re.compile(
    r"\b(half an hour|half hour|an hour and a half|an hour|one hour|quarter of an hour)\b", re.I
)
_WORD_SECONDS = {
    "half an hour": 1800,
    "half hour": 1800,
    "an hour and a half": 5400,
    "an hour": 3600,
    "one hour": 3600,
    "quarter of an hour": 900,
}
#: Words with digits the parser could not place are reported as ``unparsed``.
_LEFTOVER_NUMBER = re.compile(r"[^\s]*\d[^\s]*")


@dataclass
class TextParse:
    """What the text half understood; spans are ``(start, end)`` offsets."""

    date: datetime.date
    date_explicit: bool = False
    start_time: datetime.time | None = None
    end_time: datetime.time | None = None
    ends_next_day: bool = False
    duration_seconds: int | None = None
    tags: list[str] = field(default_factory=list)
    consumed: list[tuple[int, int]] = field(default_factory=list)
    unparsed: list[str] = field(default_factory=list)


def _taken(consumed: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(start < e and s < end for s, e in consumed)


def _each_free(
    pattern: re.Pattern[str], text: str, consumed: list[tuple[int, int]]
) -> list[re.Match[str]]:
    return [m for m in pattern.finditer(text) if not _taken(consumed, m.start(), m.end())]


def _safe_date(year: int, month: int, day: int) -> datetime.date | None:
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return None


def _year_for(today: datetime.date, month: int, day: int) -> datetime.date | None:
    candidate = _safe_date(today.year, month, day)
    if candidate and candidate > today + datetime.timedelta(days=7):
        candidate = _safe_date(today.year - 1, month, day)
    return candidate


def _clock(hour: str, minute: str | None, meridiem: str | None) -> datetime.time | None:
    h, m = int(hour), int(minute or 0)
    if m > 59:
        return None
    if meridiem:
        if not 1 <= h <= 12:
            return None
        pm = meridiem.lower().startswith("p")
        h = (h % 12) + (12 if pm else 0)
    elif h > 23:
        return None
    return datetime.time(h, m)


def _parse_dates(text: str, today: datetime.date, result: TextParse) -> None:
    """The first explicit date wins; later ones are reported as unparsed."""
    found: list[tuple[int, int, datetime.date | None]] = []
    for m in _each_free(_ISO_DATE, text, result.consumed):
        found.append((m.start(), m.end(), _safe_date(*(int(g) for g in m.groups()))))
    for m in _each_free(_DOT_DATE, text, result.consumed):
        d, mo, y = (int(g) for g in m.groups())
        found.append((m.start(), m.end(), _safe_date(y, mo, d)))
    for m in _each_free(_MONTH_DAY, text, result.consumed):
        found.append((m.start(), m.end(), _year_for(today, _MONTHS[m[1][:3].lower()], int(m[2]))))
    for m in _each_free(_DAY_MONTH, text, result.consumed):
        found.append((m.start(), m.end(), _year_for(today, _MONTHS[m[2][:3].lower()], int(m[1]))))
    for m in _each_free(_RELATIVE, text, result.consumed):
        if m[1]:
            back = {"today": 0, "yesterday": 1, "day before yesterday": 2}[m[1].lower()]
        else:
            back = int(m[2])
        found.append((m.start(), m.end(), today - datetime.timedelta(days=back)))
    for m in _each_free(_WEEKDAY, text, result.consumed):
        target = _WEEKDAYS[m[2].lower()]
        back = (today.weekday() - target) % 7
        if m[1] and back == 0:
            back = 7
        found.append((m.start(), m.end(), today - datetime.timedelta(days=back)))
    # Overlapping candidates (e.g. "on monday" inside nothing else) keep the earliest-longest.
    found.sort(key=lambda f: (f[0], -(f[1] - f[0])))
    for start, end, value in found:
        if _taken(result.consumed, start, end):
            continue
        result.consumed.append((start, end))
        if value is None or result.date_explicit:
            result.unparsed.append(text[start:end])
            continue
        result.date, result.date_explicit = value, True


def _parse_times(text: str, result: TextParse) -> None:
    for m in _each_free(_RANGE, text, result.consumed):
        start = _clock(m[1], m[2], m[3] or m[6])
        end = _clock(m[4], m[5], m[6])
        result.consumed.append((m.start(), m.end()))
        if start is None or end is None or result.start_time is not None:
            result.unparsed.append(m[0].strip())
            continue
        if end <= start and not (m[3] or m[6]) and end.hour < 12:
            afternoon = end.replace(hour=end.hour + 12)
            if afternoon > start:
                end = afternoon
        result.start_time, result.end_time = start, end
        result.ends_next_day = end <= start
    for m in _each_free(_START_AT, text, result.consumed):
        start = _clock(m[1], m[2], m[3])
        result.consumed.append((m.start(), m.end()))
        if start is None or result.start_time is not None:
            result.unparsed.append(m[0].strip())
            continue
        result.start_time = start


def _add_duration(result: TextParse, seconds: float, span: tuple[int, int], raw: str) -> None:
    result.consumed.append(span)
    if result.duration_seconds is not None or not 0 < seconds <= MAX_DURATION_SECONDS:
        result.unparsed.append(raw.strip())
        return
    result.duration_seconds = round(seconds)


def _parse_durations(text: str, result: TextParse) -> None:
    for m in _each_free(_CLOCK_DURATION, text, result.consumed):
        if int(m[2]) > 59:
            continue
        _add_duration(result, int(m[1]) * 3600 + int(m[2]) * 60, m.span(), m[0])
    for m in _each_free(_HOURS_MINUTES, text, result.consumed):
        hours = float(m[1].replace(",", "."))
        minutes = int(m[2] or m[3] or 0)
        if minutes > 59:
            continue
        _add_duration(result, hours * 3600 + minutes * 60, m.span(), m[0])
    for m in _each_free(_MINUTES, text, result.consumed):
        _add_duration(result, int(m[1]) * 60, m.span(), m[0])
    for m in _each_free(_WORD_DURATION, text, result.consumed):
        _add_duration(result, _WORD_SECONDS[m[1].lower()], m.span(), m[0])


def parse_text(text: str, *, today: datetime.date) -> TextParse:
    """Dates, times, durations and #tags of ``text`` (``today``: the user's local date)."""
    result = TextParse(date=today)
    for m in _TAG.finditer(text):
        tag = m[1].lower()
        if tag not in result.tags:
            result.tags.append(tag)
        result.consumed.append(m.span())
    _parse_dates(text, today, result)
    _parse_times(text, result)
    _parse_durations(text, result)
    if result.start_time and result.end_time:
        start = datetime.datetime.combine(today, result.start_time)
        end = datetime.datetime.combine(today, result.end_time)
        if result.ends_next_day:
            end += datetime.timedelta(days=1)
        span_seconds = int((end - start).total_seconds())
        if result.duration_seconds is not None and result.duration_seconds != span_seconds:
            result.unparsed.append("duration does not match the time range")
        result.duration_seconds = span_seconds
    return result


def remaining_text(text: str, consumed: list[tuple[int, int]]) -> str:
    """``text`` with every consumed span blanked out (offsets stay valid)."""
    chars = list(text)
    for start, end in consumed:
        for i in range(start, end):
            chars[i] = " "
    return "".join(chars)


def stray_numbers(text: str) -> list[str]:
    """Words with digits left in ``text``: something that looked like a time,
    date or duration the parser could not place."""
    return [w.strip(".,;:") for w in _LEFTOVER_NUMBER.findall(text) if w.strip(".,;:")]
