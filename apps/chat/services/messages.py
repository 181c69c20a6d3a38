"""Writes for messages: post (threads one level deep), edit, delete;
mentions, reactions and read markers."""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import Http404
from django.utils import timezone

from apps.chat import selectors
from apps.chat.constants import MAX_EMOJI_LENGTH
from apps.chat.models import Channel, ChannelMember, Message, Reaction
from apps.chat.rendering import mentions_in
from apps.common.errors import ApplicationError, PermissionDeniedError, does_not_exist
from apps.organizations.models import Membership
from apps.organizations.permissions import may, require
from apps.websocket_server.events import send_event_on_commit

from .channels import _active_member_ids
from .events import EventData, _emit, _iso, message_data

#: A shortcode (``:thumbsup:``) or a short run of non-space characters that
#: contains no letters/digits (a Unicode emoji, possibly with modifiers/ZWJ).
_EMOJI_RE = re.compile(r"^(?::[a-z0-9_+\-]{1,50}:|[^\w\s]{1,16})$")


# --- messages -------------------------------------------------------------------------


def _checked_mentions(actor: Membership, channel: Channel, body: str) -> list[uuid.UUID]:
    """Mentioned users must be active members who can see the channel
    (mentioning someone who cannot read it would leak nothing but help no one:
    the author is told to add them first)."""
    mentioned = _active_member_ids(actor, mentions_in(body), field="body")
    if not mentioned:
        return []
    seeing = selectors.users_who_may_see(
        channel=channel, organization_id=actor.organization_id, user_ids=mentioned
    )
    blind = [str(u) for u in mentioned if u not in seeing]
    if blind:
        raise ApplicationError(
            "These users cannot see this channel: add them first.",
            code="user_cannot_see_channel",
            extra={"fields": {"body": [f"Cannot see the channel: {', '.join(blind)}."]}},
        )
    return mentioned


def _emit_mentions(actor: Membership, message: Message, user_ids: Iterable[uuid.UUID]) -> None:
    targets = [str(u) for u in user_ids if u != actor.user_id]
    if targets:
        data = {
            "message": str(message.pk),
            "channel": str(message.channel_id),
            "author": str(actor.user_id),
        }
        send_event_on_commit(type="chat.mention", op="created", data=data, user_ids=targets)


def _clean_body(body: str) -> str:
    if not isinstance(body, str) or not body.strip():
        raise ApplicationError(
            "A message needs a body.", code="invalid", extra={"fields": {"body": ["Required."]}}
        )
    return body


def _advance_marker(channel: Channel, user_id: uuid.UUID, message: Message) -> bool:
    """Move ``user_id``'s read marker to ``message`` unless it is already past
    it (markers only move forward, also under concurrent calls); ``True`` if
    it moved. One conditional UPDATE when the member row exists; a missing
    row is inserted unread (``ON CONFLICT DO NOTHING``: a concurrent insert
    wins harmlessly) and the UPDATE tried again."""
    behind = ChannelMember.objects.filter(channel=channel, user_id=user_id).exclude(
        last_read_at__gte=message.created_at
    )
    fields = {"last_read_message": message, "last_read_at": message.created_at}
    if behind.update(**fields):
        return True
    ChannelMember.objects.bulk_create(
        [ChannelMember(channel=channel, user_id=user_id)], ignore_conflicts=True
    )
    return bool(behind.update(**fields))


def _next_message_time(channel: Channel) -> datetime.datetime:
    """``created_at`` for a new message of ``channel``, under its row lock.

    Clients page history by ``(created_at, id)`` and catch up with
    ``since=<instant>``: a message committed after another must never carry
    an earlier ``created_at``, or a client that already saw the later one
    would never see it. Posts to a channel are serialised by the channel's
    row lock (taken by the caller), so they commit in the order they pass
    here; the clock is read only now, and pushed one microsecond past the
    channel's newest message (deleted ones included) should it be behind
    (another web node's clock, a clock step back). A separate statement from
    the lock on purpose: under READ COMMITTED it sees the message the lock
    waited for, which a sub-query of the locking statement would not.
    """
    now = timezone.now()
    newest = (
        Message.all_objects.filter(channel=channel)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if newest is not None and now <= newest:
        now = newest + datetime.timedelta(microseconds=1)
    return now


def message_create(
    *, actor: Membership, channel: Channel, body: str, parent_id: uuid.UUID | None = None
) -> Message:
    """Post ``body`` (markdown) to ``channel``, or as a reply in a thread.

    Threads are one level deep: ``parent`` must be a live top-level message of
    the same channel. The author's read marker moves to their own message.
    ``created_at`` grows strictly with the commit order of the channel's
    messages (see ``_next_message_time``).
    """
    require(actor, "chat.write")
    body = _clean_body(body)
    with transaction.atomic():
        # Before the parent's row lock, in every post (one order: no deadlock
        # between posters). NO KEY UPDATE serialises posters (and the
        # channel's own updates) but not inserts that merely reference the
        # channel (read markers, members).
        locking = Channel.all_objects.select_for_update(no_key=True).filter(pk=channel.pk)
        list(locking.order_by().values_list("pk", flat=True))
        now = _next_message_time(channel)
        parent = None
        if parent_id is not None:
            parent = (
                Message.objects.select_for_update()
                .filter(pk=parent_id, channel=channel, parent__isnull=True)
                .first()
            )
            if parent is None:
                if not Message.objects.filter(pk=parent_id, channel=channel).exists():
                    raise does_not_exist("parent", "message in this channel")
                raise ApplicationError(
                    "The parent must be a top-level message of this channel.",
                    code="invalid_parent",
                    extra={"fields": {"parent": ["A reply: threads are one level deep."]}},
                )
        mentions = _checked_mentions(actor, channel, body)
        message = Message.objects.create(
            channel=channel,
            parent=parent,
            author_id=actor.user_id,
            body=body,
            mentions=mentions,
            created_at=now,
        )
        if parent is not None:
            Message.objects.filter(pk=parent.pk).update(
                reply_count=F("reply_count") + 1, last_reply_at=now
            )
        else:
            Channel.objects.filter(pk=channel.pk).update(last_message_at=now)
            _advance_marker(channel, actor.user_id, message)
        _emit(actor, channel, "chat.message", "created", message_data(message))
        _emit_mentions(actor, message, mentions)
    return message


def message_update(*, actor: Membership, message: Message, body: str) -> Message:
    """Edit a message: its author only. Newly mentioned users are notified."""
    require(actor, "chat.write")
    body = _clean_body(body)
    with transaction.atomic():
        message = Message.objects.select_for_update().get(pk=message.pk)
        if message.author_id != actor.user_id:
            raise PermissionDeniedError("Only the author can edit a message.", code="not_author")
        channel = message.channel
        mentions = _checked_mentions(actor, channel, body)
        newly = [u for u in mentions if u not in set(message.mentions)]
        message.body = body
        message.mentions = mentions
        message.edited_at = timezone.now()
        message.save(update_fields=["body", "mentions", "edited_at", "updated_at"])
        fresh = selectors.message_with_reactions(message_id=message.pk)
        _emit(actor, channel, "chat.message", "updated", message_data(fresh, fresh.reactions.all()))
        _emit_mentions(actor, message, newly)
    return message


def message_delete(*, actor: Membership, message: Message) -> None:
    """Soft delete: the author, or an admin (moderation). A thread root's
    replies stay (they show under a tombstone); a reply leaves its root's
    ``reply_count``."""
    with transaction.atomic():
        message = Message.objects.select_for_update().get(pk=message.pk)
        if message.author_id != actor.user_id and not may(actor, "chat.moderate"):
            raise PermissionDeniedError(
                "Only the author or an admin can delete a message.", code="not_author"
            )
        if message.author_id == actor.user_id:
            require(actor, "chat.write")
        message.soft_delete()
        if message.parent_id is not None:
            Message.objects.filter(pk=message.parent_id, reply_count__gt=0).update(
                reply_count=F("reply_count") - 1
            )
        _emit(actor, message.channel, "chat.message", "deleted", message_data(message))


# --- reactions ------------------------------------------------------------------------


def _clean_emoji(emoji: str) -> str:
    emoji = (emoji or "").strip()
    if not emoji or len(emoji) > MAX_EMOJI_LENGTH or not _EMOJI_RE.match(emoji):
        raise ApplicationError(
            "An emoji is a Unicode emoji or a :shortcode:.",
            code="invalid",
            extra={"fields": {"emoji": ["Not an emoji."]}},
        )
    return emoji


def _reaction_data(message: Message, user_id: uuid.UUID, emoji: str) -> EventData:
    return {
        "message": str(message.pk),
        "channel": str(message.channel_id),
        "user": str(user_id),
        "emoji": emoji,
    }


def reaction_add(*, actor: Membership, message: Message, emoji: str) -> tuple[Reaction, bool]:
    """React; reacting twice with the same emoji is a no-op ``(existing, False)``."""
    require(actor, "chat.write")
    emoji = _clean_emoji(emoji)
    try:
        with transaction.atomic():
            reaction, created = Reaction.objects.get_or_create(
                message=message, user_id=actor.user_id, emoji=emoji
            )
            if created:
                data = _reaction_data(message, actor.user_id, emoji)
                _emit(actor, message.channel, "chat.reaction", "added", data)
    except IntegrityError:  # a concurrent identical reaction won
        return Reaction.objects.get(message=message, user_id=actor.user_id, emoji=emoji), False
    return reaction, created


def reaction_remove(*, actor: Membership, message: Message, emoji: str) -> None:
    """Take one's own reaction back; an absent reaction is 404."""
    require(actor, "chat.write")
    with transaction.atomic():
        deleted, _ = Reaction.objects.filter(
            message=message, user_id=actor.user_id, emoji=emoji
        ).delete()
        if not deleted:
            raise Http404("No such reaction.")
        data = _reaction_data(message, actor.user_id, emoji)
        _emit(actor, message.channel, "chat.reaction", "removed", data)


# --- read markers ---------------------------------------------------------------------


def channel_read_through(*, actor: Membership, channel: Channel, message: Message) -> bool:
    """Move the actor's read marker to ``message`` (already known to be a
    message of ``channel``, which the actor may see); ``chat.read`` to the
    reader's own sockets when it moved. Never backwards: an older message
    leaves the marker where it is and emits nothing. A marker already at or
    past ``message`` costs one query (two UPDATEs and an INSERT at most)."""
    moved = _advance_marker(channel, actor.user_id, message)
    if moved:
        send_event_on_commit(
            type="chat.read",
            op="updated",
            data={
                "channel": str(channel.pk),
                "message": str(message.pk),
                "last_read_at": _iso(message.created_at),
            },
            user_ids=[actor.user_id],
        )
    return moved


def channel_mark_read(
    *, actor: Membership, channel: Channel, message_id: uuid.UUID
) -> ChannelMember:
    """Move the actor's read marker to ``message_id`` (a message of this
    channel). Viewers may (reading is what they do). Markers never move back
    (see :func:`channel_read_through`)."""
    message = Message.all_objects.filter(pk=message_id, channel=channel).first()
    if message is None:
        raise does_not_exist("message", "message in this channel")
    with transaction.atomic():
        channel_read_through(actor=actor, channel=channel, message=message)
    return ChannelMember.objects.get(channel=channel, user_id=actor.user_id)
