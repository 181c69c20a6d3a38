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
:data:`.times.MAX_ENTRY`, checked before any date arithmetic, so no value overflows
into a server error.
"""

from __future__ import annotations

import csv
import datetime
import io
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field

from apps.common.errors import ApplicationError
from apps.time_entries.services.validation import normalize_tags

from .times import (
    RowProblem,
    instants,
    parse_date,
    parse_duration,
    parse_time,
    pick_span,
    settled_by,
)

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

    def as_dict(self) -> dict[str, int | str]:
        out: dict[str, int | str] = {"line": self.line, "code": self.code, "message": self.message}
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


def file_error(message: str, *, code: str, **extra: object) -> ApplicationError:
    """400 about the file as a whole (``code`` names what is wrong with it)."""
    return ApplicationError(message, code=code, extra=extra)


def decode(content: bytes) -> str:
    """UTF-8 text (with or without BOM); anything else is a clear 400."""
    if b"\x00" in content[:4096]:
        raise file_error("This is not a text file (export CSV, UTF-8).", code="import_bad_encoding")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise file_error(
            f"The file is not UTF-8 (byte {exc.start}): export it again as UTF-8 CSV.",
            code="import_bad_encoding",
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
        raise file_error(f"Malformed CSV on line 1: {exc}.", code="import_malformed") from exc
    if not header or not any(h.strip() for h in header):
        raise file_error("The file is empty.", code="import_empty")
    columns = {_norm(h): i for i, h in enumerate(header)}
    required = [layout.email, layout.project, layout.start_date, layout.start_time]
    missing = [h for h in required if h not in columns]
    has_end = layout.end_date in columns and layout.end_time in columns
    has_duration = any(d in columns for d in layout.durations)
    if not has_end and not has_duration:
        missing.append(f"{layout.end_date} + {layout.end_time} or {layout.durations[0]}")
    if missing:
        raise file_error(
            f"This does not look like a {source.capitalize()} detailed export: "
            f"missing column(s) {', '.join(missing)}.",
            code="import_unknown_layout",
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
            raise file_error(
                f"Malformed CSV near line {reader.line_num}: {exc}.", code="import_malformed"
            ) from exc
        line, last_line = last_line + 1, reader.line_num
        if not any(cell.strip() for cell in record):
            continue  # blank line
        if len(rows) + len(errors) >= MAX_ROWS:
            raise file_error(f"At most {MAX_ROWS} rows per import.", code="import_too_many_rows")
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
        except RowProblem as problem:
            errors.append(RowError(line, problem.code, problem.message, problem.field))
    return rows, errors


def _parse_row(
    layout: Layout,
    cell: Callable[[str], str],
    line: int,
    tz: zoneinfo.ZoneInfo,
    day_first: bool,
    has_end: bool,
) -> ParsedRow:
    email = cell(layout.email).lower()
    if not email or "@" not in email:
        raise RowProblem("invalid_email", "A valid email is required.", "Email")
    project = cell(layout.project)
    if not project:
        raise RowProblem("project_required", "Every entry needs a project.", "Project")
    if len(project) > 200:
        raise RowProblem("invalid", "A project name has at most 200 characters.", "Project")
    start_day = parse_date(cell(layout.start_date), day_first, "Start date")
    start_time = parse_time(cell(layout.start_time), "Start time")
    starts = instants(start_day, start_time, tz, "Start time")
    duration = next(
        (parse_duration(cell(name), name.capitalize()) for name in layout.durations if cell(name)),
        None,
    )
    warnings: list[RowError] = []
    end_date_text, end_time_text = cell(layout.end_date), cell(layout.end_time)
    if has_end and end_date_text and end_time_text:
        end_day = parse_date(end_date_text, day_first, "End date")
        end_time = parse_time(end_time_text, "End time")
        ends = instants(end_day, end_time, tz, "End time")
        started_at, ended_at = pick_span(starts, ends, duration, f"{end_day} {end_time}")
        if (len(starts) > 1 or len(ends) > 1) and not settled_by(duration, starts, ends):
            for column, day, time, found in (
                ("Start time", start_day, start_time, starts),
                ("End time", end_day, end_time, ends),
            ):
                if len(found) > 1:
                    warnings.append(_ambiguous(line, column, day, time, tz))
    else:
        if duration is None:
            raise RowProblem("end_required", "An end time or a duration is required.", "End time")
        started_at = starts[0]
        try:
            ended_at = started_at + datetime.timedelta(seconds=duration.seconds)
        except OverflowError as exc:
            raise RowProblem(
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
        raise RowProblem("invalid_billable", "Billable must be Yes or No.", "Billable")
    # The entries API's own rule (services.normalize_tags): a row with more
    # than MAX_TAGS distinct tags or a tag over MAX_TAG_LENGTH characters is
    # refused with the API's code and message (too_many_tags, tag_too_long),
    # never silently cut; case duplicates are dropped (first spelling wins).
    try:
        tags = normalize_tags(cell(layout.optional["tags"]).split(","), field="Tags")
    except ApplicationError as exc:
        raise RowProblem(exc.code, exc.message, "Tags") from exc
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
