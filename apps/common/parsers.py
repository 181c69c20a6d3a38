"""One way to read untrusted input, used by every parser and by views that
read a body themselves (the Stripe webhook).

What a client sends reaches PostgreSQL and Python code that cannot take
everything JSON or a URL can carry, and each of those used to surface as a
500 at whatever line met it first:

* JSON nested 1,000 deep makes ``json.loads`` (and every recursive walk
  after it) raise ``RecursionError``. No NovaTime body is nested more than
  a handful of levels, so :data:`MAX_JSON_DEPTH` (64) refuses it with 400
  ``json_too_deep`` before it is parsed: the nesting is counted on the raw
  text (:func:`json_depth_exceeds`, also the WebSocket frames' check with
  their own limit).
* NUL (``\\u0000``) is refused by PostgreSQL in ``text`` and ``jsonb``, and a
  lone surrogate (``\\ud800``, legal in JSON's escapes) cannot be encoded to
  UTF-8 by psycopg. DRF's ``CharField`` refuses both, but a ``JSONField``
  (automation rule ``params``), a ``DictField`` or a webhook payload does
  not. They are refused in every body and query parameter here, with 400
  ``invalid_characters`` naming where.
* ``NaN``/``Infinity`` (and ``1e400``, which Python reads as infinity) are
  not JSON numbers any NovaTime field means: 400 ``parse_error``.

The DRF parsers below are ``DEFAULT_PARSER_CLASSES``; query parameters are
checked by :class:`apps.common.middleware.HostileInputMiddleware` with
:func:`find_bad_text`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from itertools import accumulate
from typing import Any

from django.conf import settings
from django.http import QueryDict
from rest_framework import parsers
from rest_framework.exceptions import ParseError

#: Deepest nesting of arrays/objects accepted in a JSON body.
MAX_JSON_DEPTH = 64
#: Characters no NovaTime text may hold: NUL (PostgreSQL) and lone
#: surrogates (not encodable to UTF-8).
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")

JSON_TOO_DEEP = "json_too_deep"
INVALID_CHARACTERS = "invalid_characters"
PARSE_ERROR = "parse_error"


class InputError(ParseError):
    """400 for input no field could sensibly receive; ``code`` says why and
    the handler keeps it (``apps.common.errors``)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message, code=code)


def bad_text_message(where: str, text: str) -> str:
    found = _BAD_TEXT.search(text)
    char = f"U+{ord(found.group()):04X}" if found else "?"
    return f"{where} contains {char}: NUL and lone surrogate characters are not accepted."


def find_bad_text(pairs: Iterable[tuple[str, str]]) -> str | None:
    """The first key or value of ``pairs`` holding NUL or a lone surrogate,
    as a message naming it; ``None`` when all are clean."""
    for key, value in pairs:
        if _BAD_TEXT.search(key):
            return bad_text_message(f"The name of parameter {key[:40]!r}", key)
        if isinstance(value, str) and _BAD_TEXT.search(value):
            return bad_text_message(f"Parameter {key[:40]!r}", value)
    return None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    """``parse_float`` hook: ``1e400`` (or 400 digits and a point) reads as
    infinity, which no NovaTime field means."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is not a finite number")
    return value


#: +1 for an opening bracket, -1 for a closing one (the depth scan's steps).
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def json_depth_exceeds(text: str, max_depth: int) -> bool:
    """Whether arrays/objects in the JSON ``text`` nest deeper than
    ``max_depth``, read on the raw text, without parsing it: exact for valid
    JSON; for invalid JSON any answer will do (the parser refuses it next).

    Brackets inside string literals do not count. Every step runs in C
    (``str`` methods, one regex without backtracking, ``accumulate``), so a
    5 MiB body costs a fraction of its parse: escaped backslash pairs are
    dropped, then escaped quotes, which leaves every remaining ``"`` a
    string delimiter, so the even pieces of a split on ``"`` are the text
    outside strings. A per-token Python loop (what the WebSocket frames
    used) is ten times slower on a body of brackets.
    """
    if text.count("[") + text.count("{") <= max_depth:
        return False  # not enough openers to nest that deep at all
    outside = "".join(text.replace("\\\\", "").replace('\\"', "").split('"')[0::2])
    brackets = _NOT_BRACKET.sub("", outside)
    if len(brackets) <= max_depth:
        return False
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0) > max_depth


def _strings_may_be_bad(text: str) -> bool:
    """Whether a string or key parsed from ``text`` can hold NUL or a lone
    surrogate: only through a ``\\u`` escape, or one already in the text
    (a ``str`` body; bytes decoded as UTF-8 cannot carry a surrogate, and a
    raw NUL is a control character the parser refuses)."""
    return "\\u" in text or _BAD_TEXT.search(text) is not None


def _check_strings(data: Any) -> None:
    """NUL/lone surrogates in any key or string of a parsed document.

    Only containers go on the stack; strings are checked where they are met
    and nothing else is looked at. The path naming the culprit is built only
    when there is one (:func:`_bad_text_path`)."""
    stack: list[Any] = [data]
    while stack:
        node = stack.pop()
        values = node.values() if isinstance(node, dict) else node
        if isinstance(node, dict):
            for key in node:
                if _BAD_TEXT.search(key):
                    raise _bad_text_error(data)
        for value in values:
            if isinstance(value, str):
                if _BAD_TEXT.search(value):
                    raise _bad_text_error(data)
            elif isinstance(value, dict | list):
                stack.append(value)


def _bad_text_error(data: Any) -> InputError:
    """The 400 for the first bad key or string of ``data`` (walked again,
    this time with paths: only documents that are refused pay for them)."""
    stack: list[tuple[Any, str]] = [(data, "$")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            if _BAD_TEXT.search(node):
                return InputError(bad_text_message(path, node), INVALID_CHARACTERS)
        elif isinstance(node, dict):
            for key, value in node.items():
                if _BAD_TEXT.search(key):
                    return InputError(bad_text_message(f"A key in {path}", key), INVALID_CHARACTERS)
                stack.append((value, f"{path}.{key[:40]}"))
        elif isinstance(node, list):
            stack.extend((value, f"{path}[{i}]") for i, value in enumerate(node))
    if isinstance(data, str):  # a bare string document
        return InputError(bad_text_message("$", data), INVALID_CHARACTERS)
    raise AssertionError("no bad text found")  # pragma: no cover


def _too_deep(max_depth: int) -> InputError:
    return InputError(f"JSON nested deeper than {max_depth} levels is not accepted.", JSON_TOO_DEEP)


def json_loads(data: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse an untrusted JSON document (UTF-8 when bytes) or raise
    :class:`InputError` (400): malformed, nested deeper than ``max_depth``
    (refused before parsing, :func:`json_depth_exceeds`), NUL/lone
    surrogates, non-finite numbers (refused while parsing)."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise InputError("The JSON body is not valid UTF-8.", PARSE_ERROR) from exc
    if json_depth_exceeds(text, max_depth):
        raise _too_deep(max_depth)
    try:
        parsed = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError as exc:  # cannot happen after the scan; kept as a backstop
        raise _too_deep(max_depth) from exc
    except ValueError as exc:  # JSONDecodeError, non-finite, or over 4300 digits
        raise InputError(f"JSON parse error - {exc}", PARSE_ERROR) from exc
    if _strings_may_be_bad(text):
        if isinstance(parsed, str):
            if _BAD_TEXT.search(parsed):
                raise _bad_text_error(parsed)
        elif isinstance(parsed, dict | list):
            _check_strings(parsed)
    return parsed


def _check_form(data: QueryDict) -> QueryDict:
    message = find_bad_text((key, value) for key, values in data.lists() for value in values)
    if message:
        raise InputError(message, INVALID_CHARACTERS)
    return data


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser through :func:`json_loads` (UTF-8 only, as RFC 8259
    requires: a declared other charset is refused rather than guessed)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        charset = str((parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET)
        if charset.lower().replace("_", "-") not in ("utf-8", "utf8"):
            raise InputError("JSON bodies are UTF-8.", PARSE_ERROR)
        return json_loads(stream.read() if stream is not None else b"")


class FormParser(parsers.FormParser):
    """DRF's form parser, refusing NUL/lone surrogates like the JSON one."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        return _check_form(super().parse(stream, media_type, parser_context))


class MultiPartParser(parsers.MultiPartParser):
    """DRF's multipart parser, refusing NUL/lone surrogates in the form
    fields (file contents are the importer's to judge)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        parsed = super().parse(stream, media_type, parser_context)
        _check_form(parsed.data)
        return parsed
