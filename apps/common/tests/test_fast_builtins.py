"""The built-in ``date``/``time`` filters and ``url`` tag
(apps/common/templatetags/fast_builtins.py) write exactly what Django's
write, in templates and called directly."""

from __future__ import annotations

import datetime
import uuid
import zoneinfo

import pytest
from django.template import Context, Template, defaultfilters
from django.urls import NoReverseMatch, URLResolver, get_resolver, reverse, set_urlconf
from django.utils import timezone, translation

from apps.common.templatetags import fast_builtins
from apps.common.templatetags.fast_builtins import fast_reverse

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
                (fast_builtins.date, defaultfilters.date),
                (fast_builtins.time, defaultfilters.time),
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
    assert node.filter_expression.filters[0][0] is fast_builtins.date


# --- url ---------------------------------------------------------------------------


def _named_patterns(patterns, namespace=""):
    """(namespaced name, parameter names) of every named URL pattern."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _named_patterns(entry.url_patterns, inner)
        elif entry.name:
            names = list(entry.pattern.regex.groupindex)
            yield f"{namespace}{entry.name}", names


def _reversed(apply):
    try:
        return "returns", apply()
    except NoReverseMatch:
        return "raises", NoReverseMatch


@pytest.mark.parametrize("urlconf", ["config.urls_tenant", "config.urls_public"])
def test_url_writes_what_reverse_writes_for_every_named_url(urlconf):
    patterns = list(_named_patterns(get_resolver(urlconf).url_patterns))
    assert len(patterns) > 20
    with_ids = 0
    try:
        set_urlconf(urlconf)
        for language in ("en", "de"):
            with translation.override(language):
                for name, params in patterns:
                    for _ in range(2):  # the second time from the cache
                        ids = {param: uuid.uuid4() for param in params}
                        expected = _reversed(lambda: reverse(name, kwargs=ids))  # noqa: B023
                        by_name = _reversed(lambda: fast_reverse(name, [], ids, None))  # noqa: B023
                        by_position = _reversed(
                            lambda: fast_reverse(name, list(ids.values()), {}, None)  # noqa: B023
                        )
                        assert by_name == expected, (name, ids)
                        if expected[0] == "returns":
                            with_ids += bool(ids)
                            assert by_position == _reversed(
                                lambda: reverse(name, args=list(ids.values()))  # noqa: B023
                            ), (name, ids)
    finally:
        set_urlconf(None)
    assert with_ids > 10  # the cached path with arguments was compared


def test_url_arguments_that_are_not_uuids_go_to_reverse():
    set_urlconf("config.urls_tenant")
    try:
        for args in (["not-a-uuid"], [42], [str(uuid.uuid4())]):
            assert _reversed(
                lambda: fast_reverse("timesheets_web:approval", args, {}, None)  # noqa: B023
            ) == _reversed(lambda: reverse("timesheets_web:approval", args=args))  # noqa: B023
    finally:
        set_urlconf(None)


def test_the_url_tag_is_this_one_and_escapes_like_djangos():
    sheet = uuid.uuid4()
    set_urlconf("config.urls_tenant")
    try:
        template = Template(
            "{% url 'timesheets_web:approval' pk %}|{% url 'time_entries_web:time' as t %}{{ t }}"
        )
        assert isinstance(template.nodelist[0], fast_builtins.FastURLNode)
        rendered = template.render(Context({"pk": sheet}))
        expected = (
            reverse("timesheets_web:approval", args=[sheet])
            + "|"
            + reverse("time_entries_web:time")
        )
        assert rendered == expected
    finally:
        set_urlconf(None)
