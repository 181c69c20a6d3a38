"""Chat constants: channel kinds and limits. Who may write and moderate is
``chat.write`` / ``chat.moderate`` in apps.organizations.permissions."""

from __future__ import annotations

from typing import Final

from django.db import models


class ChannelKind(models.TextChoices):
    """Who may see a channel.

    ``public``: every member of the organization; ``private``: its members;
    ``project``: whoever may see the linked project (apps.projects.selectors);
    ``direct``: the two people of a 1:1 conversation.
    """

    PUBLIC = "public", "Public"
    PRIVATE = "private", "Private"
    PROJECT = "project", "Project"
    DIRECT = "direct", "Direct"


#: Kinds whose visibility is the ``ChannelMember`` table.
MEMBER_LISTED_KINDS: Final = frozenset({ChannelKind.PRIVATE, ChannelKind.DIRECT})

MAX_MESSAGE_LENGTH: Final = 10_000
MAX_EMOJI_LENGTH: Final = 64
