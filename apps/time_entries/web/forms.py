"""The timer bar's form (labels are UI.md's accessible names)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from apps.common.widgets import FastSelect


class TimerStartForm(forms.Form):
    """What ``POST /api/v1/timer/start/`` reads, for a browser form: the same
    shapes (a project id, an optional task id, a description of at most
    2,000 characters); the rules are the service's."""

    project = forms.UUIDField(label=_("Project"))
    task = forms.UUIDField(label=_("Task"), required=False)
    description = forms.CharField(label=_("Description"), required=False, max_length=2000)

    def __init__(self, *args: Any, projects: Any = (), tasks: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Plain <select>s (combobox role); the choices come from the selectors.
        self.fields["project"].widget = FastSelect(
            choices=[("", _("Choose a project"))] + [(str(p.pk), p.name) for p in projects]
        )
        self.fields["task"].widget = FastSelect(
            choices=[("", _("No task"))] + [(str(t.pk), t.title) for t in tasks]
        )
        self.fields["description"].widget.attrs.update(autocomplete="off")
        # htmx (when JavaScript runs): a new project brings its own tasks.
        self.fields["project"].widget.attrs.update(
            {
                "hx-get": reverse("time_entries_web:timer_task_field"),
                "hx-trigger": "change",
                "hx-target": "#task-field",
                "hx-swap": "outerHTML",
            }
        )


class EntryForm(forms.Form):
    """Add entry / Edit: what ``POST``/``PATCH /api/v1/time-entries/`` read, as
    a local Date with Start and End times (the organization's time zone, as
    the API reads a datetime given without an offset). The rules (end after
    start, overlap, lock, the project and task) stay the service's."""

    project = forms.UUIDField(label=_("Project"))
    task = forms.UUIDField(label=_("Task"), required=False)
    description = forms.CharField(label=_("Description"), required=False, max_length=2000)
    # Plain textboxes (UI.md): "2026-11-26", "09:00" parse everywhere.
    date = forms.DateField(
        label=_("Date"), widget=forms.TextInput(attrs={"placeholder": "YYYY-MM-DD"})
    )
    start = forms.TimeField(
        label=_("Start"), widget=forms.TextInput(attrs={"placeholder": "HH:MM", "size": 5})
    )
    end = forms.TimeField(
        label=_("End"), widget=forms.TextInput(attrs={"placeholder": "HH:MM", "size": 5})
    )
    billable = forms.BooleanField(label=_("Billable"), required=False)
    tags = forms.CharField(
        label=_("Tags"), required=False, help_text=_("Separated by commas."), max_length=2000
    )

    def __init__(self, *args: Any, projects: Any = (), tasks: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["project"].widget = FastSelect(
            choices=[("", _("Choose a project"))] + [(str(p.pk), p.name) for p in projects]
        )
        self.fields["task"].widget = FastSelect(
            choices=[("", _("No task"))] + [(str(t.pk), t.title) for t in tasks]
        )
        self.fields["description"].widget.attrs.update(autocomplete="off")
