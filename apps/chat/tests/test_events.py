"""Every chat event type, from the action that emits it: type, op, exact data
and audience (``None``: the whole organization; else the listed user ids).

Events leave through ``send_event_on_commit`` when the transaction commits:
``emitted()`` runs the action's on-commit callbacks and records what was
dispatched to the channel layer. ``chat.channel`` also goes over real sockets
(Redis channel layer) at the end; the other types are covered that way by
tests/test_realtime_chat.py, and ``chat.typing`` (sent by the socket, not a
service) there too.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django_tenants.utils import tenant_context
from rest_framework import serializers

from apps.chat import selectors
from apps.chat.api.serializers import MessageSerializer
from apps.chat.models import Channel, Message
from apps.chat.services import channels, messages
from apps.organizations.models import Membership
from apps.projects.models import ProjectMember
from apps.projects.tests.factories import ProjectFactory
from apps.websocket_server.testing import ACME, GLOBEX, cookie_for, run_with_sockets

from .conftest import member
from .factories import ChannelFactory

pytestmark = pytest.mark.django_db


def _ids(*memberships: Membership) -> list[str]:
    return sorted(str(m.user_id) for m in memberships)


def _iso(value: Any) -> str:
    return serializers.DateTimeField().to_representation(value)


def _channel(channel: Channel) -> dict[str, Any]:
    channel.refresh_from_db()
    return {
        "id": str(channel.pk),
        "name": channel.name,
        "topic": channel.topic,
        "kind": channel.kind,
        "project": str(channel.project_id) if channel.project_id else None,
    }


def _message(message: Message) -> dict[str, Any]:
    """The message as the API shows it now (an event carries the same)."""
    fresh = selectors.message_with_reactions(message_id=message.pk)
    return json.loads(json.dumps(MessageSerializer(fresh).data))


# --- chat.channel ---------------------------------------------------------------------


def test_channel_created_public_goes_to_the_organization(in_tenant, alice, record):
    channel, events = record(
        lambda: channels.channel_create(actor=alice, name="general", kind="public", topic="t")
    )
    assert events == [("chat.channel", "created", _channel(channel), None)]


def test_channel_created_private_goes_to_its_members(in_tenant, alice, bob, record):
    channel, events = record(
        lambda: channels.channel_create(
            actor=alice, name="secret", kind="private", members=[bob.user_id]
        )
    )
    assert events == [("chat.channel", "created", _channel(channel), _ids(alice, bob))]


def test_channel_created_for_a_private_project_goes_to_its_members_and_managers(
    in_tenant, tenant, alice, bob, record
):
    project = ProjectFactory(is_private=True)
    ProjectMember.objects.create(project=project, user_id=alice.user_id)
    member(tenant, "manager")
    channel, events = record(
        lambda: channels.channel_create(
            actor=alice, name="p", kind="project", project_id=project.pk
        )
    )
    managers = Membership.objects.filter(
        organization=tenant, status="active", role__in=["manager", "admin", "owner"]
    )
    assert events == [
        ("chat.channel", "created", _channel(channel), _ids(alice, *managers)),
    ]
    assert str(bob.user_id) not in events[0][3]


def test_direct_channel_created_goes_to_the_two_people_once(in_tenant, alice, bob, record):
    (channel, _), events = record(lambda: channels.direct_open(actor=alice, user_id=bob.user_id))
    data = {"id": str(channel.pk), "name": "", "topic": "", "kind": "direct", "project": None}
    assert events == [("chat.channel", "created", data, _ids(alice, bob))]
    _, again = record(lambda: channels.direct_open(actor=bob, user_id=alice.user_id))
    assert again == []


def test_channel_updated(in_tenant, alice, bob, record):
    channel = channels.channel_create(
        actor=alice, name="secret", kind="private", members=[bob.user_id]
    )
    _, events = record(
        lambda: channels.channel_update(actor=alice, channel=channel, name="plans", topic="q3")
    )
    data = {**_channel(channel), "name": "plans", "topic": "q3"}
    assert events == [("chat.channel", "updated", data, _ids(alice, bob))]


def test_channel_member_added_reaches_the_new_member_too(in_tenant, tenant, alice, bob, record):
    channel = channels.channel_create(actor=alice, name="secret", kind="private")
    _, events = record(
        lambda: channels.channel_member_add(actor=alice, channel=channel, user_id=bob.user_id)
    )
    data = {**_channel(channel), "user": str(bob.user_id)}
    assert events == [("chat.channel", "member_added", data, _ids(alice, bob))]
    _, again = record(
        lambda: channels.channel_member_add(actor=alice, channel=channel, user_id=bob.user_id)
    )
    assert again == []


# --- chat.message and chat.mention ----------------------------------------------------


def test_message_created_with_its_mentions(in_tenant, alice, bob, record):
    channel = channels.channel_create(
        actor=alice, name="secret", kind="private", members=[bob.user_id]
    )
    body = f"hi @[{bob.user_id}] and @[{alice.user_id}]"
    message, events = record(
        lambda: messages.message_create(actor=alice, channel=channel, body=body)
    )
    mention = {"message": str(message.pk), "channel": str(channel.pk), "author": str(alice.user_id)}
    assert events == [
        ("chat.message", "created", _message(message), _ids(alice, bob)),
        ("chat.mention", "created", mention, _ids(bob)),  # not the author
    ]
    assert events[0][2]["mentions"] == [str(bob.user_id), str(alice.user_id)]
    assert events[0][2]["html"].count('class="mention"') == 2


def test_reply_created_carries_its_parent(in_tenant, alice, record):
    channel = ChannelFactory()
    root = messages.message_create(actor=alice, channel=channel, body="root")
    reply, events = record(
        lambda: messages.message_create(actor=alice, channel=channel, body="re", parent_id=root.pk)
    )
    assert events == [("chat.message", "created", _message(reply), None)]
    assert events[0][2]["parent"] == str(root.pk)


def test_message_updated_notifies_only_the_newly_mentioned(in_tenant, tenant, alice, bob, record):
    carol = member(tenant)
    channel = ChannelFactory()
    message = messages.message_create(actor=alice, channel=channel, body=f"@[{bob.user_id}]")
    messages.reaction_add(actor=bob, message=message, emoji=":tada:")

    body = f"@[{bob.user_id}] @[{carol.user_id}]"
    _, events = record(lambda: messages.message_update(actor=alice, message=message, body=body))
    [(kind, op, data, audience), mention] = events
    assert (kind, op, audience) == ("chat.message", "updated", None)
    assert data == _message(message)
    assert data["reactions"] == [{"emoji": ":tada:", "count": 1, "users": [str(bob.user_id)]}]
    assert data["edited_at"] is not None and data["body"] == body
    assert mention == (
        "chat.mention",
        "created",
        {"message": str(message.pk), "channel": str(channel.pk), "author": str(alice.user_id)},
        _ids(carol),
    )


def test_message_deleted_is_a_tombstone(in_tenant, alice, bob, record):
    channel = channels.channel_create(
        actor=alice, name="secret", kind="private", members=[bob.user_id]
    )
    message = messages.message_create(actor=alice, channel=channel, body="oops")
    _, events = record(lambda: messages.message_delete(actor=alice, message=message))
    tombstone = _message(message)
    assert (tombstone["deleted"], tombstone["body"], tombstone["html"]) == (True, "", "")
    assert events == [("chat.message", "deleted", tombstone, _ids(alice, bob))]


# --- chat.reaction and chat.read ------------------------------------------------------


def test_reaction_added_and_removed(in_tenant, alice, bob, record):
    channel = ChannelFactory()
    message = messages.message_create(actor=alice, channel=channel, body="hi")
    data = {
        "message": str(message.pk),
        "channel": str(channel.pk),
        "user": str(bob.user_id),
        "emoji": "🎉",
    }
    _, added = record(lambda: messages.reaction_add(actor=bob, message=message, emoji="🎉"))
    _, twice = record(lambda: messages.reaction_add(actor=bob, message=message, emoji="🎉"))
    _, removed = record(lambda: messages.reaction_remove(actor=bob, message=message, emoji="🎉"))
    assert added == [("chat.reaction", "added", data, None)]
    assert twice == []
    assert removed == [("chat.reaction", "removed", data, None)]


def test_read_goes_to_the_readers_own_sockets_and_only_forward(in_tenant, alice, bob, record):
    channel = ChannelFactory()
    first = messages.message_create(actor=alice, channel=channel, body="1")
    second = messages.message_create(actor=alice, channel=channel, body="2")
    _, events = record(
        lambda: messages.channel_mark_read(actor=bob, channel=channel, message_id=second.pk)
    )
    data = {
        "channel": str(channel.pk),
        "message": str(second.pk),
        "last_read_at": _iso(second.created_at),
    }
    assert events == [("chat.read", "updated", data, _ids(bob))]
    _, backwards = record(
        lambda: messages.channel_mark_read(actor=bob, channel=channel, message_id=first.pk)
    )
    assert backwards == []


# --- chat.channel over real sockets ---------------------------------------------------


@pytest.mark.usefixtures("keep_test_transaction")
def test_channel_events_reach_the_channels_audience_over_sockets(tenant, other_tenant, commit):
    people = {name: member(tenant) for name in ("alice", "bob", "carol", "dave")}
    people["globex"] = member(other_tenant)
    hosts = {name: GLOBEX if name == "globex" else ACME for name in people}
    sockets = {name: (hosts[name], cookie_for(m.user, hosts[name])) for name, m in people.items()}
    alice, bob, carol = people["alice"], people["bob"], people["carol"]

    def act() -> Channel:
        with commit(), tenant_context(tenant):
            channel = channels.channel_create(
                actor=alice, name="plans", kind="private", members=[bob.user_id]
            )
            channels.channel_member_add(actor=bob, channel=channel, user_id=carol.user_id)
            channels.channel_update(actor=alice, channel=channel, topic="q3")
            return channel

    channel, got = run_with_sockets(sockets, act)
    data = {"id": str(channel.pk), "name": "plans", "topic": "", "kind": "private", "project": None}
    created = {"type": "chat.channel", "op": "created", "data": data}
    added = {
        "type": "chat.channel",
        "op": "member_added",
        "data": {**data, "user": str(carol.user_id)},
    }
    updated = {"type": "chat.channel", "op": "updated", "data": {**data, "topic": "q3"}}
    assert got == {
        "alice": [created, added, updated],
        "bob": [created, added, updated],
        "carol": [added, updated],
        "dave": [],
        "globex": [],
    }
