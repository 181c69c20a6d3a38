"""The forms of the Projects pages (labels are what people and tests read).

They only carry what was typed: every rule (shapes, colours, budgets, unique
names, archived projects, assignees who can see the project) is checked by
the API's input serializers and the services, whose messages are put next to
the fields (:func:`apply_errors`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.common.errors import ApplicationError
from apps.common.widgets import FastSelect
from apps.projects.constants import ProjectStatus
from apps.tasks.constants import TaskStatus


def _set_choices(form: forms.Form, name: str, choices: list[tuple[str, Any]]) -> None:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    field.choices = choices


def _loose(form: forms.Form) -> None:
    """No field is required here: the serializer says what is missing, with
    the API's words."""
    for field in form.fields.values():
        field.required = False


class ProjectFilterForm(forms.Form):
    """The list's filters: the API list's ``search``, ``client``, ``status``
    and ``archived`` parameters."""

    search = forms.CharField(label=_("Search"), max_length=200)
    client = forms.ChoiceField(widget=FastSelect, label=_("Client"))
    status = forms.ChoiceField(widget=FastSelect, label=_("Status"))
    archived = forms.ChoiceField(
        widget=FastSelect,
        label=_("Archived"),
        choices=[("", _("Hide archived")), ("true", _("Archived only")), ("all", _("All"))],
    )

    def __init__(self, *args: Any, clients: Iterable[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _loose(self)
        any_client = [("", _("Any client")), *((str(c.pk), c.name) for c in clients)]
        _set_choices(self, "client", any_client)
        _set_choices(self, "status", [("", _("Any status")), *ProjectStatus.choices])
        self.fields["search"].widget.input_type = "search"

    def api_params(self) -> dict[str, Any]:
        """The typed filters as the API list's query parameters."""
        data: Mapping[str, Any] = self.data
        params: dict[str, Any] = {}
        for name in ("search", "client", "status"):
            value = (data.get(name) or "").strip()
            if value:
                params[name] = value
        archived = data.get("archived") or ""
        if archived == "true":
            params["archived"] = "true"
        elif archived != "all" and params.get("status") != ProjectStatus.ARCHIVED:
            params["archived"] = "false"
        return params


class ProjectForm(forms.Form):
    """``New project``: the fields of ``POST /api/v1/projects/`` people set first."""

    name = forms.CharField(label=_("Name"), max_length=200)
    client = forms.ChoiceField(widget=FastSelect, label=_("Client"))
    code = forms.CharField(label=_("Code"), max_length=20)
    color = forms.CharField(label=_("Colour"), max_length=7)
    status = forms.ChoiceField(widget=FastSelect, label=_("Status"), choices=ProjectStatus.choices)
    budget_hours = forms.CharField(label=_("Budget (hours)"), max_length=20)
    billable = forms.BooleanField(label=_("Billable"))
    is_private = forms.BooleanField(label=_("Private"))

    def __init__(self, *args: Any, clients: Iterable[Any] = (), **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial", {"color": "#4f46e5", "status": ProjectStatus.ACTIVE, "billable": True}
        )
        super().__init__(*args, **kwargs)
        _loose(self)
        no_client = [("", _("No client")), *((str(c.pk), c.name) for c in clients)]
        _set_choices(self, "client", no_client)
        self.fields["name"].widget.attrs.update(autocomplete="off")
        self.fields["budget_hours"].widget.attrs.update(inputmode="decimal")

    def api_body(self) -> dict[str, Any]:
        """What was typed, as the API's request body."""
        data: Mapping[str, Any] = self.data
        body: dict[str, Any] = {
            "name": data.get("name", ""),
            "client": data.get("client") or None,
            "code": data.get("code", ""),
            "status": data.get("status") or ProjectStatus.ACTIVE,
            "budget_hours": (data.get("budget_hours") or "").strip() or None,
            "billable": bool(data.get("billable")),
            "is_private": bool(data.get("is_private")),
        }
        if data.get("color"):
            body["color"] = data["color"]
        return body


class TaskForm(forms.Form):
    """``New task``: the fields of ``POST /api/v1/tasks/`` a board needs."""

    title = forms.CharField(label=_("Title"), max_length=500)
    assignee = forms.ChoiceField(widget=FastSelect, label=_("Assignee"))
    status = forms.ChoiceField(widget=FastSelect, label=_("Status"), choices=TaskStatus.choices)

    def __init__(self, *args: Any, people: Iterable[tuple[str, str]] = (), **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"status": TaskStatus.TODO})
        super().__init__(*args, **kwargs)
        _loose(self)
        _set_choices(self, "assignee", [("", _("Nobody")), *people])
        self.fields["title"].widget.attrs.update(autocomplete="off")

    def api_body(self, project_id: Any) -> dict[str, Any]:
        data: Mapping[str, Any] = self.data
        assignee = data.get("assignee") or ""
        return {
            "project": str(project_id),
            "title": data.get("title", ""),
            "status": data.get("status") or TaskStatus.TODO,
            "assignees": [assignee] if assignee else [],
        }


#: The API's field names → the form's (a serializer or service error names the API's).
FIELD_NAMES = {"assignees": "assignee", "non_field_errors": "__all__"}


def apply_errors(form: forms.Form, fields: Mapping[str, Any]) -> None:
    """Put ``{api field: [messages]}`` next to the form's fields (unknown
    fields as the form's own error); the form keeps what was typed."""
    form.is_valid()
    for name, messages in fields.items():
        name = FIELD_NAMES.get(name, name)
        target = name if name in form.fields else None
        for message in _messages(messages):
            form.add_error(target, message)


def apply_error(form: forms.Form, error: ApplicationError, *, field: str | None = None) -> None:
    """A service's refusal on the form: its per-field messages next to the
    fields the form has, and its message above the form unless one of them
    says it already; without such fields, its message next to ``field`` (or
    above the form)."""
    fields = (error.extra or {}).get("fields") or {}
    shown = {n: m for n, m in fields.items() if FIELD_NAMES.get(n, n) in form.fields}
    apply_errors(form, shown)
    if not shown:
        apply_errors(form, {field or "__all__": [error.message]})
    elif error.message not in _messages(shown):  # the general message too, once
        apply_errors(form, {"__all__": [error.message]})


def _messages(value: Any) -> list[str]:
    """A serializer's messages, flat (a list field's errors come per item)."""
    if isinstance(value, Mapping):
        return [m for v in value.values() for m in _messages(v)]
    if isinstance(value, list | tuple):
        return [m for v in value for m in _messages(v)]
    return [str(value)]
