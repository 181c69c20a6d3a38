"""The detailed report: the entries behind a summary, one row each, with the
rounded duration and the amount the summary counts for them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from apps.time_entries.models import TimeEntry
from apps.time_entries.money import entry_currency_expression

from .query import ReportQuery
from .summary import user_identities

_TABLE = '"time_entries_timeentry"'


def _rounded_expressions(query: ReportQuery) -> dict[str, RawSQL]:
    rounding = query.rounding
    seconds = rounding.seconds_sql(f"{_TABLE}.duration_seconds")
    amount = rounding.amount_sql(
        seconds_column=f"{_TABLE}.duration_seconds",
        rate_column=f"{_TABLE}.hourly_rate",
        amount_column=f"{_TABLE}.amount",
    )
    return {
        "rounded_seconds": RawSQL(seconds, []),
        "billable_amount": RawSQL(f"CASE WHEN {_TABLE}.billable THEN {amount} ELSE 0 END", []),
    }


def report_detailed(query: ReportQuery) -> QuerySet[TimeEntry]:
    """Entries of the report, newest first, with ``rounded_seconds``,
    ``billable_amount`` (same SQL as the summary) and the amount's
    ``currency`` annotated."""
    return (
        TimeEntry.all_objects.filter(query.entry_filter())
        .select_related("project__client", "task")
        .annotate(
            **_rounded_expressions(query), currency=entry_currency_expression(query.organization)
        )
        .order_by("-started_at", "-id")
    )


#: Columns of :func:`iter_detailed_rows`, in order (plus the local date/time
#: strings of :func:`_local_times`).
EXPORT_FIELDS = (
    "id",
    "user_id",
    "duration_seconds",
    "rounded_seconds",
    "billable",
    "description",
    "tags",
    "project__name",
    "project__client__name",
    "task__title",
    "hourly_rate",
    "billable_amount",
    "currency",
)


def _local_times(query: ReportQuery) -> dict[str, RawSQL]:
    """Start/end as local date and time text, formatted by PostgreSQL: parsing
    two timestamps per row in Python and converting them was most of an
    export's CPU time."""
    out = {}
    for name, column in (("start", "started_at"), ("end", "ended_at")):
        local = f"({_TABLE}.{column} AT TIME ZONE %s)"
        out[f"{name}_date"] = RawSQL(f"to_char({local}, 'YYYY-MM-DD')", [query.timezone])
        out[f"{name}_time"] = RawSQL(f"to_char({local}, 'HH24:MI:SS')", [query.timezone])
    return out


def iter_detailed_rows(query: ReportQuery, *, chunk_size: int = 2000) -> Iterator[dict[str, Any]]:
    """Every entry of the report in chronological order, streamed.

    ``QuerySet.iterator`` reads through a PostgreSQL server-side cursor, so the
    process holds one chunk of rows at a time whatever the report's size; user
    names are looked up per chunk for ids not seen yet (one small query).
    """
    local = _local_times(query)
    rows = (
        TimeEntry.all_objects.filter(query.entry_filter())
        .annotate(
            **_rounded_expressions(query),
            **local,
            currency=entry_currency_expression(query.organization),
        )
        .order_by("started_at", "id")
        .values(*EXPORT_FIELDS, *local)
        .iterator(chunk_size=chunk_size)
    )
    names: dict[uuid.UUID, tuple[str, str]] = {}
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= chunk_size:
            yield from _with_names(chunk, names)
            chunk = []
    if chunk:
        yield from _with_names(chunk, names)


def _with_names(
    chunk: list[dict[str, Any]], names: dict[uuid.UUID, tuple[str, str]]
) -> Iterator[dict[str, Any]]:
    missing = {row["user_id"] for row in chunk} - names.keys()
    if missing:
        found = user_identities(missing)
        names.update({pk: found.get(pk, ("", "")) for pk in missing})
    for row in chunk:
        row["user_name"], row["user_email"] = names[row["user_id"]]
        yield row
