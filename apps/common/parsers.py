"""One way to read untrusted input, used by every parser and by views that
read a body themselves (the Stripe webhook).

What a client sends reaches PostgreSQL and Python code that cannot take
everything JSON or a URL can carry, and each of those used to surface as a
500 at whatever line met it first:

* JSON nested 1,000 deep makes ``json.loads`` (and every recursive walk
  after it) raise ``RecursionError``. No NovaTime body is nested more than
  a handful of levels, so :data:`MAX_JSON_DEPTH` (64) refuses it up-front
  with 400 ``json_too_deep``.
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


def _check_tree(data: Any) -> None:
    """Depth, text and numbers of a parsed JSON document, without recursion."""
    stack: list[tuple[Any, int, str]] = [(data, 1, "$")]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, dict):
            if depth > MAX_JSON_DEPTH:
                raise _too_deep()
            for key, value in node.items():
                if _BAD_TEXT.search(key):
                    raise InputError(bad_text_message(f"A key in {path}", key), INVALID_CHARACTERS)
                stack.append((value, depth + 1, f"{path}.{key[:40]}"))
        elif isinstance(node, list):
            if depth > MAX_JSON_DEPTH:
                raise _too_deep()
            stack.extend((value, depth + 1, f"{path}[{i}]") for i, value in enumerate(node))
        elif isinstance(node, str):
            if _BAD_TEXT.search(node):
                raise InputError(bad_text_message(path, node), INVALID_CHARACTERS)
        elif isinstance(node, float) and not math.isfinite(node):
            raise InputError(f"{path} is not a finite number.", PARSE_ERROR)


def _too_deep() -> InputError:
    return InputError(
        f"JSON nested deeper than {MAX_JSON_DEPTH} levels is not accepted.", JSON_TOO_DEEP
    )


def json_loads(data: bytes | str) -> Any:
    """Parse an untrusted JSON document (UTF-8 when bytes) or raise
    :class:`InputError` (400): malformed, too deep, NUL/lone surrogates,
    non-finite numbers."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise InputError("The JSON body is not valid UTF-8.", PARSE_ERROR) from exc
    try:
        parsed = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError as exc:  # the C scanner's own limit, far above ours
        raise _too_deep() from exc
    except ValueError as exc:  # JSONDecodeError, or an integer of over 4300 digits
        raise InputError(f"JSON parse error - {exc}", PARSE_ERROR) from exc
    _check_tree(parsed)
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
