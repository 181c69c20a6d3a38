"""The shared JSON reader (apps.common.parsers): what it refuses, where it
says the culprit is, and that depth is refused before anything is parsed.

Its cost over ``json.loads`` is measured by ``bench/json_reader.py``
(docs/BENCHMARKS.md), not here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from apps.common import parsers


def refused(data: bytes | str, **kwargs: Any) -> parsers.InputError:
    with pytest.raises(parsers.InputError) as caught:
        parsers.json_loads(data, **kwargs)
    return caught.value


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("[]", 1),
        ('{"a": [{}]}', 3),
        ('["[[[[", "{{{{"]', 1),  # brackets inside strings do not count
        ('["\\"[[[[", "]"]', 1),  # an escaped quote does not end the string
        ('["\\\\", [[]]]', 3),  # an escaped backslash does not escape the quote
        ('["\\\\\\"[[[["]', 1),  # backslash pair, then an escaped quote
        ("[" * 64 + "]" * 64, 64),
        ("[[],[[]],[[[]]]]", 4),
    ],
)
def test_depth_is_read_exactly_on_the_raw_text(text, depth):
    json.loads(text)  # each case is valid JSON
    assert not parsers.json_depth_exceeds(text, depth)
    assert parsers.json_depth_exceeds(text, depth - 1)


def test_a_deep_document_is_refused_without_being_parsed(monkeypatch):
    """The depth rule holds before the parser runs: the docstring's
    "refused before it is parsed" is what happens (it used to parse, then
    walk)."""

    def no_parse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("parsed")

    monkeypatch.setattr(parsers.json, "loads", no_parse)
    assert refused(b"[" * 65 + b"]" * 65).detail.code == parsers.JSON_TOO_DEEP
    assert refused('{"a":' * 9 + "1" + "}" * 9, max_depth=8).detail.code == parsers.JSON_TOO_DEEP


def test_the_depth_limit_is_the_callers():
    assert parsers.json_loads("[" * 8 + "]" * 8, max_depth=8) is not None
    error = refused("[" * 9 + "]" * 9, max_depth=8)
    assert "deeper than 8 levels" in str(error.detail)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"a": [1, "x\\u0000"]}', "$.a[1] contains U+0000"),
        ('{"a": {"k\\ud800": 1}}', "A key in $.a contains U+D800"),
        ('"\\udfff"', "$ contains U+DFFF"),
        ('[[["ok"], {"b": ["\\u0000"]}]]', "$[0][1].b[0] contains U+0000"),
    ],
)
def test_bad_text_is_refused_with_its_path(text, where):
    error = refused(text)
    assert error.detail.code == parsers.INVALID_CHARACTERS
    assert str(error.detail).startswith(where), str(error.detail)


def test_a_text_body_carrying_a_lone_surrogate_unescaped_is_refused():
    # a str body (a WebSocket frame) can hold one without any \u escape
    assert refused('["a\ud800"]').detail.code == parsers.INVALID_CHARACTERS


def test_escapes_that_are_not_bad_text_pass():
    assert parsers.json_loads('["\\u00e9", "\\ud83d\\ude00", {"\\u0041": 1}]') == [
        "é",
        "\U0001f600",
        {"A": 1},
    ]


@pytest.mark.parametrize("text", ["[1e400]", '{"a": -1e400}', "[1" + "0" * 400 + ".0]", "NaN"])
def test_non_finite_numbers_are_parse_errors(text):
    assert refused(text).detail.code == parsers.PARSE_ERROR


def test_finite_numbers_pass():
    assert parsers.json_loads("[1.5, -2e10, 0.000000000000000000001, 7]") == [
        1.5,
        -2e10,
        1e-21,
        7,
    ]
