"""Reading Toggl Track and Clockify CSV exports into neutral rows.

The layouts are the real ones those products export:

* **Toggl Track**, *Detailed report → Export CSV*::

    User,Email,Client,Project,Task,Description,Billable,Start date,Start time,
    End date,End time,Duration,Tags,Amount (USD)

  dates ``YYYY-MM-DD``, times ``HH:MM:SS``, durations ``HH:MM:SS``, billable
  ``Yes``/``No``, tags joined with ``", "``; the file may start with a BOM.
* **Clockify**, *Reports → Detailed → Export → Save as CSV*::

    Project,Client,Description,Task,User,Group,Email,Tags,Billable,Start Date,
    Start Time,End Date,End Time,Duration (h),Duration (decimal),
    Billable Rate (USD),Billable Amount (USD)

  dates as the workspace shows them (``MM/DD/YYYY`` by default; ``DD/MM/YYYY``
  with ``day_first``; ``DD.MM.YYYY`` and ISO also read), times ``hh:mm:ss AM``
  or 24-hour.

Headers are matched ignoring case and surrounding spaces; column order does
not matter; unknown columns (amounts, rates, groups) are ignored: NovaTime
snapshots its own rates. Times are local times in the importing
organization's timezone unless the request names another one (both products
export in the exporting user's timezone).

Local times become instants through UTC with both ``fold`` values, checked
by the round trip back to local time: a time the clocks skip (daylight-saving
gap) has no instant and is a row error (``nonexistent_local_time``: an
export in the right timezone cannot contain one, so the file's timezone is
probably not the one assumed); a time that happens twice (the clocks go
back) has two, and the row's duration column picks the one that agrees with
it, else the first (daylight time) is taken with a warning
(``ambiguous_local_time``). A row with both an end and a duration must agree
within the duration's own precision (1 s for ``H:MM:SS``, half the last
decimal for decimal hours, plus 1 s) or it is refused
(``duration_mismatch``, naming both). A duration is at most
:data:`MAX_ENTRY`, checked before any date arithmetic, so no value overflows
into a server error.
"""

from __future__ import annotations

import csv
import datetime
import io
import math
import re
import zoneinfo
from dataclasses import dataclass, field
from decimal import Decimal, DecimalException
from typing import Any

from apps.common.errors import ApplicationError
from apps.time_entries.services import normalize_tags

#: Refuse bigger files before reading them (a year of a 50-person team's
#: Toggl export is ~15 MB; split larger histories by date range).
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROWS = 100_000
csv.field_size_limit(64 * 1024)  # one cell; a bigger one is a broken file, not a description
#: Longest entry an import takes (the entries API asks for confirm_long above it).
MAX_ENTRY = datetime.timedelta(hours=24)
#: Earliest day an import takes: older dates are typos (and converting dates
#: near year 1 between timezones overflows Python's calendar).
MIN_DATE = datetime.date(1970, 1, 1)


@dataclass(frozen=True)
class Layout:
    source: str
    email: str
    project: str
    start_date: str
    start_time: str
    end_date: str
    end_time: str
    durations: tuple[str, ...]
    optional: dict[str, str]  # our name → their header


LAYOUTS = {
    "toggl": Layout(
        source="toggl",
        email="email",
        project="project",
        start_date="start date",
        start_time="start time",
        end_date="end date",
        end_time="end time",
        durations=("duration",),
        optional={
            "user": "user",
            "client": "client",
            "task": "task",
            "description": "description",
            "billable": "billable",
            "tags": "tags",
        },
    ),
    "clockify": Layout(
        source="clockify",
        email="email",
        project="project",
        start_date="start date",
        start_time="start time",
        end_date="end date",
        end_time="end time",
        durations=("duration (h)", "duration (decimal)"),
        optional={
            "user": "user",
            "client": "client",
            "task": "task",
            "description": "description",
            "billable": "billable",
            "tags": "tags",
        },
    ),
}


@dataclass
class RowError:
    line: int
    code: str
    message: str
    field: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"line": self.line, "code": self.code, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


@dataclass
class ParsedRow:
    line: int
    email: str
    project: str
    client: str
    task: str
    description: str
    billable: bool
    started_at: datetime.datetime
    ended_at: datetime.datetime
    tags: list[str] = field(default_factory=list)
    #: Choices the parser made that the file did not settle (ambiguous times).
    warnings: list[RowError] = field(default_factory=list)


def _file_error(code: str, message: str, **extra: Any) -> ApplicationError:
    return ApplicationError(message, code=code, extra=extra)


def decode(content: bytes) -> str:
    """UTF-8 text (with or without BOM); anything else is a clear 400."""
    if b"\x00" in content[:4096]:
        raise _file_error("import_bad_encoding", "This is not a text file (export CSV, UTF-8).")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _file_error(
            "import_bad_encoding",
            f"The file is not UTF-8 (byte {exc.start}): export it again as UTF-8 CSV.",
        ) from exc


def _norm(header: str) -> str:
    return " ".join(header.replace("\ufeff", "").strip().lower().split())


def read_rows(
    *, source: str, text: str, tz: zoneinfo.ZoneInfo, day_first: bool = False
) -> tuple[list[ParsedRow], list[RowError]]:
    """Parse the whole file: good rows, and row errors with 1-based line numbers."""
    layout = LAYOUTS[source]
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise _file_error("import_malformed", f"Malformed CSV on line 1: {exc}.") from exc
    if not header or not any(h.strip() for h in header):
        raise _file_error("import_empty", "The file is empty.")
    columns = {_norm(h): i for i, h in enumerate(header)}
    required = [layout.email, layout.project, layout.start_date, layout.start_time]
    missing = [h for h in required if h not in columns]
    has_end = layout.end_date in columns and layout.end_time in columns
    has_duration = any(d in columns for d in layout.durations)
    if not has_end and not has_duration:
        missing.append(f"{layout.end_date} + {layout.end_time} or {layout.durations[0]}")
    if missing:
        raise _file_error(
            "import_unknown_layout",
            f"This does not look like a {source.capitalize()} detailed export: "
            f"missing column(s) {', '.join(missing)}.",
            missing_columns=missing,
        )

    rows: list[ParsedRow] = []
    errors: list[RowError] = []
    last_line = 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise _file_error(
                "import_malformed", f"Malformed CSV near line {reader.line_num}: {exc}."
            ) from exc
        line, last_line = last_line + 1, reader.line_num
        if not any(cell.strip() for cell in record):
            continue  # blank line
        if len(rows) + len(errors) >= MAX_ROWS:
            raise _file_error("import_too_many_rows", f"At most {MAX_ROWS} rows per import.")
        if len(record) != len(header):
            errors.append(
                RowError(
                    line,
                    "wrong_column_count",
                    f"{len(record)} values for {len(header)} columns.",
                )
            )
            continue

        def cell(name: str, record: list[str] = record) -> str:
            index = columns.get(name)
            return record[index].strip() if index is not None else ""

        try:
            rows.append(_parse_row(layout, cell, line, tz, day_first, has_end))
        except _RowProblem as problem:
            errors.append(RowError(line, problem.code, problem.message, problem.field))
    return rows, errors


class _RowProblem(Exception):
    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


def _parse_row(
    layout: Layout,
    cell: Any,
    line: int,
    tz: zoneinfo.ZoneInfo,
    day_first: bool,
    has_end: bool,
) -> ParsedRow:
    email = cell(layout.email).lower()
    if not email or "@" not in email:
        raise _RowProblem("invalid_email", "A valid email is required.", "Email")
    project = cell(layout.project)
    if not project:
        raise _RowProblem("project_required", "Every entry needs a project.", "Project")
    if len(project) > 200:
        raise _RowProblem("invalid", "A project name has at most 200 characters.", "Project")
    start_day = _parse_date(cell(layout.start_date), day_first, "Start date")
    start_time = _parse_time(cell(layout.start_time), "Start time")
    starts = _instants(start_day, start_time, tz, "Start time")
    duration = next(
        (_parse_duration(cell(name), name.capitalize()) for name in layout.durations if cell(name)),
        None,
    )
    warnings: list[RowError] = []
    end_date_text, end_time_text = cell(layout.end_date), cell(layout.end_time)
    if has_end and end_date_text and end_time_text:
        end_day = _parse_date(end_date_text, day_first, "End date")
        end_time = _parse_time(end_time_text, "End time")
        ends = _instants(end_day, end_time, tz, "End time")
        started_at, ended_at = _pick_span(starts, ends, duration, f"{end_day} {end_time}")
        if (len(starts) > 1 or len(ends) > 1) and not _settled_by(duration, starts, ends):
            for column, day, time, found in (
                ("Start time", start_day, start_time, starts),
                ("End time", end_day, end_time, ends),
            ):
                if len(found) > 1:
                    warnings.append(_ambiguous(line, column, day, time, tz))
    else:
        if duration is None:
            raise _RowProblem("end_required", "An end time or a duration is required.", "End time")
        started_at = starts[0]
        try:
            ended_at = started_at + datetime.timedelta(seconds=duration.seconds)
        except OverflowError as exc:
            raise _RowProblem(
                "invalid_date", "This entry ends beyond the calendar.", duration.column
            ) from exc
        if len(starts) > 1:
            warnings.append(_ambiguous(line, "Start time", start_day, start_time, tz))
    billable_text = cell(layout.optional["billable"]).lower()
    if billable_text in ("", "yes", "true", "1", "y"):
        billable = True
    elif billable_text in ("no", "false", "0", "n"):
        billable = False
    else:
        raise _RowProblem("invalid_billable", "Billable must be Yes or No.", "Billable")
    # The entries API's own rule (services.normalize_tags): a row with more
    # than MAX_TAGS distinct tags or a tag over MAX_TAG_LENGTH characters is
    # refused with the API's code and message (too_many_tags, tag_too_long),
    # never silently cut; case duplicates are dropped (first spelling wins).
    try:
        tags = normalize_tags(cell(layout.optional["tags"]).split(","), field="Tags")
    except ApplicationError as exc:
        raise _RowProblem(exc.code, exc.message, "Tags") from exc
    return ParsedRow(
        line=line,
        email=email,
        project=project,
        client=cell(layout.optional["client"])[:200],
        task=cell(layout.optional["task"])[:500],
        description=cell(layout.optional["description"]),
        billable=billable,
        started_at=started_at,
        ended_at=ended_at,
        tags=tags,
        warnings=warnings,
    )


_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_SLASH = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_DOT = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?$")


def _parse_date(text: str, day_first: bool, column: str) -> datetime.date:
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
        raise _RowProblem("invalid_date", f"Unreadable date {text!r}.", column)
    if day < MIN_DATE:
        raise _RowProblem(
            "invalid_date", f"{text!r} is before {MIN_DATE:%Y}: not a time entry's date.", column
        )
    return day


def _parse_time(text: str, column: str) -> datetime.time:
    m = _TIME.match(text)
    if m:
        hour, minute, second = int(m[1]), int(m[2]), int(m[3] or 0)
        meridiem = (m[4] or "").lower()
        if meridiem:
            if not 1 <= hour <= 12:
                raise _RowProblem("invalid_time", f"Unreadable time {text!r}.", column)
            hour = hour % 12 + (12 if meridiem == "pm" else 0)
        if hour < 24 and minute < 60 and second < 60:
            return datetime.time(hour, minute, second)
    raise _RowProblem("invalid_time", f"Unreadable time {text!r}.", column)


@dataclass(frozen=True)
class Duration:
    """A duration cell: whole seconds, and how far an end may differ from it
    and still agree (the cell's own precision, plus 1 s for the exporter's
    rounding of start and end to the second)."""

    seconds: int
    tolerance: int
    text: str
    column: str


def _parse_duration(text: str, column: str) -> Duration:
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
                raise _RowProblem("invalid_duration", f"Unreadable duration {text!r}.", column)
            if hours < 0:
                raise _RowProblem("invalid_duration", f"Negative duration {text!r}.", column)
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
        raise _RowProblem("invalid_duration", f"Unreadable duration {text!r}.", column)
    if seconds > MAX_ENTRY.total_seconds():
        raise _RowProblem(
            "entry_too_long",
            f"Entries longer than 24 hours are not imported ({column} {text!r}).",
            column,
        )
    return Duration(seconds=seconds, tolerance=tolerance, text=text, column=column)


def _instants(
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
        raise _RowProblem("invalid_date", f"{day} {time} is out of range.", column) from exc
    if not found:
        raise _RowProblem(
            "nonexistent_local_time",
            f"{day} {time} does not exist in {tz.key}: the clocks skip it (daylight saving). "
            "The file's times are probably in another timezone: send timezone.",
            column,
        )
    return sorted(found)


def _agrees(duration: Duration, start: datetime.datetime, end: datetime.datetime) -> bool:
    return abs((end - start).total_seconds() - duration.seconds) <= duration.tolerance


def _pick_span(
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
        raise _RowProblem(
            "duration_mismatch",
            f"The end ({end_text}) is {_clock(end - start)} after the start, but "
            f"{duration.column} says {duration.text!r}: correct one of them.",
            duration.column,
        )
    return start, end


def _settled_by(
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


def _ambiguous(
    line: int, column: str, day: datetime.date, time: datetime.time, tz: zoneinfo.ZoneInfo
) -> RowError:
    first = datetime.datetime.combine(day, time, tzinfo=tz)
    return RowError(
        line,
        "ambiguous_local_time",
        f"{day} {time} happens twice in {tz.key} (the clocks go back): read as the first "
        f"one ({first:%Z}, UTC{first:%z}).",
        column,
    )


def _clock(span: datetime.timedelta) -> str:
    seconds = int(span.total_seconds())
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
