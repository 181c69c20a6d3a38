"""Form widgets for the web pages.

:class:`FastSelect` and :class:`FastSelectMultiple` render a ``<select>`` in
Python. Django's own widgets render every ``<option>`` through a template
include: on a page whose lists hold hundreds of options (the Task list of
the Time page, the 600 time zones of the settings page, the members of a
50-person organization) that alone cost 20-70 ms of CPU per request
(bench/web_pages.py). Same markup, same attributes, same selection rule.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.forms.utils import flatatt
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe


def _option(value: Any, label: Any, selected: set[str]) -> str:
    text = "" if value is None else str(value)
    if text in selected:
        return format_html('<option value="{}" selected>{}</option>', text, label)
    return format_html('<option value="{}">{}</option>', text, label)


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
        parts: list[str] = [format_html("<select{}>", flatatt(final))]
        for option_value, label in self.choices:
            if isinstance(label, (list, tuple)):  # an optgroup
                parts.append(format_html('<optgroup label="{}">', option_value))
                parts.extend(_option(v, text, selected) for v, text in label)
                parts.append("</optgroup>")
            else:
                parts.append(_option(option_value, label, selected))
        parts.append("</select>")
        return mark_safe("".join(parts))


class FastSelectMultiple(FastSelect, forms.SelectMultiple):
    """A :class:`django.forms.SelectMultiple` rendered like :class:`FastSelect`."""

    allow_multiple_selected = True
