"""Writes for chat: channels, members, messages, reactions, read markers.

Every function takes the acting ``Membership`` and re-checks what it may do,
so the rules hold for any caller (API, shell, tests): viewers read (and keep
read markers) but never write; private channels are managed by their members;
messages are edited by their author and deleted by their author or an admin.

Realtime events go through ``send_event_on_commit`` only, to the channel's
audience (``selectors.channel_audience``):

* ``chat.message`` created / updated / deleted (data: the message);
* ``chat.reaction`` added / removed (``{message, channel, user, emoji}``);
* ``chat.read`` updated (``{channel, message, last_read_at}``) to the reader's
  own sockets (their other devices clear the badge);
* ``chat.mention`` created to each newly mentioned user (not the author);
* ``chat.channel`` created / updated / member_added.
"""

from __future__ import annotations

import datetime
import logging
import re
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import Http404
from django.utils import timezone

from apps.common.errors import ApplicationError, ConflictError
from apps.organizations.constants import MembershipStatus
from apps.organizations.models import Membership
from apps.projects.selectors import project_get_for_member
from apps.websocket_server.events import send_event_on_commit

from . import selectors
from .constants import MAX_EMOJI_LENGTH, ChannelKind, may_moderate_chat, may_write_chat
from .models import Channel, ChannelMember, Message, Reaction
from .rendering import mentions_in, render_markdown

logger = logging.getLogger(__name__)

#: A shortcode (``:thumbsup:``) or a short run of non-space characters that
#: contains no letters/digits (a Unicode emoji, possibly with modifiers/ZWJ).
_EMOJI_RE = re.compile(r"^(?::[a-z0-9_+\-]{1,50}:|[^\w\s]{1,16})$")


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


# --- checks ---------------------------------------------------------------------------


def _require_writer(actor: Membership) -> None:
    if not may_write_chat(actor.role):
        raise ApplicationError(
            "Your role in this organization does not allow this.",
            code="role_required",
            status_code=403,
        )


def _active_member_ids(actor: Membership, user_ids: Iterable[Any], *, field: str) -> list[Any]:
    """``user_ids`` (deduplicated, as UUIDs) if all are active members of the
    actor's organization; else 400 ``not_an_organization_member``."""
    wanted = list(dict.fromkeys(uuid.UUID(str(u)) for u in user_ids))
    if not wanted:
        return []
    found = set(
        Membership.objects.filter(
            organization_id=actor.organization_id,
            user_id__in=wanted,
            status=MembershipStatus.ACTIVE,
        ).values_list("user_id", flat=True)
    )
    missing = [str(u) for u in wanted if u not in found]
    if missing:
        raise ApplicationError(
            "Only active members of this organization can be added or mentioned.",
            code="not_an_organization_member",
            extra={"fields": {field: [f"Not a member: {', '.join(missing)}."]}},
        )
    return wanted


def _may_manage_channel(actor: Membership, channel: Channel) -> bool:
    return may_moderate_chat(actor.role) or channel.created_by_id == actor.user_id


# --- payloads and events --------------------------------------------------------------


def _iso(value: Any) -> str | None:
    """An instant as the API renders it (DRF: ISO 8601, UTC as ``Z``), so an
    event and a GET of the same object compare equal."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def reactions_summary(reactions: Iterable[Reaction]) -> list[dict[str, Any]]:
    """``[{emoji, count, users}]`` in first-reaction order."""
    grouped: dict[str, list[str]] = {}
    for reaction in reactions:
        grouped.setdefault(reaction.emoji, []).append(str(reaction.user_id))
    return [{"emoji": e, "count": len(u), "users": u} for e, u in grouped.items()]


def message_data(message: Message, reactions: Iterable[Reaction] = ()) -> dict[str, Any]:
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


def channel_data(channel: Channel) -> dict[str, Any]:
    return {
        "id": str(channel.pk),
        "name": channel.name,
        "topic": channel.topic,
        "kind": channel.kind,
        "project": str(channel.project_id) if channel.project_id else None,
    }


def _audience(actor: Membership, channel: Channel) -> list[str] | None:
    return selectors.channel_audience(channel=channel, organization_id=actor.organization_id)


def _emit(actor: Membership, channel: Channel, type: str, op: str, data: dict[str, Any]) -> None:
    send_event_on_commit(type=type, op=op, data=data, user_ids=_audience(actor, channel))


# --- channels -------------------------------------------------------------------------


def _save_channel(channel: Channel, *, update_fields: list[str] | None = None) -> None:
    """Save, turning the unique-name race into 409 ``channel_name_taken``."""
    try:
        with transaction.atomic():
            channel.save(update_fields=update_fields)
    except IntegrityError as error:
        if "chat_channel_name_unique" in str(error):
            raise ConflictError(
                "A channel with this name already exists.", code="channel_name_taken"
            ) from error
        if "chat_channel_project_unique" in str(error):
            raise ConflictError(
                "This project already has a channel.", code="project_channel_exists"
            ) from error
        raise


def channel_create(
    *,
    actor: Membership,
    name: str,
    kind: str,
    topic: str = "",
    project_id: Any | None = None,
    members: Iterable[Any] = (),
) -> Channel:
    """Create a public, private or project channel (direct: ``direct_open``).

    The creator joins it; ``members`` (private channels) are added too. A
    project channel needs a project the creator may see (one per project).
    """
    _require_writer(actor)
    name = name.strip()
    if kind not in (ChannelKind.PUBLIC, ChannelKind.PRIVATE, ChannelKind.PROJECT):
        raise ApplicationError(
            "Use POST /api/v1/chat/direct/ for direct conversations.",
            code="invalid_kind",
            extra={"fields": {"kind": ["Must be public, private or project."]}},
        )
    if not name:
        raise ApplicationError(
            "A channel needs a name.", code="invalid", extra={"fields": {"name": ["Required."]}}
        )
    project = None
    if kind == ChannelKind.PROJECT:
        if project_id is None:
            raise ApplicationError(
                "A project channel needs a project.",
                code="invalid",
                extra={"fields": {"project": ["Required for a project channel."]}},
            )
        try:
            project = project_get_for_member(membership=actor, project_id=project_id)
        except Http404 as error:
            raise ApplicationError(
                "Unknown project.", code="invalid", extra={"fields": {"project": ["Unknown."]}}
            ) from error
    elif project_id is not None:
        raise ApplicationError(
            "Only project channels have a project.",
            code="invalid",
            extra={"fields": {"project": ["Only for kind=project."]}},
        )
    extra_members = _active_member_ids(actor, members, field="members")
    if extra_members and kind != ChannelKind.PRIVATE:
        raise ApplicationError(
            "Only private channels list their members.",
            code="invalid",
            extra={"fields": {"members": ["Only for kind=private."]}},
        )
    with transaction.atomic():
        channel = Channel(
            name=name, topic=topic, kind=kind, project=project, created_by_id=actor.user_id
        )
        _save_channel(channel)
        ChannelMember.objects.bulk_create(
            [
                ChannelMember(channel=channel, user_id=user_id)
                for user_id in dict.fromkeys([actor.user_id, *extra_members])
            ]
        )
        _emit(actor, channel, "chat.channel", "created", channel_data(channel))
    return channel


def channel_update(
    *, actor: Membership, channel: Channel, name: Any = UNSET, topic: Any = UNSET
) -> Channel:
    """Rename or re-topic a channel: its creator or an admin. Direct channels
    have no name."""
    _require_writer(actor)
    if channel.kind == ChannelKind.DIRECT:
        raise ConflictError("Direct conversations cannot be renamed.", code="direct_channel")
    if not _may_manage_channel(actor, channel):
        raise ApplicationError(
            "Only the channel's creator or an admin can change it.",
            code="role_required",
            status_code=403,
        )
    fields = []
    if name is not UNSET:
        name = str(name).strip()
        if not name:
            raise ApplicationError(
                "A channel needs a name.", code="invalid", extra={"fields": {"name": ["Required."]}}
            )
        channel.name = name
        fields.append("name")
    if topic is not UNSET:
        channel.topic = topic
        fields.append("topic")
    if fields:
        with transaction.atomic():
            _save_channel(channel, update_fields=[*fields, "updated_at"])
            _emit(actor, channel, "chat.channel", "updated", channel_data(channel))
    return channel


def channel_member_add(
    *, actor: Membership, channel: Channel, user_id: Any
) -> tuple[ChannelMember, bool]:
    """Add ``user_id`` to a private channel (any of its members may), or join a
    public channel (yourself). Project channels follow the project's members;
    direct channels are fixed. Returns ``(member, created)``; adding someone
    who is already in is not an error."""
    _require_writer(actor)
    [user_uuid] = _active_member_ids(actor, [user_id], field="user")
    if channel.kind in (ChannelKind.PROJECT, ChannelKind.DIRECT):
        raise ConflictError(
            "Members of project and direct channels cannot be changed here.",
            code="channel_members_fixed",
        )
    if channel.kind == ChannelKind.PUBLIC and user_uuid != actor.user_id:
        raise ApplicationError(
            "Public channels are open to everyone: members join themselves.",
            code="invalid",
            extra={"fields": {"user": ["Only yourself in a public channel."]}},
        )
    with transaction.atomic():
        member, created = ChannelMember.objects.get_or_create(channel=channel, user_id=user_uuid)
        if created:
            data = {**channel_data(channel), "user": str(user_uuid)}
            _emit(actor, channel, "chat.channel", "member_added", data)
    return member, created


def direct_open(*, actor: Membership, user_id: Any) -> tuple[Channel, bool]:
    """The direct channel between the actor and ``user_id``, created if needed.

    Idempotent under concurrency: the unique ``direct_key`` decides which of
    two simultaneous creations wins; the loser reads the winner's row.
    """
    [peer] = _active_member_ids(actor, [user_id], field="user")
    if peer == actor.user_id:
        raise ApplicationError(
            "A direct conversation needs another person.",
            code="invalid",
            extra={"fields": {"user": ["Cannot be yourself."]}},
        )
    key = selectors.direct_key(actor.user_id, peer)
    existing = Channel.objects.filter(direct_key=key).first()
    if existing is not None:
        return existing, False
    _require_writer(actor)
    try:
        with transaction.atomic():
            channel = Channel.objects.create(
                kind=ChannelKind.DIRECT, direct_key=key, created_by_id=actor.user_id
            )
            ChannelMember.objects.bulk_create(
                [ChannelMember(channel=channel, user_id=u) for u in (actor.user_id, peer)]
            )
            _emit(actor, channel, "chat.channel", "created", channel_data(channel))
    except IntegrityError:
        return Channel.objects.get(direct_key=key), False
    return channel, True


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


def _advance_marker(channel: Channel, user_id: Any, message: Message) -> ChannelMember | None:
    """Move ``user_id``'s read marker to ``message`` unless it is already past
    it (markers only move forward, also under concurrent calls)."""
    member, _ = ChannelMember.objects.get_or_create(channel=channel, user_id=user_id)
    moved = (
        ChannelMember.objects.filter(pk=member.pk)
        .exclude(last_read_at__gte=message.created_at)
        .update(last_read_message=message, last_read_at=message.created_at)
    )
    return member if moved else None


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
    *, actor: Membership, channel: Channel, body: str, parent_id: Any | None = None
) -> Message:
    """Post ``body`` (markdown) to ``channel``, or as a reply in a thread.

    Threads are one level deep: ``parent`` must be a live top-level message of
    the same channel. The author's read marker moves to their own message.
    ``created_at`` grows strictly with the commit order of the channel's
    messages (see ``_next_message_time``).
    """
    _require_writer(actor)
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
                raise ApplicationError(
                    "The parent must be a top-level message of this channel.",
                    code="invalid_parent",
                    extra={"fields": {"parent": ["Unknown or not a thread root."]}},
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
    _require_writer(actor)
    body = _clean_body(body)
    with transaction.atomic():
        message = Message.objects.select_for_update().get(pk=message.pk)
        if message.author_id != actor.user_id:
            raise ApplicationError(
                "Only the author can edit a message.", code="not_author", status_code=403
            )
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
        if message.author_id != actor.user_id and not may_moderate_chat(actor.role):
            raise ApplicationError(
                "Only the author or an admin can delete a message.",
                code="not_author",
                status_code=403,
            )
        if message.author_id == actor.user_id:
            _require_writer(actor)
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


def _reaction_data(message: Message, user_id: Any, emoji: str) -> dict[str, Any]:
    return {
        "message": str(message.pk),
        "channel": str(message.channel_id),
        "user": str(user_id),
        "emoji": emoji,
    }


def reaction_add(*, actor: Membership, message: Message, emoji: str) -> tuple[Reaction, bool]:
    """React; reacting twice with the same emoji is a no-op ``(existing, False)``."""
    _require_writer(actor)
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
    _require_writer(actor)
    with transaction.atomic():
        deleted, _ = Reaction.objects.filter(
            message=message, user_id=actor.user_id, emoji=emoji
        ).delete()
        if not deleted:
            raise Http404("No such reaction.")
        data = _reaction_data(message, actor.user_id, emoji)
        _emit(actor, message.channel, "chat.reaction", "removed", data)


# --- read markers ---------------------------------------------------------------------


def channel_mark_read(*, actor: Membership, channel: Channel, message_id: Any) -> ChannelMember:
    """Move the actor's read marker to ``message_id`` (a message of this
    channel). Viewers may (reading is what they do). Markers never move back:
    an older message leaves the marker where it is (and emits nothing)."""
    message = Message.all_objects.filter(pk=message_id, channel=channel).first()
    if message is None:
        raise ApplicationError(
            "The message is not in this channel.",
            code="invalid",
            extra={"fields": {"message": ["Unknown message."]}},
        )
    with transaction.atomic():
        moved = _advance_marker(channel, actor.user_id, message)
        if moved is not None:
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
    return ChannelMember.objects.get(channel=channel, user_id=actor.user_id)
