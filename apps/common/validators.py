"""Field validators shared by models (and so by their serializers and forms)."""

from __future__ import annotations

import functools
import zoneinfo

from django.core.exceptions import ValidationError


@functools.cache
def _known_timezones() -> frozenset[str]:
    # available_timezones() walks the tz database on disk on every call
    # (~10 ms): read it once per process.
    return frozenset(zoneinfo.available_timezones())


def validate_timezone(value: str) -> None:
    """An IANA time zone name (``Europe/Berlin``)."""
    if value not in _known_timezones():
        raise ValidationError(f"Unknown time zone: {value!r}.", code="invalid_timezone")
