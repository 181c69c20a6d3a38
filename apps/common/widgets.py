"""Form widgets for the web pages.

:class:`FastSelect` and :class:`FastSelectMultiple` render a ``<select>`` in
Python. Django's own widgets render every ``<option>`` through a template
include: on a page whose lists hold hundreds of options (the Task list of
the Time page, the 600 time zones of the settings page, the members of a
50-person organization) that alone cost 20-70 ms of CPU per request
(bench/web_pages.py). Same markup, same attributes, same selection rule.

A list that is the same for every request (the time zones) is a
:class:`StaticChoices`: its options are rendered once per process and
language, and a page only marks the selected one.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django import forms
from django.forms.utils import flatatt
from django.utils.choices import BaseChoiceIterator
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language


def _escaped(value: Any) -> str:
    """``conditional_escape`` without its SafeString per call: these run
    once per option, hundreds of times a page."""
    if hasattr(value, "__html__"):
        return str(value.__html__())
    return html.escape(str(value))


def _option(text: str, label: Any, selected: bool) -> str:
    mark = " selected" if selected else ""
    return f'<option value="{html.escape(text)}"{mark}>{_escaped(label)}</option>'


def _value_text(value: Any) -> str:
    return "" if value is None else str(value)


class StaticChoices(BaseChoiceIterator):
    """Choices that never change while the process runs (the labels may be
    translated): rendered once per language by :class:`FastSelect`.

    ``normalize_choices`` leaves a ``BaseChoiceIterator`` as it is and
    copying returns the same object, so a form instance neither copies nor
    walks the list; only a submitted value is looked up (``in``, a set).
    """

    def __init__(self, make: Callable[[], Iterable[tuple[Any, Any]]]) -> None:
        self._make = make
        self._choices: list[tuple[Any, Any]] | None = None
        self._values: frozenset[str] = frozenset()
        #: language → [(value text, label, unselected <option>)]
        self._rendered: dict[str, list[tuple[str, Any, str]]] = {}

    def _load(self) -> list[tuple[Any, Any]]:
        if self._choices is None:
            self._choices = list(self._make())
            self._values = frozenset(_value_text(v) for v, _label in self._choices)
        return self._choices

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __copy__(self) -> StaticChoices:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> StaticChoices:
        return self

    def __contains__(self, value: object) -> bool:
        self._load()
        return _value_text(value) in self._values

    def options(self) -> list[tuple[str, Any, str]]:
        """Each choice's value text, label and ``<option>`` (not selected), in
        the active language (flat lists only: no optgroups)."""
        language = get_language() or ""
        rendered = self._rendered.get(language)
        if rendered is None:
            rendered = [
                (text, label, _option(text, label, False))
                for text, label in ((_value_text(v), label) for v, label in self._load())
            ]
            self._rendered[language] = rendered
        return rendered


class FastSelect(forms.Select):
    """A :class:`django.forms.Select` rendered without a template per option."""

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        final = self.build_attrs(self.attrs, attrs)
        final["name"] = name
        if self.allow_multiple_selected:
            final["multiple"] = True
        selected = {str(v) for v in self.format_value(value)}
        if not self.allow_multiple_selected and len(selected) > 1:
            selected = {next(iter(selected))}
        parts: list[str] = [f"<select{flatatt(final)}>"]
        if isinstance(self.choices, StaticChoices):
            parts.extend(
                _option(text, label, True) if text in selected else markup
                for text, label, markup in self.choices.options()
            )
        else:
            for option_value, label in self.choices:
                if isinstance(label, (list, tuple)):  # an optgroup
                    parts.append(f'<optgroup label="{_escaped(option_value)}">')
                    parts.extend(
                        _option(text, item, text in selected)
                        for text, item in ((_value_text(v), item) for v, item in label)
                    )
                    parts.append("</optgroup>")
                else:
                    text = _value_text(option_value)
                    parts.append(_option(text, label, text in selected))
        parts.append("</select>")
        return mark_safe("".join(parts))


class FastSelectMultiple(FastSelect, forms.SelectMultiple):
    """A :class:`django.forms.SelectMultiple` rendered like :class:`FastSelect`."""

    allow_multiple_selected = True
