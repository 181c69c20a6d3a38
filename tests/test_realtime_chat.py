"""Chat events over real sockets (real Redis channel layer): each event type
is produced by its real action and the test asserts exactly who received what.

Actions run on the test's database connection (``database_sync_to_async``
runs on the test thread under ``async_to_sync``), wrapped in ``commit()`` so
their on-commit events leave as after a real commit.
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django_tenants.utils import tenant_context
from rest_framework import serializers

from apps.chat.tests.factories import ChannelFactory, ChannelMemberFactory, MessageFactory
from apps.common.testing import expect
from apps.organizations.tests.factories import MembershipFactory, client_as
from apps.projects.models import ProjectMember
from apps.projects.tests.factories import ProjectFactory
from apps.websocket_server.testing import (
    ACME,
    GLOBEX,
    close_all,
    cookie_for,
    drain_each,
    open_sockets,
    receive,
    run_with_sockets,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keep_test_transaction")]


@pytest.fixture
def people(tenant: Any, other_tenant: Any) -> dict[str, Any]:
    """alice and bob (members), carol (member, outside private channels),
    and globex: a member of globex only."""
    out = {name: MembershipFactory(organization=tenant) for name in ("alice", "bob", "carol")}
    out["globex"] = MembershipFactory(organization=other_tenant)
    return out


def sockets_of(people: dict[str, Any], *names: str) -> dict[str, tuple[str, str]]:
    out = {}
    for name in names:
        host = GLOBEX if name == "globex" else ACME
        out[name] = (host, cookie_for(people[name].user, host))
    return out


def test_public_message_created_reaches_the_organization_only(tenant, people, commit):
    with tenant_context(tenant):
        channel = ChannelFactory(name="general")

    def post() -> dict:
        with commit(), tenant_context(tenant):
            return expect(
                client_as(tenant, people["alice"]).post(
                    f"/api/v1/chat/channels/{channel.pk}/messages/", {"body": "**hi**"}
                ),
                201,
            )

    message, got = run_with_sockets(sockets_of(people, "alice", "bob", "carol", "globex"), post)
    expected = {"type": "chat.message", "op": "created", "data": message}
    assert got == {"alice": [expected], "bob": [expected], "carol": [expected], "globex": []}
    assert message["html"] == "<p><strong>hi</strong></p>\n"


@pytest.mark.parametrize("threshold", [48, 1], ids=["per-user-groups", "org-group-filtered"])
def test_private_message_update_delete_reach_members_only(
    tenant, people, commit, monkeypatch, threshold
):
    monkeypatch.setattr("apps.websocket_server.events.ORG_GROUP_AUDIENCE_THRESHOLD", threshold)
    with tenant_context(tenant):
        channel = ChannelFactory(kind="private", name="secret")
        for name in ("alice", "bob"):
            ChannelMemberFactory(channel=channel, user_id=people[name].user_id)
        message = MessageFactory(channel=channel, author_id=people["alice"].user_id, body="v1")

    def edit_then_delete() -> None:
        with commit(), tenant_context(tenant):
            client = client_as(tenant, people["alice"])
            expect(client.patch(f"/api/v1/chat/messages/{message.pk}/", {"body": "v2"}), 200)
            expect(client.delete(f"/api/v1/chat/messages/{message.pk}/"), 204)

    _, got = run_with_sockets(
        sockets_of(people, "alice", "bob", "carol", "globex"), edit_then_delete
    )
    assert got["carol"] == [] and got["globex"] == []
    assert got["alice"] == got["bob"]
    [updated, deleted] = got["bob"]
    assert (updated["type"], updated["op"]) == ("chat.message", "updated")
    assert updated["data"]["body"] == "v2" and updated["data"]["edited_at"]
    assert (deleted["type"], deleted["op"]) == ("chat.message", "deleted")
    assert deleted["data"]["id"] == str(message.pk)
    assert deleted["data"]["deleted"] is True and deleted["data"]["body"] == ""


def test_reaction_and_mention_events(tenant, people, commit):
    with tenant_context(tenant):
        channel = ChannelFactory(kind="private", name="secret")
        for name in ("alice", "bob"):
            ChannelMemberFactory(channel=channel, user_id=people[name].user_id)
        message = MessageFactory(channel=channel, author_id=people["alice"].user_id)
    bob_id = str(people["bob"].user_id)

    def react_and_mention() -> dict:
        with commit(), tenant_context(tenant):
            client = client_as(tenant, people["alice"])
            url = f"/api/v1/chat/messages/{message.pk}/reactions/"
            expect(client.post(url, {"emoji": "🎉"}), 201)
            expect(client.delete(f"{url}🎉/"), 204)
            return expect(
                client.post(
                    f"/api/v1/chat/channels/{channel.pk}/messages/", {"body": f"@[{bob_id}] look"}
                ),
                201,
            )

    posted, got = run_with_sockets(sockets_of(people, "alice", "bob", "carol"), react_and_mention)
    reaction = {
        "message": str(message.pk),
        "channel": str(channel.pk),
        "user": str(people["alice"].user_id),
        "emoji": "🎉",
    }
    common = [
        {"type": "chat.reaction", "op": "added", "data": reaction},
        {"type": "chat.reaction", "op": "removed", "data": reaction},
        {"type": "chat.message", "op": "created", "data": posted},
    ]
    mention = {
        "type": "chat.mention",
        "op": "created",
        "data": {
            "message": posted["id"],
            "channel": str(channel.pk),
            "author": str(people["alice"].user_id),
        },
    }
    assert got == {"alice": common, "bob": [*common, mention], "carol": []}


def test_read_marker_reaches_the_readers_own_sockets_only(tenant, people, commit):
    with tenant_context(tenant):
        channel = ChannelFactory(name="general")
        message = MessageFactory(channel=channel, author_id=people["alice"].user_id)
    sockets = sockets_of(people, "bob", "alice")
    sockets["bob2"] = sockets["bob"]  # bob's second device

    def read() -> None:
        with commit(), tenant_context(tenant):
            expect(
                client_as(tenant, people["bob"]).post(
                    f"/api/v1/chat/channels/{channel.pk}/read/", {"message": str(message.pk)}
                ),
                200,
            )

    _, got = run_with_sockets(sockets, read)
    event = {
        "type": "chat.read",
        "op": "updated",
        "data": {
            "channel": str(channel.pk),
            "message": str(message.pk),
            "last_read_at": serializers.DateTimeField().to_representation(message.created_at),
        },
    }
    assert got == {"bob": [event], "bob2": [event], "alice": []}


def test_private_project_channel_events_reach_project_members_and_managers(tenant, commit):
    insider, outsider = (
        MembershipFactory(organization=tenant),
        MembershipFactory(organization=tenant),
    )
    manager = MembershipFactory(organization=tenant, role="manager")
    with tenant_context(tenant):
        project = ProjectFactory(is_private=True)
        ProjectMember.objects.create(project=project, user_id=insider.user_id)
        channel = ChannelFactory(kind="project", project=project, name="p")

    def post() -> dict:
        with commit(), tenant_context(tenant):
            return expect(
                client_as(tenant, insider).post(
                    f"/api/v1/chat/channels/{channel.pk}/messages/", {"body": "hi"}
                ),
                201,
            )

    people = {"insider": insider, "outsider": outsider, "manager": manager}
    message, got = run_with_sockets(sockets_of(people, "insider", "outsider", "manager"), post)
    event = {"type": "chat.message", "op": "created", "data": message}
    assert got == {"insider": [event], "outsider": [], "manager": [event]}


# --- typing ---------------------------------------------------------------------------


def test_typing_reaches_other_members_not_the_typist_and_is_throttled(tenant, people):
    viewer = MembershipFactory(organization=tenant, role="viewer")
    people["viewer"] = viewer
    with tenant_context(tenant):
        private = ChannelFactory(kind="private", name="secret")
        for name in ("alice", "bob", "viewer"):
            ChannelMemberFactory(channel=private, user_id=people[name].user_id)
        hidden = ChannelFactory(kind="private", name="hidden")
    sockets = sockets_of(people, "alice", "bob", "carol", "viewer")
    sockets["alice2"] = sockets["alice"]

    @async_to_sync
    async def scenario() -> tuple[dict, list]:
        communicators = await open_sockets(sockets)
        try:
            alice = communicators["alice"]
            await alice.send_json_to({"type": "chat.typing", "channel": str(private.pk)})
            await alice.send_json_to({"type": "chat.typing", "channel": str(private.pk)})
            await alice.send_json_to({"type": "chat.typing", "channel": str(hidden.pk)})
            await alice.send_json_to({"type": "chat.typing", "channel": "nope"})
            viewer = communicators["viewer"]
            await viewer.send_json_to({"type": "chat.typing", "channel": str(private.pk)})
            errors = [await receive(alice), await receive(alice), await receive(viewer)]
            return await drain_each(communicators), errors
        finally:
            await close_all(communicators)

    got, errors = scenario()
    typing = {
        "type": "chat.typing",
        "op": "started",
        "data": {"channel": str(private.pk), "user": str(people["alice"].user_id)},
    }
    # once (the second is inside the throttle window), never to the typist's
    # sockets, never to someone outside the private channel
    assert got == {
        "alice": [],
        "alice2": [],
        "bob": [typing],
        "carol": [],
        "viewer": [typing],
    }
    assert [e["code"] for e in errors] == ["unknown_channel", "invalid_message", "unknown_channel"]
