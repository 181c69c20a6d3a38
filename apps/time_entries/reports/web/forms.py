"""The Reports page's filter form: labelled controls only.

Nothing is validated here: the form's fields accept anything, and the values
go to the API's own parameter serializer
(:class:`apps.time_entries.reports.api.serializers.SummaryParamsSerializer`),
whose messages are put next to the fields (:meth:`ReportForm.show_errors`).
Field names are the API's parameter names, plus ``then_by`` (the API's
second ``group_by`` dimension as a second list).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.common.widgets import FastSelect, FastSelectMultiple

from ..query import DIMENSIONS

#: The names of the API's ``group_by`` dimensions (apps/time_entries/reports/query.py).
DIMENSION_LABELS = {
    "project": _("Project"),
    "client": _("Client"),
    "user": _("User"),
    "task": _("Task"),
    "tag": _("Tag"),
    "day": _("Day"),
    "week": _("Week"),
}
#: The page's list filters (several values each; the API's names).
LIST_FILTERS = ("users", "projects", "clients")


def dimension_choices() -> list[tuple[str, Any]]:
    return [(d, DIMENSION_LABELS.get(d, d.capitalize())) for d in DIMENSIONS]


class _AnyField(forms.Field):
    """A field that takes what was sent as it is (the API's serializer judges it)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)


def _choices(items: Iterable[tuple[Any, str]]) -> list[tuple[str, str]]:
    return [(str(pk), label) for pk, label in items]


class ReportForm(forms.Form):
    def __init__(
        self,
        data: Mapping[str, Any],
        *,
        projects: Iterable[tuple[Any, str]],
        clients: Iterable[tuple[Any, str]],
        users: Iterable[tuple[Any, str]] | None,
    ) -> None:
        super().__init__(data)
        date = {"placeholder": "YYYY-MM-DD", "size": 10, "autocomplete": "off"}
        self.fields["from"] = _AnyField(label=_("From"), widget=forms.TextInput(attrs=date))
        self.fields["to"] = _AnyField(label=_("To"), widget=forms.TextInput(attrs=date))
        self.fields["group_by"] = _AnyField(
            label=_("Group by"), widget=FastSelect(choices=dimension_choices())
        )
        self.fields["then_by"] = _AnyField(
            label=_("Then by"),
            widget=FastSelect(choices=[("", _("Nothing")), *dimension_choices()]),
        )
        self.fields["projects"] = _AnyField(
            label=_("Projects"), widget=FastSelectMultiple(choices=_choices(projects))
        )
        self.fields["clients"] = _AnyField(
            label=_("Clients"), widget=FastSelectMultiple(choices=_choices(clients))
        )
        if users is not None:
            # Below entries.view_all the report is the caller's own time (the
            # API narrows ``users``): no list to choose from.
            self.fields["users"] = _AnyField(
                label=_("Users"), widget=FastSelectMultiple(choices=_choices(users))
            )
        self.fields["tags"] = _AnyField(
            label=_("Tags"),
            help_text=_("Separated by commas."),
            widget=forms.TextInput(attrs={"autocomplete": "off"}),
        )
        self.fields["billable"] = _AnyField(
            label=_("Billable"),
            widget=FastSelect(
                choices=[
                    ("", _("All time")),
                    ("true", _("Billable only")),
                    ("false", _("Non-billable only")),
                ]
            ),
        )
        for name in LIST_FILTERS:
            if name in self.fields:
                self.fields[name].widget.attrs["size"] = 4
        self.full_clean()  # accepts everything: errors come from the API's serializer

    def show_errors(self, errors: Mapping[str, list[str]]) -> list[str]:
        """Put the API's field messages next to the fields; return those that
        belong to no field of the page (shown above the form)."""
        rest: list[str] = []
        for name, messages in errors.items():
            if name in self.fields:
                for message in messages:
                    self.add_error(name, message)
            else:
                rest.extend(messages)
        return rest
