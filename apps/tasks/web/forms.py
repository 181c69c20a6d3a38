"""The forms of the task page (labels are UI.md's accessible names).

They carry what was typed; the rules and their messages are the API input
serializers' and the services' (``apps.projects.web.forms.apply_errors``
puts them next to the fields).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.common.widgets import FastSelect
from apps.tasks.constants import TaskStatus


class StatusForm(forms.Form):
    """``PATCH /api/v1/tasks/<id>/ {status}``."""

    status = forms.ChoiceField(
        widget=FastSelect, label=_("Status"), choices=TaskStatus.choices, required=False
    )


class CommentForm(forms.Form):
    """``POST /api/v1/tasks/<id>/comments/ {body}``: the textbox ``Comment``."""

    body = forms.CharField(label=_("Comment"), widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["body"].required = False  # the serializer says what is missing
