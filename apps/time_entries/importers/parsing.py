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
"""

from __future__ import annotations

import csv
import datetime
import io
import re
import zoneinfo
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from apps.common.errors import ApplicationError
from apps.time_entries.services import normalize_tags

#: Refuse bigger files before reading them (a year of a 50-person team's
#: Toggl export is ~15 MB; split larger histories by date range).
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROWS = 100_000
csv.field_size_limit(64 * 1024)  # one cell; a bigger one is a broken file, not a description


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
    started_at = datetime.datetime.combine(start_day, start_time, tzinfo=tz)
    end_date_text, end_time_text = cell(layout.end_date), cell(layout.end_time)
    if has_end and end_date_text and end_time_text:
        end_day = _parse_date(end_date_text, day_first, "End date")
        ended_at = datetime.datetime.combine(
            end_day, _parse_time(end_time_text, "End time"), tzinfo=tz
        )
    else:
        seconds = None
        for name in layout.durations:
            if cell(name):
                seconds = _parse_duration(cell(name), name)
                break
        if seconds is None:
            raise _RowProblem("end_required", "An end time or a duration is required.", "End time")
        ended_at = started_at + datetime.timedelta(seconds=seconds)
    # Compare real instants: local wall times around a DST change can mislead.
    started_at = started_at.astimezone(datetime.UTC)
    ended_at = ended_at.astimezone(datetime.UTC)
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
    )


_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_SLASH = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_DOT = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?$")


def _parse_date(text: str, day_first: bool, column: str) -> datetime.date:
    try:
        if m := _ISO.match(text):
            return datetime.date(int(m[1]), int(m[2]), int(m[3]))
        if m := _SLASH.match(text):
            first, second = int(m[1]), int(m[2])
            month, day = (second, first) if day_first else (first, second)
            return datetime.date(int(m[3]), month, day)
        if m := _DOT.match(text):
            return datetime.date(int(m[3]), int(m[2]), int(m[1]))
    except ValueError:
        pass
    raise _RowProblem("invalid_date", f"Unreadable date {text!r}.", column)


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


def _parse_duration(text: str, column: str) -> int:
    parts = text.split(":")
    try:
        if len(parts) == 3:
            h, m, s = (int(p) for p in parts)
            if m < 60 and s < 60 and min(h, m, s) >= 0:
                return h * 3600 + m * 60 + s
        elif len(parts) == 1:
            hours = Decimal(text)
            if hours >= 0:
                return int((hours * 3600).to_integral_value())
    except (ValueError, InvalidOperation):
        pass
    raise _RowProblem("invalid_duration", f"Unreadable duration {text!r}.", column)
