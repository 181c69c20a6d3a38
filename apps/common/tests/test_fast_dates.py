"""The built-in ``date``/``time`` filters (apps/common/templatetags/fast_dates.py)
write exactly what Django's write, in templates and called directly."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
from django.template import Context, Template, defaultfilters
from django.utils import timezone, translation

from apps.common.templatetags import fast_dates

FORMATS = [
    "j M Y",
    "j M Y, H:i",
    "j M Y H:i",
    "j M H:i",
    "D j M",
    "l j F",
    "Y-m-d",
    "c",
    "H:i",
    "G:i:s",
    "d.m.Y n",
    # Left to Django: named, escaped, characters not done here, none.
    "SHORT_DATE_FORMAT",
    "DATE_FORMAT",
    r"j \d\e F",
    "N jS, P",
    "U",
    "",
    None,
]
ZONES = ["UTC", "Europe/Berlin", "America/St_Johns", "Asia/Kathmandu"]
INSTANTS = [
    datetime.datetime(2026, 1, 1, 0, 0, 5, tzinfo=datetime.UTC),
    datetime.datetime(2026, 3, 29, 0, 59, 59, 123456, tzinfo=datetime.UTC),  # Berlin DST
    datetime.datetime(2026, 12, 7, 23, 30, tzinfo=datetime.UTC),
    datetime.datetime(1, 1, 1, 12, 0, tzinfo=datetime.UTC),
    datetime.datetime(9999, 12, 30, 9, 7, tzinfo=datetime.UTC),
]
VALUES = [
    *INSTANTS,
    datetime.date(2026, 5, 31),
    datetime.date(1, 1, 1),
    datetime.datetime(2026, 7, 4, 8, 9),  # naive
    datetime.time(7, 5),
    "not a date",
    None,
    "",
]


def _outcome(apply, value, fmt):
    """What the filter returns, or the error it raises (Django's ``date``
    raises on a plain date with a time character: so must ours)."""
    try:
        return "returns", apply(value, fmt)
    except Exception as error:
        return "raises", type(error)


@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_filters_write_what_djangos_write(language, fmt):
    with translation.override(language):
        for value in VALUES:
            for ours, theirs in (
                (fast_dates.date, defaultfilters.date),
                (fast_dates.time, defaultfilters.time),
            ):
                assert _outcome(ours, value, fmt) == _outcome(theirs, value, fmt), (
                    ours.__name__,
                    value,
                    fmt,
                )


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("language", ["en", "de"])
def test_templates_use_them_with_the_active_zone(zone, language):
    """In a template the filters are the built-in ones, and an aware value is
    converted to the active zone first, as Django's are."""
    source = "{{ v|date:'l j F Y, H:i' }}|{{ v|time:'H:i' }}|{{ v|date:'c' }}"
    template = Template(source)
    with translation.override(language), timezone.override(zoneinfo.ZoneInfo(zone)):
        for value in INSTANTS[:3]:
            local = timezone.localtime(value)
            expected = "|".join(
                [
                    defaultfilters.date(local, "l j F Y, H:i"),
                    defaultfilters.time(local, "H:i"),
                    defaultfilters.date(local, "c"),
                ]
            )
            assert template.render(Context({"v": value})) == expected


def test_the_template_filters_are_these():
    template = Template("{{ v|date:'j' }}")
    node = template.nodelist[0]
    assert node.filter_expression.filters[0][0] is fast_dates.date
