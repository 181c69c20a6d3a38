"""Chat constants: channel kinds, limits and the chat permission table."""

from __future__ import annotations

from typing import Final

from django.db import models

from apps.organizations.constants import Role
from apps.organizations.permissions import ROLE_RANK


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

#: The weakest role that may write (post, react, create channels). Viewers read only.
CHAT_WRITE_ROLE: Final = Role.MEMBER
#: The weakest role that may delete anyone's message and manage any channel.
CHAT_MODERATE_ROLE: Final = Role.ADMIN


def may_write_chat(role: str) -> bool:
    return ROLE_RANK[Role(role)] >= ROLE_RANK[CHAT_WRITE_ROLE]


def may_moderate_chat(role: str) -> bool:
    return ROLE_RANK[Role(role)] >= ROLE_RANK[CHAT_MODERATE_ROLE]
