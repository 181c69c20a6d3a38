"""Django's ``date`` and ``time`` filters and ``url`` tag: same output, a
fraction of the cost.

A built-in of every template (``TEMPLATES[...]["OPTIONS"]["builtins"]`` in
config/settings/base.py), so it replaces Django's three everywhere without
touching a template. The pages of the web app repeat them per row (a link per
sheet, message or member; a date or two per row), and on the production
machine class each costs far more than the rest of its row.

**date, time.** Django's ``DateFormat`` costs ~65 µs per value
on the production machine class (a regex split of the format, a lazy
translation per month name, an object per call); the pages show up to 200
dates (an approvals inbox, a chat history), i.e. 10+ ms of a 30 ms budget.

Here a format string is parsed once, and the month and weekday names are read
once per language from Django's own tables (``django.utils.dates``). Only the
format characters the pages use are done here; any other character, an
escaped one, a named format (``SHORT_DATE_FORMAT``) or no format at all goes
to Django's filter, so the output is Django's in every case
(apps/common/tests/test_fast_builtins.py compares both over a grid of values,
formats, languages and zones).

**url.** ``reverse()`` costs ~50 µs (five context-local lookups, the
resolver's candidate patterns, a regex match, quoting). Its result depends
only on the view name, the arguments, the URL conf, the script prefix, the
language and the current app: with no arguments it is cached as is. With
UUID arguments (every object of the web app) the path is reversed once with
placeholder UUIDs and the placeholders replaced: every UUID's text has the
same shape (lowercase hex and dashes), so every UUID matches the same
converters' patterns as the placeholder, is written by them as ``str()`` and
needs no quoting. Any other argument goes to ``reverse()``. The test
compares both for every named URL of both hosts.
"""

from __future__ import annotations

import datetime
import functools
import uuid
from collections.abc import Callable
from typing import Any

from django import template
from django.conf import global_settings
from django.template import defaultfilters, defaulttags
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils.dates import MONTHS, MONTHS_3, WEEKDAYS, WEEKDAYS_ABBR
from django.utils.html import conditional_escape
from django.utils.translation import get_language

register = template.Library()

#: Named formats (``DATE_FORMAT``...): localized, left to Django.
_NAMED = frozenset(name for name in dir(global_settings) if name.endswith("_FORMAT"))
#: Django's format characters (django/utils/dateformat.py, ``re_formatchars``).
_FORMAT_CHARS = frozenset("aAbcdDeEfFgGhHiIjlLmMnNoOPrsStTUuwWyYzZ")
#: The time characters a plain date has not (Django raises, its filter shows "").
_TIME_CHARS = frozenset("aAfgGhHiPsuBeIOTUZc")

#: What ``time`` does here: Django's TimeFormat knows no date characters.
_TIME_ONLY = frozenset("HGis:.- ")

Names = dict[str, dict[int, str]]
#: The characters that write a name (translated), and the names of none.
_NAME_CHARS = frozenset("MFDl")
_NO_NAMES: Names = {}


@functools.cache
def _names(language: str) -> Names:
    """Month and weekday names in ``language``, as Django's ``DateFormat``
    writes them (``M`` is title-cased, as there)."""
    from django.utils.translation import override

    with override(language):
        return {
            "M": {k: str(v).title() for k, v in MONTHS_3.items()},
            "F": {k: str(v) for k, v in MONTHS.items()},
            "D": {k: str(v) for k, v in WEEKDAYS_ABBR.items()},
            "l": {k: str(v) for k, v in WEEKDAYS.items()},
        }


Piece = Callable[[Any, Names], str]

_PIECES: dict[str, Piece] = {
    "d": lambda v, n: f"{v.day:02d}",
    "j": lambda v, n: str(v.day),
    "m": lambda v, n: f"{v.month:02d}",
    "n": lambda v, n: str(v.month),
    "Y": lambda v, n: f"{v.year:04d}",
    "M": lambda v, n: n["M"][v.month],
    "F": lambda v, n: n["F"][v.month],
    "D": lambda v, n: n["D"][v.weekday()],
    "l": lambda v, n: n["l"][v.weekday()],
    "H": lambda v, n: f"{v.hour:02d}",
    "G": lambda v, n: str(v.hour),
    "i": lambda v, n: f"{v.minute:02d}",
    "s": lambda v, n: f"{v.second:02d}",
    "c": lambda v, n: v.isoformat(),
}


@functools.lru_cache(maxsize=256)
def _compiled(fmt: str) -> tuple[tuple[bool, Any], ...] | None:
    """``fmt`` as (is a piece, piece or literal) pairs; ``None`` when Django
    must do it (a named format, an escape, a character not done here)."""
    if not fmt or fmt in _NAMED or "\\" in fmt:
        return None
    parts: list[tuple[bool, Any]] = []
    for char in fmt:
        if char in _PIECES:
            parts.append((True, _PIECES[char]))
        elif char in _FORMAT_CHARS:
            return None
        else:
            parts.append((False, char))
    return tuple(parts)


def _fast(value: Any, fmt: Any) -> str | None:
    if not isinstance(fmt, str) or not isinstance(value, datetime.date):
        return None
    parts = _compiled(fmt)
    if parts is None:
        return None
    if not isinstance(value, datetime.datetime) and any(c in _TIME_CHARS for c in fmt):
        return None
    # The active language is a context-local lookup: only for names.
    names = _names(get_language() or "en") if _NAME_CHARS & set(fmt) else _NO_NAMES
    return "".join(piece(value, names) if is_piece else piece for is_piece, piece in parts)


@register.filter(expects_localtime=True, is_safe=False)
def date(value: Any, arg: Any = None) -> str:
    """Django's ``date`` filter (its output; the common formats done here)."""
    fast = _fast(value, arg)
    return fast if fast is not None else defaultfilters.date(value, arg)


@register.filter(expects_localtime=True, is_safe=False)
def time(value: Any, arg: Any = None) -> str:
    """Django's ``time`` filter (its output; the common formats done here)."""
    if isinstance(value, datetime.datetime) and isinstance(arg, str) and set(arg) <= _TIME_ONLY:
        fast = _fast(value, arg)
        if fast is not None:
            return fast
    return defaultfilters.time(value, arg)


# --- url ---------------------------------------------------------------------------

#: (view, urlconf, prefix, language, app, positional count, keyword names) →
#: the path cut at its arguments: (literal parts, which argument goes after each).
_PATHS: dict[tuple[Any, ...], tuple[tuple[str, ...], tuple[int, ...]]] = {}
#: Bounded: the keys come from templates and settings, but be safe.
_MAX_PATHS = 4096
_PLACEHOLDERS = tuple(str(uuid.UUID(int=i + 1)) for i in range(8))


def _cut(path: str, count: int) -> tuple[tuple[str, ...], tuple[int, ...]] | None:
    """``path`` split at the first ``count`` placeholders, each there exactly
    once (else ``None``: not cacheable)."""
    found = []
    for index, mark in enumerate(_PLACEHOLDERS[:count]):
        if path.count(mark) != 1:
            return None
        found.append((path.index(mark), index, mark))
    parts, order, start = [], [], 0
    for position, index, mark in sorted(found):
        parts.append(path[start:position])
        order.append(index)
        start = position + len(mark)
    parts.append(path[start:])
    return tuple(parts), tuple(order)


def fast_reverse(
    viewname: str, args: list[Any], kwargs: dict[str, Any], current_app: str | None
) -> str:
    """``reverse(viewname, args=args, kwargs=kwargs, current_app=...)``, the
    same text; cached where the arguments are UUIDs (or none)."""
    values = [*args, *kwargs.values()]
    if len(values) > len(_PLACEHOLDERS) or any(type(v) is not uuid.UUID for v in values):
        return reverse(viewname, args=args, kwargs=kwargs, current_app=current_app)
    key = (
        viewname,
        get_urlconf(),
        get_script_prefix(),
        get_language(),
        current_app,
        len(args),
        tuple(kwargs),
    )
    cut = _PATHS.get(key)
    if cut is None:
        marks = iter(uuid.UUID(mark) for mark in _PLACEHOLDERS)
        path = reverse(
            viewname,
            args=[next(marks) for _ in args],
            kwargs={name: next(marks) for name in kwargs},
            current_app=current_app,
        )
        cut = _cut(path, len(values))
        if cut is None:
            return reverse(viewname, args=args, kwargs=kwargs, current_app=current_app)
        if len(_PATHS) >= _MAX_PATHS:
            _PATHS.clear()
        _PATHS[key] = cut
    parts, order = cut
    if not order:
        return parts[0]
    pieces = [parts[0]]
    for index, part in zip(order, parts[1:], strict=True):
        pieces.append(str(values[index]))
        pieces.append(part)
    return "".join(pieces)


class FastURLNode(defaulttags.URLNode):
    """Django's ``URLNode`` with :func:`fast_reverse` (its ``render``, else unchanged)."""

    def render(self, context: Any) -> str:
        args = [arg.resolve(context) for arg in self.args]
        kwargs = {k: v.resolve(context) for k, v in self.kwargs.items()}
        view_name = self.view_name.resolve(context)
        try:
            current_app = context.request.current_app
        except AttributeError:
            try:
                current_app = context.request.resolver_match.namespace
            except AttributeError:
                current_app = None
        url = ""
        try:
            url = fast_reverse(view_name, args, kwargs, current_app)
        except NoReverseMatch:
            if self.asvar is None:
                raise
        if self.asvar:
            context[self.asvar] = url
            return ""
        return conditional_escape(url) if context.autoescape else url


@register.tag
def url(parser: Any, token: Any) -> FastURLNode:
    """Django's ``{% url %}`` (its parsing), rendered by :class:`FastURLNode`."""
    node = defaulttags.url(parser, token)
    return FastURLNode(node.view_name, node.args, node.kwargs, node.asvar)
