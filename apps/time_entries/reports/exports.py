"""CSV and XLSX exports of reports, streamed in constant memory.

* The detailed export reads entries through a server-side cursor
  (:func:`detailed.iter_detailed_rows`) and writes them out chunk by chunk;
  CSV goes to the client as it is produced, XLSX is written row by row by
  openpyxl's write-only workbook into a temporary file that is then streamed.
* Under ASGI, Django would buffer a *synchronous* streaming iterator whole
  (``StreamingHttpResponse.__aiter__`` falls back to ``list()``), so the
  response gets an asynchronous iterator that pulls one chunk at a time from
  the synchronous generator on the request's own thread (same database
  connection and tenant schema).
* The first chunk is produced in the view (:func:`primed`): the report's
  query and checks run before the 200 is sent, so a failure is an error
  answer, not a body cut off after a 200.
* The rest of the body is produced after the view returned, when the connection is back
  on the public schema: every chunk is produced inside the tenant the request
  was for (:func:`bound_to_tenant`).
* Spreadsheet formula injection is refused: a text cell that starts with
  ``= + - @`` (or a tab / carriage return) is prefixed with ``'``.
* The detailed CSV uses Toggl Track's detailed-export column names (plus
  NovaTime's rounded duration and rate), so it can be read back by the
  Toggl importer. Its money columns are ``Amount``, ``Currency`` and
  ``Hourly rate``: every row names its own currency, read in the same
  statement as the row (a header naming the currency would need a query of
  its own before the rows, and could disagree with them).
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import AsyncIterator, Iterable, Iterator
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, StreamingHttpResponse
from django_tenants.utils import tenant_context

from tenants.db import current_tenant

from .detailed import iter_detailed_rows
from .query import ReportQuery
from .summary import report_summary

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
#: Rows per chunk handed to the client (a few hundred KB of CSV).
_ROWS_PER_CHUNK = 1000
_FILE_CHUNK = 256 * 1024


def safe_cell(value: Any) -> Any:
    """Neutralise text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value


def hms(seconds: int | None) -> str:
    seconds = int(seconds or 0)
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def hours(seconds: int | None) -> Decimal:
    return (Decimal(int(seconds or 0)) / Decimal(3600)).quantize(Decimal("0.01"))


# --- rows ---------------------------------------------------------------------------


def detailed_header(query: ReportQuery) -> list[str]:
    """Toggl's columns. Money columns only when the caller may see amounts:
    ``Amount``, then ``Currency`` (the row's, amounts in different currencies
    are never added), and ``Hourly rate`` (in the row's currency), whatever
    currencies the rows turn out to hold: the header never depends on data."""
    header = [
        "User",
        "Email",
        "Client",
        "Project",
        "Task",
        "Description",
        "Billable",
        "Start date",
        "Start time",
        "End date",
        "End time",
        "Duration",
        "Tags",
    ]
    if query.show_amounts:
        header += ["Amount", "Currency"]
    header += ["Rounded duration", "Duration (decimal)"]
    if query.show_amounts:
        header.append("Hourly rate")
    return header


def detailed_rows(query: ReportQuery) -> Iterator[list[Any]]:
    """Export rows of the detailed report (typed values; times in the org's
    timezone); columns as :func:`detailed_header` names them."""
    cent = Decimal("0.01")
    for row in iter_detailed_rows(query):
        line: list[Any] = [
            safe_cell(row["user_name"]),
            safe_cell(row["user_email"]),
            safe_cell(row["project__client__name"] or ""),
            safe_cell(row["project__name"]),
            safe_cell(row["task__title"] or ""),
            safe_cell(row["description"]),
            "Yes" if row["billable"] else "No",
            row["start_date"],
            row["start_time"],
            row["end_date"],
            row["end_time"],
            hms(row["duration_seconds"]),
            safe_cell(", ".join(row["tags"] or ())),
        ]
        if query.show_amounts:
            line.append(Decimal(row["billable_amount"] or 0).quantize(cent))
            line.append(row["currency"])
        line += [hms(row["rounded_seconds"]), hours(row["rounded_seconds"])]
        if query.show_amounts:
            line.append(row["hourly_rate"])
        yield line


def detailed_table(query: ReportQuery) -> tuple[list[str], Iterator[list[Any]]]:
    """Header and rows of the detailed export: the rows' one statement is the
    only read (each row carries its currency)."""
    return detailed_header(query), detailed_rows(query)


def summary_table(query: ReportQuery) -> tuple[list[str], Iterator[list[Any]]]:
    """Header and rows of the summary export: one row per group (first level,
    then its subgroups), then the total. The money is one ``Billable amount
    (CUR)`` column per currency of the report (one column, named after the
    organization's currency, when it has none); a group without money in a
    currency shows ``0.00`` there. Amounts in different currencies are never
    added."""
    report = report_summary(query)
    width = max(len(query.group_by), 1)
    currencies = [t["currency"] for t in report["billable_amounts"] or ()] or [query.currency]
    header = [d.capitalize() for d in query.group_by] or ["Total"]
    header += ["Duration", "Hours", "Billable duration", "Billable hours"]
    if query.show_amounts:
        header += [f"Billable amount ({currency})" for currency in currencies]

    def line(labels: list[str], node: dict[str, Any]) -> list[Any]:
        cells: list[Any] = [*labels, *[""] * (width - len(labels))]
        cells += [
            hms(node["total_seconds"]),
            hours(node["total_seconds"]),
            hms(node["billable_seconds"]),
            hours(node["billable_seconds"]),
        ]
        if query.show_amounts:
            amounts = {t["currency"]: t["amount"] for t in node["billable_amounts"]}
            cells += [Decimal(amounts.get(currency, "0.00")) for currency in currencies]
        return [safe_cell(v) for v in cells]

    def rows() -> Iterator[list[Any]]:
        for group in report["groups"]:
            yield line([group["label"]], group)
            for sub in group.get("groups", ()):
                yield line([group["label"], sub["label"]], sub)
        yield line(["Total"], report)

    return header, rows()


# --- encoders -----------------------------------------------------------------------


def csv_chunks(header: list[str], rows: Iterable[list[Any]]) -> Iterator[bytes]:
    """CSV bytes (UTF-8 with BOM, so spreadsheets detect the encoding), in chunks."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(header)
    for count, row in enumerate(rows, start=1):
        writer.writerow(row)
        if count % _ROWS_PER_CHUNK == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def xlsx_chunks(header: list[str], rows: Iterable[list[Any]], title: str) -> Iterator[bytes]:
    """An XLSX file written row by row (write-only mode), then streamed from disk."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    with tempfile.TemporaryFile() as handle:
        workbook.save(handle)
        handle.seek(0)
        while chunk := handle.read(_FILE_CHUNK):
            yield chunk


# --- response -----------------------------------------------------------------------


async def _pull(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Feed a sync generator to an ASGI server one chunk at a time, on the
    request's thread (thread-sensitive), closing it however the stream ends."""
    done = object()

    def step() -> Any:
        return next(chunks, done)

    pull = sync_to_async(step, thread_sensitive=True)
    try:
        while (chunk := await pull()) is not done:
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            await sync_to_async(close, thread_sensitive=True)()


def bound_to_tenant(tenant: Any, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Produce each chunk inside ``tenant``'s schema.

    A streamed body is produced after the view has returned, when the tenant
    middleware has already put the connection back on the public schema; so
    the schema the response was built for travels with the generator instead
    of being read from the connection.
    """
    try:
        while True:
            with tenant_context(tenant):
                chunk = next(chunks, None)
            if chunk is None:
                return
            yield chunk
    finally:
        with tenant_context(tenant):
            chunks.close()  # type: ignore[attr-defined]


def primed(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Produce the first chunk now, in the view, and return a generator that
    yields it and then the rest.

    Once a streamed response's 200 and headers are sent, an error can only
    cut the body off (a truncated file, no error the client can read). The
    first chunk runs the report's SQL and every check behind it (for XLSX
    and summaries, all of it), so what fails for this request's input fails
    here, before the status line, and reaches the exception handler.
    """
    first = next(chunks, None)

    def resume() -> Iterator[bytes]:
        try:
            if first is not None:
                yield first
            yield from chunks
        finally:
            chunks.close()  # type: ignore[attr-defined]

    return resume()


def streaming_file(
    request: HttpRequest, chunks: Iterator[bytes], *, content_type: str, filename: str
) -> StreamingHttpResponse:
    chunks = bound_to_tenant(current_tenant(), primed(chunks))
    content: Any = _pull(chunks) if isinstance(request, ASGIRequest) else chunks
    response = StreamingHttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def export_response(
    request: HttpRequest, query: ReportQuery, *, file_format: str, report_type: str
) -> StreamingHttpResponse:
    """The export as a streamed download (``file_format`` csv|xlsx, ``report_type``
    detailed|summary). The first chunk is produced before the response is
    returned (:func:`primed`), the rest as the client reads."""
    if report_type == "summary":
        header, rows = summary_table(query)
    else:
        header, rows = detailed_table(query)
    stem = f"novatime-{report_type}-{query.start_date.isoformat()}-{query.end_date.isoformat()}"
    if file_format == "xlsx":
        return streaming_file(
            request,
            xlsx_chunks(header, rows, title=report_type.capitalize()),
            content_type=XLSX_CONTENT_TYPE,
            filename=f"{stem}.xlsx",
        )
    return streaming_file(
        request, csv_chunks(header, rows), content_type=CSV_CONTENT_TYPE, filename=f"{stem}.csv"
    )
