"""The calendar window NovaTime accepts, and the fields that enforce it.

Python's ``date`` ends at 9999-12-31 and starts at 0001-01-01, and the code
behind every date input does arithmetic on it: ``to`` + 1 day for an
inclusive end, the start of a day in the organization's time zone (up to 14
hours either side of UTC), the week or period around a day, the previous
period of a comparison. At the ends of the calendar that arithmetic raised
``OverflowError`` (a 500; in an export, after the 200 was sent). Rather than
guard each sum, every date that comes in is held to :data:`MIN_DATE` ..
:data:`MAX_DATE`, a window with years of room on both sides for any of it,
and refused otherwise with 400 ``date_out_of_range`` (promoted to the
answer's ``code`` by ``apps.common.errors``).

The same window is enforced by every way a date enters:

* :class:`DateField` / :class:`DateTimeField` for DRF serializers (also the
  fields ``ModelSerializer`` builds for model date columns, see
  ``apps.common.apps``);
* :class:`DateFilter` / :class:`DateFormField` for django-filter FilterSets
  (also the filters a FilterSet builds for model date columns);
* :func:`check_date_in_range` for code that parses a date itself.

A datetime has a second limit: its UTC offset. Python takes any offset
under 24 hours (``+23:59``), PostgreSQL only up to ``±15:59``, and an aware
datetime reaches psycopg with the offset it was sent with: ``?from=
2026-01-01T00:00:00+16:00`` was a ``DataError`` (500). Every datetime read
from a client therefore goes through :func:`utc_instant` (the window, then
``astimezone(UTC)``): :class:`DateTimeFormField` / :class:`DateTimeFilter`,
the time-entry ``from``/``to`` filter, chat's ``since`` and its cursor.
DRF's ``DateTimeField`` already converts to the current time zone.
"""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django_filters import rest_framework as filters
from rest_framework import serializers

#: First and last day accepted from clients. NovaTime holds time tracked by
#: people now; nothing real falls outside, and the margins keep every
#: "+1 day / whole week / previous period / any time zone" computation far
#: from Python's and PostgreSQL's limits.
MIN_DATE = datetime.date(1900, 1, 1)
MAX_DATE = datetime.date(9998, 12, 31)
DATE_OUT_OF_RANGE = "date_out_of_range"


def out_of_range_message() -> str:
    return f"Dates must be between {MIN_DATE.isoformat()} and {MAX_DATE.isoformat()}."


def date_in_range(value: datetime.date | datetime.datetime) -> bool:
    """Whether ``value`` (a date, or a datetime's own calendar day) is inside
    the window."""
    day = value.date() if isinstance(value, datetime.datetime) else value
    return MIN_DATE <= day <= MAX_DATE


def check_date_in_range(value: Any) -> None:
    """Raise DRF's ``ValidationError`` (code ``date_out_of_range``) for a date
    or datetime outside the window; other values pass (``None`` included)."""
    if isinstance(value, datetime.date) and not date_in_range(value):
        raise serializers.ValidationError(out_of_range_message(), code=DATE_OUT_OF_RANGE)


class DateOutOfRange(ValueError):
    """A date or datetime outside the window (message: :func:`out_of_range_message`)."""

    code = DATE_OUT_OF_RANGE


def utc_instant(value: datetime.datetime) -> datetime.datetime:
    """A client's datetime as the database may take it: its own calendar day
    inside the window (else :class:`DateOutOfRange`), and an aware one
    converted to UTC, whose offset PostgreSQL always accepts (it refuses
    offsets past ``±15:59``, which Python allows up to ``±23:59``). A naive
    datetime is returned as is (its time zone is the caller's to give)."""
    if not date_in_range(value):
        raise DateOutOfRange(out_of_range_message())
    if value.tzinfo is None:
        return value
    return value.astimezone(datetime.UTC)


class DateField(serializers.DateField):
    """DRF ``DateField`` held to the supported window."""

    def to_internal_value(self, value: Any) -> datetime.date:
        parsed = super().to_internal_value(value)
        check_date_in_range(parsed)
        return parsed


class DateTimeField(serializers.DateTimeField):
    """DRF ``DateTimeField`` held to the supported window (checked on the
    instant as sent, before any time-zone arithmetic)."""

    def to_internal_value(self, value: Any) -> datetime.datetime:
        if isinstance(value, str):
            try:
                sent = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                sent = None  # DRF's own parsing names the error
            if sent is not None:
                check_date_in_range(sent)
        parsed = super().to_internal_value(value)
        check_date_in_range(parsed)
        return parsed


def check_form_date(value: Any) -> None:
    """``check_date_in_range`` for Django forms (django-filter)."""
    if isinstance(value, datetime.date) and not date_in_range(value):
        raise forms.ValidationError(out_of_range_message(), code=DATE_OUT_OF_RANGE)


class DateFormField(forms.DateField):
    """Django form ``DateField`` held to the supported window."""

    default_validators = [check_form_date]


class DateTimeFormField(forms.DateTimeField):
    """Django form ``DateTimeField`` held to the supported window, in UTC
    (:func:`utc_instant`: Django keeps a sent offset as it is)."""

    default_validators = [check_form_date]

    def to_python(self, value: Any) -> datetime.datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return utc_instant(parsed)
        except DateOutOfRange as exc:
            raise forms.ValidationError(str(exc), code=DATE_OUT_OF_RANGE) from exc


class DateFilter(filters.DateFilter):
    field_class = DateFormField


class DateTimeFilter(filters.DateTimeFilter):
    field_class = DateTimeFormField
