"""The time cells of an export: dates, times and durations, and local times
turned into instants (see :mod:`.parsing` for the rules a row follows).

A local time becomes an instant through UTC with both ``fold`` values,
checked by the round trip back to local time: a skipped time
(daylight-saving gap) has none, a repeated one (the clocks go back) two,
and the row's duration column, or the one reading that can be an entry,
picks between them (:func:`pick_span`).
"""

from __future__ import annotations

import datetime
import math
import re
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal, DecimalException

#: Longest entry an import takes (the entries API asks for confirm_long above it).
MAX_ENTRY = datetime.timedelta(hours=24)
#: Earliest day an import takes: older dates are typos (and converting dates
#: near year 1 between timezones overflows Python's calendar).
MIN_DATE = datetime.date(1970, 1, 1)


class RowProblem(Exception):
    """What makes a row unusable: becomes the row's error in the report."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_SLASH = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_DOT = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?$")


def parse_date(text: str, day_first: bool, column: str) -> datetime.date:
    day = None
    try:
        if m := _ISO.match(text):
            day = datetime.date(int(m[1]), int(m[2]), int(m[3]))
        elif m := _SLASH.match(text):
            first, second = int(m[1]), int(m[2])
            month, day_of_month = (second, first) if day_first else (first, second)
            day = datetime.date(int(m[3]), month, day_of_month)
        elif m := _DOT.match(text):
            day = datetime.date(int(m[3]), int(m[2]), int(m[1]))
    except ValueError:
        pass
    if day is None:
        raise RowProblem("invalid_date", f"Unreadable date {text!r}.", column)
    if day < MIN_DATE:
        raise RowProblem(
            "invalid_date", f"{text!r} is before {MIN_DATE:%Y}: not a time entry's date.", column
        )
    return day


def parse_time(text: str, column: str) -> datetime.time:
    m = _TIME.match(text)
    if m:
        hour, minute, second = int(m[1]), int(m[2]), int(m[3] or 0)
        meridiem = (m[4] or "").lower()
        if meridiem:
            if not 1 <= hour <= 12:
                raise RowProblem("invalid_time", f"Unreadable time {text!r}.", column)
            hour = hour % 12 + (12 if meridiem == "pm" else 0)
        if hour < 24 and minute < 60 and second < 60:
            return datetime.time(hour, minute, second)
    raise RowProblem("invalid_time", f"Unreadable time {text!r}.", column)


@dataclass(frozen=True)
class Duration:
    """A duration cell: whole seconds, and how far an end may differ from it
    and still agree (the cell's own precision, plus 1 s for the exporter's
    rounding of start and end to the second)."""

    seconds: int
    tolerance: int
    text: str
    column: str


def parse_duration(text: str, column: str) -> Duration:
    """``H:MM:SS`` (hours may exceed 24 in the text) or decimal hours (``1.50``).

    Negative, non-finite and over-:data:`MAX_ENTRY` values are row errors,
    decided on the parsed number before any date arithmetic."""
    parts = text.split(":")
    seconds: int | None = None
    tolerance = 1
    try:
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            h, m, s = (int(p) for p in parts)
            if m < 60 and s < 60:
                seconds = h * 3600 + m * 60 + s
        elif len(parts) == 1:
            hours = Decimal(text)
            if not hours.is_finite():
                raise RowProblem("invalid_duration", f"Unreadable duration {text!r}.", column)
            if hours < 0:
                raise RowProblem("invalid_duration", f"Negative duration {text!r}.", column)
            if hours > Decimal(int(MAX_ENTRY.total_seconds())) / 3600:  # compared exactly
                seconds = int(MAX_ENTRY.total_seconds()) + 1
            else:
                places = max(0, -int(hours.as_tuple().exponent))
                seconds = int((hours * 3600).to_integral_value())
                # Half a unit of the last decimal written (1.50 h: ±18 s), + 1 s.
                tolerance = math.ceil(1800 / 10**places) + 1 if places < 6 else 1
    except (ValueError, DecimalException):
        seconds = None
    if seconds is None:
        raise RowProblem("invalid_duration", f"Unreadable duration {text!r}.", column)
    if seconds > MAX_ENTRY.total_seconds():
        raise RowProblem(
            "entry_too_long",
            f"Entries longer than 24 hours are not imported ({column} {text!r}).",
            column,
        )
    return Duration(seconds=seconds, tolerance=tolerance, text=text, column=column)


def instants(
    day: datetime.date, time: datetime.time, tz: zoneinfo.ZoneInfo, column: str
) -> list[datetime.datetime]:
    """The UTC instants the local wall time ``day time`` names in ``tz``:
    none (skipped by a daylight-saving change), one, or two (the clocks went
    back), earliest first.

    Each ``fold`` is converted to UTC and back: only a conversion that comes
    back to the same wall time names a real instant (zoneinfo maps a skipped
    time to *some* instant for either fold, without complaint)."""
    wall = datetime.datetime.combine(day, time)
    found: list[datetime.datetime] = []
    try:
        for fold in (0, 1):
            instant = wall.replace(tzinfo=tz, fold=fold).astimezone(datetime.UTC)
            if instant.astimezone(tz).replace(tzinfo=None) == wall and instant not in found:
                found.append(instant)
    except OverflowError as exc:  # within hours of year 1 or 9999
        raise RowProblem("invalid_date", f"{day} {time} is out of range.", column) from exc
    if not found:
        raise RowProblem(
            "nonexistent_local_time",
            f"{day} {time} does not exist in {tz.key}: the clocks skip it (daylight saving). "
            "The file's times are probably in another timezone: send timezone.",
            column,
        )
    return sorted(found)


def _agrees(duration: Duration, start: datetime.datetime, end: datetime.datetime) -> bool:
    return abs((end - start).total_seconds() - duration.seconds) <= duration.tolerance


def pick_span(
    starts: list[datetime.datetime],
    ends: list[datetime.datetime],
    duration: Duration | None,
    end_text: str,
) -> tuple[datetime.datetime, datetime.datetime]:
    """Start and end instants: the first pair (daylight time for an ambiguous
    wall time) unless the duration column agrees with another one; a duration
    that agrees with none is a row error naming both values (left to the
    ``end_before_start`` check when the end is before the start).

    Without a duration column only the readings that can be an entry count
    (:func:`_possible`): 02:30 → 02:15 on the night the clocks go back is
    02:30 daylight time → 02:15 standard time (45 minutes), the one reading
    whose end is not before its start. With none, the first pair is left to
    the ``end_before_start`` / ``entry_too_long`` checks."""
    pairs = [(start, end) for start in starts for end in ends]
    if duration is None:
        possible = _possible(pairs)
        return possible[0] if possible else pairs[0]
    agreeing = [pair for pair in pairs if _agrees(duration, *pair)]
    if agreeing:
        return agreeing[0]
    start, end = pairs[0]
    if end >= start:
        raise RowProblem(
            "duration_mismatch",
            f"The end ({end_text}) is {_clock(end - start)} after the start, but "
            f"{duration.column} says {duration.text!r}: correct one of them.",
            duration.column,
        )
    return start, end


def settled_by(
    duration: Duration | None, starts: list[datetime.datetime], ends: list[datetime.datetime]
) -> bool:
    """Whether the row has exactly one reading: the one the duration column
    agrees with or, without a duration, the one possible span."""
    if duration is None:
        return len(_possible([(s, e) for s in starts for e in ends])) == 1
    return sum(_agrees(duration, s, e) for s in starts for e in ends) == 1


def _possible(
    pairs: list[tuple[datetime.datetime, datetime.datetime]],
) -> list[tuple[datetime.datetime, datetime.datetime]]:
    """The (start, end) readings an entry can have: the end not before the
    start, and no longer than :data:`MAX_ENTRY` (the import's own limits)."""
    return [(s, e) for s, e in pairs if s <= e and e - s <= MAX_ENTRY]


def _clock(span: datetime.timedelta) -> str:
    seconds = int(span.total_seconds())
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
