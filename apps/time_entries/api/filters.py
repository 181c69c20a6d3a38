"""Filters of the time entry list.

``from``/``to`` take a date (a whole day in the organization's time zone:
``to`` is inclusive) or a datetime with an offset; an entry belongs to the
range by its start. ``tags`` keeps entries having any of the given tags
(comma-separated or repeated).
"""

from __future__ import annotations

import datetime
import zoneinfo
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.dateparse import parse_date, parse_datetime
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema_field

from apps.common.dates import DateOutOfRange, check_form_date, utc_instant
from apps.time_entries.models import TimeEntry


class DateOrDateTimeField(forms.CharField):
    """A date (``2026-11-26``) or an ISO datetime with offset."""

    def to_python(self, value: Any) -> Any:  # a date or datetime (CharField says str)
        value = super().to_python(value)
        if not value:
            return None
        parsed: datetime.date | datetime.datetime | None = None
        try:
            parsed = parse_date(value) if len(value) == 10 else parse_datetime(value)
        except ValueError:
            parsed = None
        if parsed is None:
            raise forms.ValidationError("Enter a date (YYYY-MM-DD) or an ISO 8601 datetime.")
        if isinstance(parsed, datetime.datetime) and parsed.tzinfo is None:
            raise forms.ValidationError("Give the datetime's time zone offset (or a date).")
        if isinstance(parsed, datetime.datetime):
            try:  # the window, and an offset PostgreSQL takes (apps.common.dates)
                return utc_instant(parsed)
            except DateOutOfRange as exc:
                raise forms.ValidationError(str(exc), code=exc.code) from exc
        check_form_date(parsed)  # the supported calendar window (apps.common.dates)
        return parsed


@extend_schema_field(
    {
        "type": "string",
        "description": "A date (YYYY-MM-DD, 1900-01-01..9998-12-31) or an ISO 8601 datetime "
        "with offset.",
    }
)
class DateOrDateTimeFilter(filters.Filter):
    field_class = DateOrDateTimeField


def _bound(
    value: datetime.date | datetime.datetime, tz: zoneinfo.ZoneInfo, *, end: bool
) -> datetime.datetime:
    """A date is the start of that day in ``tz`` (for ``to``: of the next day)."""
    if isinstance(value, datetime.datetime):
        return value
    day = value + datetime.timedelta(days=1) if end else value
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=tz)


class TimeEntryFilter(filters.FilterSet):
    # ``from`` is a Python keyword: declared through the class namespace.
    locals()["from"] = DateOrDateTimeFilter(
        field_name="started_at",
        method="filter_from",
        help_text="Entries starting at or after this date (org time zone) or datetime.",
    )
    to = DateOrDateTimeFilter(
        field_name="started_at",
        method="filter_to",
        help_text="Entries starting on or before this date (inclusive), or before this datetime.",
    )
    user = filters.UUIDFilter(field_name="user_id")
    project = filters.UUIDFilter(field_name="project_id")
    task = filters.UUIDFilter(field_name="task_id")
    billable = filters.BooleanFilter()
    running = filters.BooleanFilter(field_name="ended_at", lookup_expr="isnull")
    tags = filters.CharFilter(
        method="filter_tags", help_text="Any of these tags (comma-separated)."
    )
    source = filters.CharFilter()

    class Meta:
        model = TimeEntry
        fields: list[str] = []

    def _tz(self) -> zoneinfo.ZoneInfo:
        tenant = getattr(self.request, "tenant", None)
        return zoneinfo.ZoneInfo(getattr(tenant, "timezone", None) or "UTC")

    def filter_from(
        self, queryset: QuerySet[TimeEntry], name: str, value: datetime.date | datetime.datetime
    ) -> QuerySet[TimeEntry]:
        return queryset.filter(started_at__gte=_bound(value, self._tz(), end=False))

    def filter_to(
        self, queryset: QuerySet[TimeEntry], name: str, value: datetime.date | datetime.datetime
    ) -> QuerySet[TimeEntry]:
        if isinstance(value, datetime.datetime):
            return queryset.filter(started_at__lt=value)
        return queryset.filter(started_at__lt=_bound(value, self._tz(), end=True))

    def filter_tags(
        self, queryset: QuerySet[TimeEntry], name: str, value: str
    ) -> QuerySet[TimeEntry]:
        tags = [t.strip() for t in value.split(",") if t.strip()]
        return queryset.filter(tags__overlap=tags) if tags else queryset
