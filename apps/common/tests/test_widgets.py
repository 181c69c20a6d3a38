"""FastSelect renders what Django's Select renders (same options, values,
selection and attributes), only without a template per option."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest
from django import forms

from apps.common.widgets import FastSelect, FastSelectMultiple


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, Any]]] = []
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.texts.append(data.strip())


def _parse(html: str) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags, parser.texts


CHOICES = [("", "Choose"), ("a", "Alpha & <b>"), ("b", "Beta"), (3, "Three")]
GROUPED = [("", "None"), ("Fruit", [("apple", "Apple"), ("pear", "Pear")]), ("x", "X")]


@pytest.mark.parametrize(
    ("ours", "django", "choices", "value"),
    [
        (FastSelect, forms.Select, CHOICES, "b"),
        (FastSelect, forms.Select, CHOICES, None),
        (FastSelect, forms.Select, CHOICES, 3),
        (FastSelect, forms.Select, GROUPED, "pear"),
        (FastSelectMultiple, forms.SelectMultiple, CHOICES, ["a", "b"]),
        (FastSelectMultiple, forms.SelectMultiple, CHOICES, []),
    ],
)
def test_same_markup_as_djangos_widget(ours, django, choices, value):
    attrs = {"id": "id_x", "hx-get": "/timer/task-field/", "required": True, "aria-invalid": "true"}

    mine = ours(choices=choices, attrs={"class": "c"}).render("x", value, attrs=attrs)
    theirs = django(choices=choices, attrs={"class": "c"}).render("x", value, attrs=attrs)

    assert _parse(mine) == _parse(theirs)


def test_labels_and_values_are_escaped():
    html = FastSelect(choices=[('"><script>', "<script>alert(1)</script>")]).render("x", None)

    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
