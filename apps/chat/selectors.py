"""Reads for chat, with the visibility rules of each channel kind.

* ``public``: every member of the organization;
* ``private`` and ``direct``: the users listed in ``ChannelMember``;
* ``project``: whoever may see the linked project — the rule of
  ``apps.projects.selectors.visible_project_filter`` (managers+ see every
  project, others public projects and the private ones they belong to).

Everything that takes a channel or message id from a request goes through
``channel_get_for_member`` / ``message_get_for_member``, so a hidden channel,
another organization's channel and one that never existed all answer 404.
The same rules give the audience of the channel's realtime events
(``channel_audience``) and the socket's check for ``chat.typing``.
"""

from __future__ import annotations

import datetime
import uuid

from django.db.models import (
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce
from django.http import Http404

from apps.organizations.constants import MembershipStatus, Role
from apps.organizations.models import Membership
from apps.organizations.permissions import role_has
from apps.projects.models import ProjectMember
from apps.projects.selectors import visible_project_filter
from apps.tasks.selectors import ILike, contains_pattern

from .constants import ChannelKind
from .models import Channel, ChannelMember, Message, Reaction

#: Before any message: the read marker of someone who never read a channel.
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def channel_visibility_filter(actor: Membership) -> Q:
    """A ``Q`` on ``Channel`` keeping the channels ``actor`` may see
    (``EXISTS`` sub-queries only, so list queries never multiply rows)."""
    listed = Exists(ChannelMember.objects.filter(channel_id=OuterRef("id"), user_id=actor.user_id))
    return (
        Q(kind=ChannelKind.PUBLIC)
        | (Q(kind__in=[ChannelKind.PRIVATE, ChannelKind.DIRECT]) & Q(listed))
        | (
            Q(kind=ChannelKind.PROJECT, project__deleted_at__isnull=True)
            & visible_project_filter(actor, prefix="project__")
        )
    )


def channels_visible_to(*, actor: Membership) -> QuerySet[Channel]:
    return Channel.objects.filter(channel_visibility_filter(actor))


def channel_get_for_member(*, actor: Membership, channel_id: uuid.UUID) -> Channel:
    """The live channel if ``actor`` may see it; else 404."""
    channel = channels_visible_to(actor=actor).filter(pk=channel_id).first()
    if channel is None:
        raise Http404("No such channel.")
    return channel


def channel_list(*, actor: Membership) -> QuerySet[Channel]:
    """The caller's channels with ``my_last_read_at`` and ``unread_count``.

    ``unread_count`` counts live top-level messages of *others* after the
    caller's read marker (all of them when the caller never read the
    channel). Both are correlated sub-queries of the one list statement, so
    the list costs the same number of queries whatever its length.
    """
    marker = ChannelMember.objects.filter(channel_id=OuterRef("id"), user_id=actor.user_id)
    unread = (
        Message.objects.filter(
            channel_id=OuterRef("id"),
            parent__isnull=True,
            created_at__gt=Coalesce(OuterRef("my_last_read_at"), _EPOCH),
        )
        .exclude(author_id=actor.user_id)
        .order_by()
        .values("channel_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    return (
        channels_visible_to(actor=actor)
        .annotate(
            my_last_read_at=Subquery(marker.values("last_read_at")[:1]),
            is_member=Exists(marker),
        )
        .annotate(unread_count=Coalesce(Subquery(unread, output_field=IntegerField()), 0))
        .order_by("name", "created_at", "id")
    )


def channel_members(*, channel: Channel) -> QuerySet[ChannelMember]:
    return ChannelMember.objects.filter(channel=channel).order_by("joined_at", "id")


def channel_member_get(*, channel: Channel, user_id: uuid.UUID) -> ChannelMember | None:
    return ChannelMember.objects.filter(channel=channel, user_id=user_id).first()


def direct_key(user_a: uuid.UUID | str, user_b: uuid.UUID | str) -> str:
    """The order-independent key of the direct channel between two users."""
    first, second = sorted([str(user_a), str(user_b)])
    return f"{first}:{second}"


def direct_peer(channel: Channel, user_id: uuid.UUID | str) -> str | None:
    """The other person of a direct channel (from its key: no query)."""
    if channel.kind != ChannelKind.DIRECT or not channel.direct_key:
        return None
    first, second = channel.direct_key.split(":")
    return second if first == str(user_id) else first


# --- audiences ----------------------------------------------------------------------


def _managers_of(organization_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        Membership.objects.filter(
            organization_id=organization_id,
            status=MembershipStatus.ACTIVE,
            role__in=[r for r in Role.values if role_has(r, "projects.manage")],
        ).values_list("user_id", flat=True)
    )


def channel_audience(*, channel: Channel, organization_id: uuid.UUID) -> list[str] | None:
    """Who may receive the realtime events of ``channel``: ``None`` means the
    whole organization (public channels, channels of public projects); else
    the listed user ids (private/direct members; a private project's members
    plus the organization's managers and above)."""
    if channel.kind == ChannelKind.PUBLIC:
        return None
    if channel.kind in (ChannelKind.PRIVATE, ChannelKind.DIRECT):
        ids = ChannelMember.objects.filter(channel=channel).values_list("user_id", flat=True)
        return sorted(str(u) for u in ids)
    project = channel.project
    if project is None or project.deleted_at is not None:
        return []
    if not project.is_private:
        return None
    members = set(
        ProjectMember.objects.filter(project=project).values_list("user_id", flat=True)
    ).union(_managers_of(organization_id))
    return sorted(str(u) for u in members)


def users_who_may_see(
    *, channel: Channel, organization_id: uuid.UUID, user_ids: list[uuid.UUID]
) -> set[uuid.UUID]:
    """Those of ``user_ids`` who are active members and may see ``channel``.

    One query whatever the number of users (a message may mention many): the
    rules of ``channel_visibility_filter`` written as ``EXISTS`` sub-queries
    on the candidate ``Membership`` rows, each keyed on the outer row's
    ``user_id`` (and ``role`` for managers, who see every project). Every
    sub-query starts from the live channel, so a soft-deleted channel is seen
    by no one, as ``channel_get_for_member`` would answer.
    """
    live = Channel.objects.filter(pk=channel.pk)
    live_project = live.filter(kind=ChannelKind.PROJECT, project__deleted_at__isnull=True)
    manager_roles = [r for r in Role.values if role_has(r, "projects.manage")]
    sees = (
        Q(Exists(live.filter(kind=ChannelKind.PUBLIC)))
        | Q(
            Exists(
                live.filter(
                    kind__in=[ChannelKind.PRIVATE, ChannelKind.DIRECT],
                    members__user_id=OuterRef("user_id"),
                )
            )
        )
        | (Q(role__in=manager_roles) & Q(Exists(live_project)))
        | Q(Exists(live_project.filter(project__is_private=False)))
        | Q(Exists(live_project.filter(project__members__user_id=OuterRef("user_id"))))
    )
    return set(
        Membership.objects.filter(
            sees,
            organization_id=organization_id,
            user_id__in=user_ids,
            status=MembershipStatus.ACTIVE,
        ).values_list("user_id", flat=True)
    )


# --- messages -----------------------------------------------------------------------


def _with_reactions(query: QuerySet[Message]) -> QuerySet[Message]:
    return query.prefetch_related(
        Prefetch("reactions", queryset=Reaction.objects.order_by("created_at", "id"))
    )


def message_list(
    *,
    channel: Channel,
    parent_id: uuid.UUID | None = None,
    search: str | None = None,
    since: datetime.datetime | None = None,
    since_exclude: uuid.UUID | None = None,
) -> QuerySet[Message]:
    """A channel's history for the cursor-paginated list (newest first).

    Without ``parent_id``: top-level messages (thread roots carry
    ``reply_count``); with it: that thread's replies. ``search`` keeps
    messages whose body contains the text (case-insensitive, trigram index).
    ``since`` is the reconnect catch-up: every message created *or changed*
    after that instant, soft-deleted ones included (as tombstones), so a
    client that missed events learns about edits and deletions too.
    """
    manager = Message.all_objects if since is not None else Message.objects
    query = manager.filter(channel=channel)
    if since is not None:
        query = query.filter(Q(created_at__gt=since) | Q(updated_at__gt=since))
        if since_exclude is not None:  # the anchor message itself
            query = query.exclude(pk=since_exclude)
    elif parent_id is None:
        query = query.filter(parent__isnull=True)
    if parent_id is not None:
        query = query.filter(parent_id=parent_id)
    if search:
        query = query.filter(ILike(F("body"), contains_pattern(search)))
    return _with_reactions(query)


def message_get_for_member(
    *, actor: Membership, message_id: uuid.UUID, with_deleted: bool = False
) -> Message:
    """The message if its channel is visible to ``actor``; else 404."""
    manager = Message.all_objects if with_deleted else Message.objects
    message = (
        manager.filter(
            pk=message_id,
            channel__deleted_at__isnull=True,
            channel__in=channels_visible_to(actor=actor),
        )
        .select_related("channel", "channel__project")
        .first()
    )
    if message is None:
        raise Http404("No such message.")
    return message


def message_with_reactions(*, message_id: uuid.UUID) -> Message:
    return _with_reactions(Message.all_objects.filter(pk=message_id)).get()
