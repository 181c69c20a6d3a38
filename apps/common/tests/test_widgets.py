"""FastSelect renders what Django's Select renders (same options, values,
selection and attributes), only without a template per option."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest
from django import forms

from apps.common.widgets import FastSelect, FastSelectMultiple, StaticChoices


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


@pytest.mark.parametrize("value", ["b", None, 3, "missing"])
def test_static_choices_render_what_djangos_widget_renders(value):
    static = StaticChoices(lambda: CHOICES)
    attrs = {"id": "id_x", "required": True}

    mine = FastSelect(choices=static).render("x", value, attrs=attrs)
    theirs = forms.Select(choices=CHOICES).render("x", value, attrs=attrs)

    assert _parse(mine) == _parse(theirs)


def test_static_choices_are_built_and_rendered_once_and_never_copied():
    calls = []

    def make():
        calls.append(1)
        return [("a", "Alpha"), ("b", "Beta")]

    static = StaticChoices(make)

    class Form(forms.Form):
        x = forms.ChoiceField(choices=static, widget=FastSelect)

    first, second = Form(initial={"x": "a"}), Form(initial={"x": "b"})
    first_html, second_html = str(first["x"]), str(second["x"])

    assert first.fields["x"].choices is static and second.fields["x"].widget.choices is static
    assert calls == [1]
    assert '<option value="a" selected>Alpha</option>' in first_html
    assert '<option value="b" selected>Beta</option>' in second_html
    assert '<option value="b">Beta</option>' in first_html
    # Validation still walks the same list.
    assert Form({"x": "b"}).is_valid()
    assert not Form({"x": "zz"}).is_valid()
    assert "a" in static and "zz" not in static


def test_static_choices_render_per_language():
    from django.utils.translation import gettext_lazy, override

    static = StaticChoices(lambda: [("0", gettext_lazy("Monday"))])
    widget = FastSelect(choices=static)

    with override("en"):
        english = widget.render("d", None)
    with override("de"):
        german = widget.render("d", None)

    assert ">Monday<" in english and ">Montag<" in german
