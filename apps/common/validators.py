"""Field validators shared by models (and so by their serializers and forms)."""

from __future__ import annotations

import functools
import zoneinfo

from django.core.exceptions import ValidationError
from django.utils.translation import gettext


@functools.cache
def _known_timezones() -> frozenset[str]:
    # available_timezones() walks the tz database on disk on every call
    # (~10 ms): read it once per process.
    return frozenset(zoneinfo.available_timezones())


@functools.cache
def time_zone_names() -> tuple[str, ...]:
    """Every IANA time zone name, sorted (the pages' time zone lists; read once)."""
    return tuple(sorted(_known_timezones()))


def validate_timezone(value: str) -> None:
    """An IANA time zone name (``Europe/Berlin``)."""
    if value not in _known_timezones():
        raise ValidationError(
            gettext("Unknown time zone: %(value)s.") % {"value": repr(value)},
            code="invalid_timezone",
        )


def validate_currency(value: str) -> None:
    """An ISO 4217 code of a circulating currency, upper case (``EUR``).

    The one check for every place a currency is accepted: the organization
    model (so the CLI, signup, the settings API and the admin form), and the
    client API. The code list and what it leaves out: ``apps.common.currencies``.
    """
    from .currencies import ISO_4217_CODES

    if value not in ISO_4217_CODES:
        raise ValidationError(
            f"Unknown currency {value!r}: use an ISO 4217 code such as EUR or USD.",
            code="invalid_currency",
        )
