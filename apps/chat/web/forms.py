"""The chat pages' forms (labels are UI.md's accessible names).

The same shapes as the API's serializers (apps/chat/api/serializers.py): a
message body of at most ``MAX_MESSAGE_LENGTH`` characters (kept as typed), an
optional thread parent, an emoji, a channel's name and kind, a person to
write to. The rules (who may write, a live top-level parent, unique names,
active members) stay the services'.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.chat.constants import MAX_EMOJI_LENGTH, MAX_MESSAGE_LENGTH, ChannelKind
from apps.common.widgets import FastSelect

#: The reactions offered by the "React" form (any emoji the service takes works).
QUICK_REACTIONS = ("👍", "❤️", "😄", "🎉", "👀", "✅")


class MessageForm(forms.Form):
    body = forms.CharField(
        label=_("Message"),
        required=False,  # the service says "Required." (the API's message)
        max_length=MAX_MESSAGE_LENGTH,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
    )
    parent = forms.UUIDField(required=False, widget=forms.HiddenInput)


class ReactionForm(forms.Form):
    emoji = forms.CharField(label=_("Reaction"), max_length=MAX_EMOJI_LENGTH)


class ChannelForm(forms.Form):
    name = forms.CharField(label=_("Channel name"), max_length=80)
    kind = forms.ChoiceField(
        widget=FastSelect,
        label=_("Visibility"),
        choices=[(ChannelKind.PUBLIC, _("Public")), (ChannelKind.PRIVATE, _("Private"))],
        initial=ChannelKind.PUBLIC,
    )


class DirectForm(forms.Form):
    user = forms.UUIDField(label=_("Person"))

    def __init__(self, *args: Any, people: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].widget = FastSelect(
            choices=[("", _("Choose a person"))] + [(str(u), name) for u, name in people]
        )


def form_error_fields(form: forms.Form) -> dict[str, list[str]]:
    """A bound, invalid form's errors as the API's 400 ``fields`` would name them."""
    return {name: [str(m) for m in messages] for name, messages in form.errors.items()}
