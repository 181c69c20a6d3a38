"""Chat services, called directly (no HTTP): what each writes, and each
refusal with its exact code, status and nothing changed (no row, no event).

The events each action emits are asserted exactly in ``test_events.py``.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.http import Http404

from apps.chat.models import Channel, ChannelMember, Message, Reaction
from apps.chat.services import channels, messages
from apps.common.errors import ApplicationError
from apps.organizations.models import Membership
from apps.projects.models import ProjectMember
from apps.projects.tests.factories import ProjectFactory

from .conftest import member
from .factories import ChannelFactory, MessageFactory

pytestmark = pytest.mark.django_db


def _state() -> tuple[list[Any], ...]:
    """Every chat row of the organization, as comparable values."""
    return (
        sorted(
            Channel.all_objects.values_list(
                "id", "name", "topic", "kind", "project_id", "deleted_at", "last_message_at"
            )
        ),
        sorted(
            ChannelMember.objects.values_list(
                "channel_id", "user_id", "last_read_message_id", "last_read_at"
            )
        ),
        sorted(
            Message.all_objects.values_list(
                "id", "body", "mentions", "edited_at", "deleted_at", "reply_count", "last_reply_at"
            )
        ),
        sorted(Reaction.objects.values_list("message_id", "user_id", "emoji")),
    )


@pytest.fixture
def refused(emitted: Callable[[], Any]) -> Callable[..., ApplicationError]:
    """``refused(code, status, action)``: ``action`` raises that error, and
    changes nothing: the same rows before and after, no event."""

    def check(code: str, status: int, action: Callable[[], Any]) -> ApplicationError:
        before = _state()
        with emitted() as events, pytest.raises(ApplicationError) as info:
            action()
        assert (info.value.code, info.value.status_code) == (code, status)
        assert _state() == before
        assert events == []
        return info.value

    return check


# --- channels -------------------------------------------------------------------------


def test_create_public_channel_the_creator_joins(in_tenant, alice):
    channel = channels.channel_create(actor=alice, name="  general ", kind="public", topic="hi")
    channel.refresh_from_db()
    assert (channel.name, channel.topic, channel.kind, channel.created_by_id) == (
        "general",
        "hi",
        "public",
        alice.user_id,
    )
    assert list(ChannelMember.objects.values_list("channel_id", "user_id")) == [
        (channel.pk, alice.user_id)
    ]


def test_create_private_channel_with_members(in_tenant, alice, bob):
    channel = channels.channel_create(
        actor=alice, name="secret", kind="private", members=[bob.user_id, alice.user_id]
    )
    assert set(ChannelMember.objects.filter(channel=channel).values_list("user_id", flat=True)) == {
        alice.user_id,
        bob.user_id,
    }


def test_create_project_channel_needs_a_visible_project(in_tenant, tenant, alice, refused):
    public = ProjectFactory(name="Website")
    channel = channels.channel_create(actor=alice, name="web", kind="project", project_id=public.pk)
    assert channel.project_id == public.pk

    hidden = ProjectFactory(is_private=True)
    for project_id in (hidden.pk, uuid.uuid4()):
        error = refused(
            "does_not_exist",
            400,
            lambda p=project_id: channels.channel_create(
                actor=alice, name="x", kind="project", project_id=p
            ),
        )
        assert list(error.extra["fields"]) == ["project"]
    refused(
        "invalid",
        400,
        lambda: channels.channel_create(actor=alice, name="x", kind="project"),
    )
    refused(
        "project_channel_exists",
        409,
        lambda: channels.channel_create(
            actor=alice, name="web 2", kind="project", project_id=public.pk
        ),
    )


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"name": "x", "kind": "direct"}, "invalid_kind"),
        ({"name": "   ", "kind": "public"}, "invalid"),
        ({"name": "x", "kind": "public", "project_id": uuid.UUID(int=1)}, "invalid"),
        (
            {"name": "x", "kind": "public", "members": [uuid.UUID(int=2)]},
            "not_an_organization_member",
        ),
    ],
)
def test_create_refuses_bad_input(in_tenant, alice, refused, kwargs, code):
    refused(code, 400, lambda: channels.channel_create(actor=alice, **kwargs))


def test_create_refuses_members_outside_private_channels(in_tenant, alice, bob, refused):
    error = refused(
        "invalid",
        400,
        lambda: channels.channel_create(
            actor=alice, name="x", kind="public", members=[bob.user_id]
        ),
    )
    assert list(error.extra["fields"]) == ["members"]


def test_names_are_unique_ignoring_case(in_tenant, alice, refused):
    channels.channel_create(actor=alice, name="General", kind="public")
    refused(
        "channel_name_taken",
        409,
        lambda: channels.channel_create(actor=alice, name="general", kind="private"),
    )


def test_viewers_do_not_create_channels(in_tenant, tenant, refused):
    error = refused(
        "role_required",
        403,
        lambda: channels.channel_create(actor=member(tenant, "viewer"), name="x", kind="public"),
    )
    assert error.extra == {"permission": "chat.write"}


def test_update_by_the_creator_or_a_moderator(in_tenant, tenant, alice, bob, refused):
    channel = channels.channel_create(actor=alice, name="general", kind="public")

    channels.channel_update(actor=alice, channel=channel, name=" lobby ", topic="welcome")
    channel.refresh_from_db()
    assert (channel.name, channel.topic) == ("lobby", "welcome")

    error = refused(
        "role_required",
        403,
        lambda: channels.channel_update(actor=bob, channel=channel, name="mine"),
    )
    assert error.extra == {"permission": "chat.moderate"}

    channels.channel_update(actor=member(tenant, "admin"), channel=channel, topic="moderated")
    channel.refresh_from_db()
    assert (channel.name, channel.topic) == ("lobby", "moderated")


def test_update_refusals(in_tenant, tenant, alice, bob, refused):
    channel = channels.channel_create(actor=alice, name="general", kind="public")
    channels.channel_create(actor=alice, name="random", kind="public")
    direct, _ = channels.direct_open(actor=alice, user_id=bob.user_id)

    refused(
        "channel_name_taken",
        409,
        lambda: channels.channel_update(actor=alice, channel=channel, name="RANDOM"),
    )
    refused("invalid", 400, lambda: channels.channel_update(actor=alice, channel=channel, name=""))
    refused(
        "direct_channel",
        409,
        lambda: channels.channel_update(actor=alice, channel=direct, name="us"),
    )
    refused(
        "role_required",
        403,
        lambda: channels.channel_update(actor=member(tenant, "viewer"), channel=channel, topic="x"),
    )


def test_update_without_fields_changes_nothing(in_tenant, alice, emitted):
    channel = channels.channel_create(actor=alice, name="general", kind="public")
    before = _state()
    with emitted() as events:
        channels.channel_update(actor=alice, channel=channel)
    assert (_state(), events) == (before, [])


def test_members_join_public_channels_themselves(in_tenant, alice, bob, refused):
    channel = ChannelFactory(kind="public")
    member_row, created = channels.channel_member_add(
        actor=bob, channel=channel, user_id=bob.user_id
    )
    assert (member_row.user_id, created) == (bob.user_id, True)
    again, created = channels.channel_member_add(actor=bob, channel=channel, user_id=bob.user_id)
    assert (again.pk, created) == (member_row.pk, False)

    error = refused(
        "invalid",
        400,
        lambda: channels.channel_member_add(actor=bob, channel=channel, user_id=alice.user_id),
    )
    assert list(error.extra["fields"]) == ["user"]


def test_private_channel_members_add_others(in_tenant, tenant, alice, bob, refused):
    channel = channels.channel_create(actor=alice, name="secret", kind="private")
    _, created = channels.channel_member_add(actor=alice, channel=channel, user_id=bob.user_id)
    assert created
    assert ChannelMember.objects.filter(channel=channel, user_id=bob.user_id).exists()

    refused(
        "not_an_organization_member",
        400,
        lambda: channels.channel_member_add(actor=alice, channel=channel, user_id=uuid.uuid4()),
    )
    refused(
        "role_required",
        403,
        lambda: channels.channel_member_add(
            actor=member(tenant, "viewer"), channel=channel, user_id=bob.user_id
        ),
    )


@pytest.mark.parametrize("kind", ["project", "direct"])
def test_project_and_direct_members_are_fixed(in_tenant, alice, bob, refused, kind):
    if kind == "project":
        channel = ChannelFactory(kind="project", project=ProjectFactory())
    else:
        channel, _ = channels.direct_open(actor=alice, user_id=bob.user_id)
    refused(
        "channel_members_fixed",
        409,
        lambda: channels.channel_member_add(actor=alice, channel=channel, user_id=alice.user_id),
    )


def test_direct_open_is_idempotent(in_tenant, tenant, alice, bob, refused):
    channel, created = channels.direct_open(actor=alice, user_id=bob.user_id)
    assert created and channel.kind == "direct"
    assert set(ChannelMember.objects.filter(channel=channel).values_list("user_id", flat=True)) == {
        alice.user_id,
        bob.user_id,
    }
    same, created = channels.direct_open(actor=bob, user_id=alice.user_id)
    assert (same.pk, created) == (channel.pk, False)
    assert Channel.objects.filter(kind="direct").count() == 1

    refused("invalid", 400, lambda: channels.direct_open(actor=alice, user_id=alice.user_id))
    refused(
        "not_an_organization_member",
        400,
        lambda: channels.direct_open(actor=alice, user_id=uuid.uuid4()),
    )


def test_viewers_open_existing_direct_channels_only(in_tenant, tenant, alice, refused):
    viewer = member(tenant, "viewer")
    existing, _ = channels.direct_open(actor=alice, user_id=viewer.user_id)
    assert channels.direct_open(actor=viewer, user_id=alice.user_id) == (existing, False)
    refused(
        "role_required",
        403,
        lambda: channels.direct_open(actor=viewer, user_id=member(tenant).user_id),
    )


# --- messages -------------------------------------------------------------------------


def test_post_moves_the_authors_marker_and_the_channels_last_message(in_tenant, alice):
    channel = ChannelFactory()
    message = messages.message_create(actor=alice, channel=channel, body="hello")
    channel.refresh_from_db()
    assert (message.author_id, message.body, message.parent_id) == (alice.user_id, "hello", None)
    assert channel.last_message_at == message.created_at
    marker = ChannelMember.objects.get(channel=channel, user_id=alice.user_id)
    assert (marker.last_read_message_id, marker.last_read_at) == (message.pk, message.created_at)


def test_created_at_grows_with_the_commit_order_even_if_the_clock_is_behind(in_tenant, alice):
    channel = ChannelFactory()
    future = MessageFactory(
        channel=channel,
        author_id=alice.user_id,
        created_at=datetime.datetime(2999, 1, 1, tzinfo=datetime.UTC),
    )
    message = messages.message_create(actor=alice, channel=channel, body="later")
    assert message.created_at == future.created_at + datetime.timedelta(microseconds=1)


def test_replies_count_on_their_root_and_threads_are_one_level(in_tenant, alice, refused):
    channel = ChannelFactory()
    root = messages.message_create(actor=alice, channel=channel, body="root")
    reply = messages.message_create(actor=alice, channel=channel, body="re", parent_id=root.pk)
    root.refresh_from_db()
    assert (root.reply_count, root.last_reply_at) == (1, reply.created_at)

    refused(
        "invalid_parent",
        400,
        lambda: messages.message_create(actor=alice, channel=channel, body="x", parent_id=reply.pk),
    )
    elsewhere = MessageFactory(channel=ChannelFactory(), author_id=alice.user_id)
    deleted = MessageFactory(channel=channel, author_id=alice.user_id)
    deleted.soft_delete()
    for parent_id in (uuid.uuid4(), elsewhere.pk, deleted.pk):
        error = refused(
            "does_not_exist",
            400,
            lambda p=parent_id: messages.message_create(
                actor=alice, channel=channel, body="x", parent_id=p
            ),
        )
        assert list(error.extra["fields"]) == ["parent"]


def test_post_refusals(in_tenant, tenant, alice, refused):
    channel = ChannelFactory()
    refused("invalid", 400, lambda: messages.message_create(actor=alice, channel=channel, body=" "))
    error = refused(
        "role_required",
        403,
        lambda: messages.message_create(actor=member(tenant, "viewer"), channel=channel, body="x"),
    )
    assert error.extra == {"permission": "chat.write"}


def test_mentions_must_be_members_who_see_the_channel(in_tenant, tenant, alice, bob, refused):
    private = channels.channel_create(actor=alice, name="secret", kind="private")
    refused(
        "user_cannot_see_channel",
        400,
        lambda: messages.message_create(actor=alice, channel=private, body=f"@[{bob.user_id}]"),
    )
    refused(
        "not_an_organization_member",
        400,
        lambda: messages.message_create(actor=alice, channel=private, body=f"@[{uuid.uuid4()}]"),
    )
    channels.channel_member_add(actor=alice, channel=private, user_id=bob.user_id)
    message = messages.message_create(
        actor=alice, channel=private, body=f"@[{bob.user_id}] and @[{bob.user_id}]"
    )
    assert message.mentions == [bob.user_id]


def test_project_channel_mentions_follow_the_project(in_tenant, tenant, alice, bob, refused):
    project = ProjectFactory(is_private=True)
    ProjectMember.objects.create(project=project, user_id=alice.user_id)
    channel = ChannelFactory(kind="project", project=project)
    refused(
        "user_cannot_see_channel",
        400,
        lambda: messages.message_create(actor=alice, channel=channel, body=f"@[{bob.user_id}]"),
    )
    manager = member(tenant, "manager")  # managers see every project
    message = messages.message_create(actor=alice, channel=channel, body=f"@[{manager.user_id}]")
    assert message.mentions == [manager.user_id]


def test_only_the_author_edits(in_tenant, tenant, alice, refused):
    channel = ChannelFactory()
    message = messages.message_create(actor=alice, channel=channel, body="v1")
    messages.message_update(actor=alice, message=message, body="v2")
    message.refresh_from_db()
    assert message.body == "v2" and message.edited_at is not None

    for role in ("member", "owner"):
        refused(
            "not_author",
            403,
            lambda r=role: messages.message_update(
                actor=member(tenant, r), message=message, body="hijack"
            ),
        )
    refused("invalid", 400, lambda: messages.message_update(actor=alice, message=message, body=""))


def test_delete_by_the_author_or_a_moderator(in_tenant, tenant, alice, bob, refused):
    channel = ChannelFactory()
    root = messages.message_create(actor=alice, channel=channel, body="root")
    reply = messages.message_create(actor=alice, channel=channel, body="re", parent_id=root.pk)

    refused("not_author", 403, lambda: messages.message_delete(actor=bob, message=reply))
    refused(
        "not_author",
        403,
        lambda: messages.message_delete(actor=member(tenant, "manager"), message=reply),
    )

    messages.message_delete(actor=alice, message=reply)
    root.refresh_from_db()
    assert root.reply_count == 0
    assert Message.all_objects.get(pk=reply.pk).deleted_at is not None

    messages.message_delete(actor=member(tenant, "admin"), message=root)  # moderation
    assert Message.objects.filter(channel=channel).count() == 0


def test_an_author_who_became_a_viewer_cannot_delete(in_tenant, tenant, alice, refused):
    message = messages.message_create(actor=alice, channel=ChannelFactory(), body="mine")
    Membership.objects.filter(pk=alice.pk).update(role="viewer")
    alice.refresh_from_db()
    refused("role_required", 403, lambda: messages.message_delete(actor=alice, message=message))


# --- reactions ------------------------------------------------------------------------


def test_reactions_are_unique_per_user_and_emoji(in_tenant, alice, bob, refused):
    message = messages.message_create(actor=alice, channel=ChannelFactory(), body="hi")
    reaction, created = messages.reaction_add(actor=bob, message=message, emoji=" :tada: ")
    assert (reaction.emoji, reaction.user_id, created) == (":tada:", bob.user_id, True)
    again, created = messages.reaction_add(actor=bob, message=message, emoji=":tada:")
    assert (again.pk, created) == (reaction.pk, False)
    messages.reaction_add(actor=alice, message=message, emoji="👍")
    assert Reaction.objects.count() == 2

    for emoji in ("", "word", "x" * 65):
        refused(
            "invalid",
            400,
            lambda e=emoji: messages.reaction_add(actor=bob, message=message, emoji=e),
        )


def test_reactions_are_taken_back_by_their_user(in_tenant, tenant, alice, bob, refused):
    message = messages.message_create(actor=alice, channel=ChannelFactory(), body="hi")
    messages.reaction_add(actor=bob, message=message, emoji=":tada:")

    before = _state()
    with pytest.raises(Http404):
        messages.reaction_remove(actor=alice, message=message, emoji=":tada:")  # not hers
    assert _state() == before
    refused(
        "role_required",
        403,
        lambda: messages.reaction_add(actor=member(tenant, "viewer"), message=message, emoji="👍"),
    )

    messages.reaction_remove(actor=bob, message=message, emoji=":tada:")
    assert Reaction.objects.count() == 0


# --- read markers ---------------------------------------------------------------------


def test_read_markers_only_move_forward(in_tenant, tenant, alice, refused, emitted):
    channel = ChannelFactory()
    first = messages.message_create(actor=alice, channel=channel, body="1")
    second = messages.message_create(actor=alice, channel=channel, body="2")
    viewer = member(tenant, "viewer")  # reading is what viewers do

    marker = messages.channel_mark_read(actor=viewer, channel=channel, message_id=second.pk)
    assert (marker.last_read_message_id, marker.last_read_at) == (second.pk, second.created_at)

    before = _state()
    with emitted() as events:
        marker = messages.channel_mark_read(actor=viewer, channel=channel, message_id=first.pk)
    assert marker.last_read_message_id == second.pk
    assert (_state(), events) == (before, [])

    elsewhere = MessageFactory(channel=ChannelFactory(), author_id=alice.user_id)
    for message_id in (elsewhere.pk, uuid.uuid4()):
        error = refused(
            "does_not_exist",
            400,
            lambda m=message_id: messages.channel_mark_read(
                actor=viewer, channel=channel, message_id=m
            ),
        )
        assert list(error.extra["fields"]) == ["message"]


def test_a_member_row_is_created_by_the_first_read(in_tenant, alice, bob):
    channel = ChannelFactory()
    message = messages.message_create(actor=alice, channel=channel, body="hi")
    assert not ChannelMember.objects.filter(channel=channel, user_id=bob.user_id).exists()
    messages.channel_mark_read(actor=bob, channel=channel, message_id=message.pk)
    assert ChannelMember.objects.filter(
        channel=channel, user_id=bob.user_id, last_read_message=message
    ).exists()
