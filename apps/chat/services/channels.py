"""Writes for channels: create, rename/re-topic, add members, open a direct
conversation; and the checks every chat write shares (the writer's role,
active members of the organization)."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from typing import Final

from django.db import IntegrityError, transaction
from django.http import Http404

from apps.chat import selectors
from apps.chat.constants import ChannelKind
from apps.chat.models import Channel, ChannelMember
from apps.common.errors import ApplicationError, ConflictError, does_not_exist
from apps.organizations.constants import MembershipStatus
from apps.organizations.models import Membership
from apps.organizations.permissions import require
from apps.projects.selectors import project_get_for_member

from .events import _emit, channel_data


class _Unset(enum.Enum):
    """A keyword argument of an update the caller did not pass (an enum member,
    so that ``x is UNSET`` narrows ``x`` for the type checker)."""

    UNSET = "UNSET"


UNSET: Final = _Unset.UNSET


# --- checks ---------------------------------------------------------------------------


def _active_member_ids(
    actor: Membership, user_ids: Iterable[uuid.UUID | str], *, field: str
) -> list[uuid.UUID]:
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
    project_id: uuid.UUID | None = None,
    members: Iterable[uuid.UUID] = (),
) -> Channel:
    """Create a public, private or project channel (direct: ``direct_open``).

    The creator joins it; ``members`` (private channels) are added too. A
    project channel needs a project the creator may see (one per project).
    """
    require(actor, "chat.write")
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
            project = project_get_for_member(actor=actor, project_id=project_id)
        except Http404 as error:
            raise does_not_exist("project", "project") from error
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
    *,
    actor: Membership,
    channel: Channel,
    name: str | _Unset = UNSET,
    topic: str | _Unset = UNSET,
) -> Channel:
    """Rename or re-topic a channel: its creator, or ``chat.moderate`` (an
    admin). Direct channels have no name."""
    require(actor, "chat.write")
    if channel.kind == ChannelKind.DIRECT:
        raise ConflictError("Direct conversations cannot be renamed.", code="direct_channel")
    if channel.created_by_id != actor.user_id:
        require(actor, "chat.moderate")
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
    *, actor: Membership, channel: Channel, user_id: uuid.UUID
) -> tuple[ChannelMember, bool]:
    """Add ``user_id`` to a private channel (any of its members may), or join a
    public channel (yourself). Project channels follow the project's members;
    direct channels are fixed. Returns ``(member, created)``; adding someone
    who is already in is not an error."""
    require(actor, "chat.write")
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


def direct_open(*, actor: Membership, user_id: uuid.UUID) -> tuple[Channel, bool]:
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
    require(actor, "chat.write")
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
