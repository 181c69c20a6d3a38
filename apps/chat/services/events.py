"""What the chat events carry and who receives them.

The payloads (``message_data`` is the message as the API shows it, so an
event and a GET of the same object compare equal) and ``_emit``, which
queues an event for the channel's audience (``selectors.channel_audience``)
through ``send_event_on_commit``.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any, TypeAlias, TypedDict

from apps.chat import selectors
from apps.chat.models import Channel, Message, Reaction
from apps.chat.rendering import render_markdown
from apps.organizations.models import Membership
from apps.websocket_server.events import send_event_on_commit

#: The ``data`` of an event: JSON-safe values (ids as strings, instants ISO 8601).
EventData: TypeAlias = dict[str, Any]


class ReactionSummary(TypedDict):
    """One emoji's reactions to a message."""

    emoji: str
    count: int
    users: list[str]


def _iso(value: datetime.datetime | None) -> str | None:
    """An instant as the API renders it (DRF: ISO 8601, UTC as ``Z``), so an
    event and a GET of the same object compare equal."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def reactions_summary(reactions: Iterable[Reaction]) -> list[ReactionSummary]:
    """``[{emoji, count, users}]`` in first-reaction order."""
    grouped: dict[str, list[str]] = {}
    for reaction in reactions:
        grouped.setdefault(reaction.emoji, []).append(str(reaction.user_id))
    return [{"emoji": e, "count": len(u), "users": u} for e, u in grouped.items()]


def message_data(message: Message, reactions: Iterable[Reaction] = ()) -> EventData:
    """The client shape of a message (the API serializer has the same fields).

    A soft-deleted message is a tombstone: no body, no html, ``deleted: true``.
    """
    deleted = message.deleted_at is not None
    return {
        "id": str(message.pk),
        "channel": str(message.channel_id),
        "parent": str(message.parent_id) if message.parent_id else None,
        "author": str(message.author_id),
        "body": "" if deleted else message.body,
        "html": "" if deleted else render_markdown(message.body),
        "mentions": [] if deleted else [str(u) for u in message.mentions],
        "reply_count": message.reply_count,
        "last_reply_at": _iso(message.last_reply_at),
        "reactions": [] if deleted else reactions_summary(reactions),
        "created_at": _iso(message.created_at),
        "edited_at": _iso(message.edited_at),
        "deleted": deleted,
    }


def channel_data(channel: Channel) -> EventData:
    return {
        "id": str(channel.pk),
        "name": channel.name,
        "topic": channel.topic,
        "kind": channel.kind,
        "project": str(channel.project_id) if channel.project_id else None,
    }


def _audience(actor: Membership, channel: Channel) -> list[str] | None:
    return selectors.channel_audience(channel=channel, organization_id=actor.organization_id)


def _emit(actor: Membership, channel: Channel, type: str, op: str, data: EventData) -> None:
    send_event_on_commit(type=type, op=op, data=data, user_ids=_audience(actor, channel))
