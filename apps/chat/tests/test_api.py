"""Chat HTTP API: channels and visibility, direct channels, messages (markdown,
threads, edit/delete), mentions, reactions, read markers and unread counts,
cursor history with ``since`` and ``search``, roles, isolation and events.

Every test runs inside ``acme``'s schema (``in_tenant``).
"""

from __future__ import annotations

import datetime
import itertools
import uuid
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.chat.models import Channel, ChannelMember, Message, Reaction
from apps.common.testing import expect
from apps.organizations.tests.factories import MembershipFactory, client_as
from apps.projects.models import ProjectMember
from apps.projects.tests.factories import ProjectFactory

from .factories import ChannelFactory, ChannelMemberFactory, MessageFactory

pytestmark = pytest.mark.django_db

ROLES = ["viewer", "member", "manager", "admin", "owner"]


def member(tenant: Any, role: str = "member") -> Any:
    return MembershipFactory(organization=tenant, role=role)


def _post_message(client: Any, channel: Any, body: str, **extra: Any) -> dict:
    return expect(
        client.post(
            f"/api/v1/chat/channels/{channel.pk}/messages/", {"body": body, **extra}, format="json"
        ),
        201,
    )


# --- roles ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status", "code"),
    [(None, 401, "not_authenticated"), ("outsider", 403, "not_a_member")]
    + [("viewer", 403, "role_required")]
    + [(r, 201, None) for r in ROLES[1:]],
)
def test_posting_matrix_viewers_read_only(in_tenant, tenant, role, status, code):
    channel = ChannelFactory(name="general")
    client = client_as(tenant, role)
    response = client.post(
        f"/api/v1/chat/channels/{channel.pk}/messages/", {"body": "hi"}, format="json"
    )
    expect(response, status, code)
    assert Message.objects.count() == (1 if status == 201 else 0)
    if role not in (None, "outsider"):
        listing = expect(client.get(f"/api/v1/chat/channels/{channel.pk}/messages/"), 200)
        assert len(listing["results"]) == (1 if status == 201 else 0)


def test_viewer_cannot_create_channels_or_react_but_marks_read(in_tenant, tenant):
    channel = ChannelFactory(name="general")
    message = MessageFactory(channel=channel, author_id=member(tenant).user_id)
    viewer = client_as(tenant, "viewer")
    expect(
        viewer.post("/api/v1/chat/channels/", {"name": "x", "kind": "public"}, format="json"),
        403,
        "role_required",
    )
    expect(
        viewer.post(f"/api/v1/chat/messages/{message.pk}/reactions/", {"emoji": "👍"}),
        403,
        "role_required",
    )
    body = expect(
        viewer.post(f"/api/v1/chat/channels/{channel.pk}/read/", {"message": str(message.pk)}),
        200,
    )
    assert body["message"] == str(message.pk)
    assert not Channel.objects.filter(name="x").exists()
    assert not Reaction.objects.exists()


# --- channels and visibility ----------------------------------------------------------


def test_create_public_and_private_channels(in_tenant, tenant):
    alice, bob, carol = member(tenant), member(tenant), member(tenant)
    client = client_as(tenant, alice)
    public = expect(
        client.post("/api/v1/chat/channels/", {"name": "general", "kind": "public"}), 201
    )
    assert public["kind"] == "public" and public["unread_count"] == 0 and public["is_member"]
    private = expect(
        client.post(
            "/api/v1/chat/channels/",
            {"name": "secret", "kind": "private", "members": [str(bob.user_id)]},
            format="json",
        ),
        201,
    )
    assert set(
        ChannelMember.objects.filter(channel_id=private["id"]).values_list("user_id", flat=True)
    ) == {alice.user_id, bob.user_id}

    def names(who: Any) -> list[str]:
        rows = client_as(tenant, who).get("/api/v1/chat/channels/").json()["results"]
        return [c["name"] for c in rows]

    assert names(bob) == ["general", "secret"]
    assert names(carol) == ["general"]
    expect(client_as(tenant, carol).get(f"/api/v1/chat/channels/{private['id']}/"), 404)
    expect(client_as(tenant, carol).get(f"/api/v1/chat/channels/{private['id']}/messages/"), 404)

    # a private channel's member adds carol; then carol sees it
    expect(
        client_as(tenant, bob).post(
            f"/api/v1/chat/channels/{private['id']}/members/", {"user": str(carol.user_id)}
        ),
        201,
    )
    assert names(carol) == ["general", "secret"]


def test_duplicate_name_is_409_and_bad_input_400(in_tenant, tenant):
    client = client_as(tenant, "member")
    expect(client.post("/api/v1/chat/channels/", {"name": "General", "kind": "public"}), 201)
    expect(
        client.post("/api/v1/chat/channels/", {"name": "general", "kind": "private"}),
        409,
        "channel_name_taken",
    )
    body = expect(client.post("/api/v1/chat/channels/", {"name": "x", "kind": "direct"}), 400)
    assert "kind" in body["fields"]
    body = expect(client.post("/api/v1/chat/channels/", {"name": "x", "kind": "project"}), 400)
    assert "project" in body["fields"]
    body = expect(
        client.post(
            "/api/v1/chat/channels/",
            {"name": "x", "kind": "private", "members": [str(uuid.uuid4())]},
            format="json",
        ),
        400,
        "not_an_organization_member",
    )
    assert Channel.objects.count() == 1


def test_project_channel_follows_project_visibility(in_tenant, tenant):
    manager, insider, outsider = member(tenant, "manager"), member(tenant), member(tenant)
    project = ProjectFactory(name="Secret project", is_private=True)
    ProjectMember.objects.create(project=project, user_id=insider.user_id)
    channel = expect(
        client_as(tenant, manager).post(
            "/api/v1/chat/channels/",
            {"name": "proj", "kind": "project", "project": str(project.pk)},
        ),
        201,
    )
    expect(client_as(tenant, insider).get(f"/api/v1/chat/channels/{channel['id']}/"), 200)
    expect(client_as(tenant, outsider).get(f"/api/v1/chat/channels/{channel['id']}/"), 404)
    # the outsider cannot create one for a project they cannot see either
    expect(
        client_as(tenant, outsider).post(
            "/api/v1/chat/channels/",
            {"name": "proj2", "kind": "project", "project": str(project.pk)},
        ),
        400,
    )
    expect(
        client_as(tenant, manager).post(
            "/api/v1/chat/channels/",
            {"name": "proj3", "kind": "project", "project": str(project.pk)},
        ),
        409,
        "project_channel_exists",
    )
    # members follow the project, not this endpoint
    expect(
        client_as(tenant, manager).post(
            f"/api/v1/chat/channels/{channel['id']}/members/", {"user": str(outsider.user_id)}
        ),
        409,
        "channel_members_fixed",
    )
    # a soft-deleted project hides its channel
    project.soft_delete()
    expect(client_as(tenant, insider).get(f"/api/v1/chat/channels/{channel['id']}/"), 404)


def test_rename_by_creator_or_admin_only(in_tenant, tenant):
    creator, other = member(tenant), member(tenant)
    channel = ChannelFactory(name="old", created_by_id=creator.user_id)
    url = f"/api/v1/chat/channels/{channel.pk}/"
    expect(client_as(tenant, other).patch(url, {"name": "mine"}), 403, "role_required")
    assert expect(client_as(tenant, creator).patch(url, {"name": "new"}), 200)["name"] == "new"
    body = expect(client_as(tenant, "admin").patch(url, {"topic": "Topic"}), 200)
    assert (body["name"], body["topic"]) == ("new", "Topic")


def test_direct_channel_is_idempotent_and_private(in_tenant, tenant):
    alice, bob, carol = member(tenant), member(tenant), member(tenant)
    first = expect(
        client_as(tenant, alice).post("/api/v1/chat/direct/", {"user": str(bob.user_id)}), 201
    )
    again = expect(
        client_as(tenant, bob).post("/api/v1/chat/direct/", {"user": str(alice.user_id)}), 200
    )
    assert first["id"] == again["id"]
    assert first["kind"] == "direct"
    assert first["direct_user"] == str(bob.user_id)
    assert again["direct_user"] == str(alice.user_id)
    assert Channel.objects.filter(kind="direct").count() == 1
    expect(client_as(tenant, carol).get(f"/api/v1/chat/channels/{first['id']}/"), 404)
    expect(client_as(tenant, alice).post("/api/v1/chat/direct/", {"user": str(alice.user_id)}), 400)
    expect(
        client_as(tenant, alice).post("/api/v1/chat/direct/", {"user": str(uuid.uuid4())}),
        400,
        "not_an_organization_member",
    )


# --- messages -------------------------------------------------------------------------


def test_markdown_is_rendered_and_sanitised(in_tenant, tenant):
    channel = ChannelFactory()
    client = client_as(tenant, "member")
    body = "**bold** <script>alert(1)</script> [x](javascript:alert(1)) [ok](https://e.x)"
    message = _post_message(client, channel, body)
    assert message["body"] == body  # stored raw
    assert "<strong>bold</strong>" in message["html"]
    assert "<script>" not in message["html"]
    assert "javascript:" not in message["html"].replace("[x](javascript:alert(1))", "")
    assert 'href="https://e.x"' in message["html"]
    assert 'rel="noopener noreferrer"' in message["html"]


def test_threads_count_replies(in_tenant, tenant):
    channel = ChannelFactory()
    client = client_as(tenant, "member")
    root = _post_message(client, channel, "root")
    reply = _post_message(client, channel, "reply", parent=root["id"])
    _post_message(client, channel, "reply 2", parent=root["id"])
    # replies to replies are refused: threads are one level deep
    expect(
        client.post(
            f"/api/v1/chat/channels/{channel.pk}/messages/",
            {"body": "x", "parent": reply["id"]},
        ),
        400,
        "invalid_parent",
    )
    # an id that names no message of this channel is unknown, not a bad parent
    for unknown in (
        uuid.uuid4(),
        MessageFactory(channel=ChannelFactory(), author_id=uuid.uuid4()).pk,
    ):
        body = expect(
            client.post(
                f"/api/v1/chat/channels/{channel.pk}/messages/",
                {"body": "x", "parent": str(unknown)},
            ),
            400,
            "does_not_exist",
        )
        assert list(body["fields"]) == ["parent"]
    history = expect(client.get(f"/api/v1/chat/channels/{channel.pk}/messages/"), 200)
    assert [m["body"] for m in history["results"]] == ["root"]
    assert history["results"][0]["reply_count"] == 2
    thread = expect(
        client.get(f"/api/v1/chat/channels/{channel.pk}/messages/", {"parent": root["id"]}), 200
    )
    assert [m["body"] for m in thread["results"]] == ["reply 2", "reply"]
    expect(client.delete(f"/api/v1/chat/messages/{reply['id']}/"), 204)
    assert Message.objects.get(pk=root["id"]).reply_count == 1


def test_edit_by_author_only_delete_by_author_or_admin(in_tenant, tenant):
    channel = ChannelFactory()
    author, other = member(tenant), member(tenant)
    message = _post_message(client_as(tenant, author), channel, "first")
    url = f"/api/v1/chat/messages/{message['id']}/"
    expect(client_as(tenant, other).patch(url, {"body": "hacked"}), 403, "not_author")
    expect(client_as(tenant, "admin").patch(url, {"body": "hacked"}), 403, "not_author")
    edited = expect(client_as(tenant, author).patch(url, {"body": "second"}), 200)
    assert edited["body"] == "second" and edited["edited_at"] is not None
    expect(client_as(tenant, other).delete(url), 403, "not_author")
    assert Message.objects.filter(pk=message["id"]).exists()
    expect(client_as(tenant, "admin").delete(url), 204)
    assert not Message.objects.filter(pk=message["id"]).exists()
    assert Message.all_objects.get(pk=message["id"]).deleted_at is not None
    expect(client_as(tenant, author).get(url), 404)


def test_empty_or_oversized_body_is_400(in_tenant, tenant):
    channel = ChannelFactory()
    client = client_as(tenant, "member")
    url = f"/api/v1/chat/channels/{channel.pk}/messages/"
    assert "body" in expect(client.post(url, {"body": "   "}), 400)["fields"]
    assert "body" in expect(client.post(url, {"body": "x" * 10_001}), 400)["fields"]
    assert "parent" in expect(client.post(url, {"body": "x", "parent": "nope"}), 400)["fields"]
    assert Message.objects.count() == 0


def test_mentions_are_checked_and_notified(in_tenant, tenant, captured_events, commit):
    alice, bob, carol = member(tenant), member(tenant), member(tenant)
    private = ChannelFactory(kind="private", name="p")
    for who in (alice, bob):
        ChannelMemberFactory(channel=private, user_id=who.user_id)
    client = client_as(tenant, alice)
    url = f"/api/v1/chat/channels/{private.pk}/messages/"
    expect(
        client.post(url, {"body": f"hey @[{carol.user_id}]"}),
        400,
        "user_cannot_see_channel",
    )
    assert not Message.objects.exists()  # rejected mention: nothing written
    with commit():
        message = _post_message(client, private, f"hey @[{bob.user_id}] and @[{alice.user_id}]")
    assert message["mentions"] == [str(bob.user_id), str(alice.user_id)]
    assert f'data-user-id="{bob.user_id}"' in message["html"]
    mentions = [e for e in captured_events if e.type == "chat.mention"]
    assert [(e.op, e.user_ids) for e in mentions] == [("created", (str(bob.user_id),))]
    assert mentions[0].data == {
        "message": message["id"],
        "channel": str(private.pk),
        "author": str(alice.user_id),
    }


# --- reactions ------------------------------------------------------------------------


def test_reactions_add_remove_unique(in_tenant, tenant):
    channel = ChannelFactory()
    alice, bob = member(tenant), member(tenant)
    message = MessageFactory(channel=channel, author_id=alice.user_id)
    url = f"/api/v1/chat/messages/{message.pk}/reactions/"
    expect(client_as(tenant, alice).post(url, {"emoji": "👍"}), 201)
    expect(client_as(tenant, alice).post(url, {"emoji": "👍"}), 200)
    expect(client_as(tenant, bob).post(url, {"emoji": "👍"}), 201)
    expect(client_as(tenant, bob).post(url, {"emoji": ":tada:"}), 201)
    assert "emoji" in expect(client_as(tenant, bob).post(url, {"emoji": "abc"}), 400)["fields"]
    body = expect(client_as(tenant, bob).get(f"/api/v1/chat/messages/{message.pk}/"), 200)
    assert body["reactions"] == [
        {"emoji": "👍", "count": 2, "users": [str(alice.user_id), str(bob.user_id)]},
        {"emoji": ":tada:", "count": 1, "users": [str(bob.user_id)]},
    ]
    expect(client_as(tenant, alice).delete(f"{url}👍/"), 204)
    expect(client_as(tenant, alice).delete(f"{url}👍/"), 404)
    assert Reaction.objects.filter(message=message).count() == 2


# --- read markers and unread counts ---------------------------------------------------


def test_unread_counts_and_markers(in_tenant, tenant):
    alice, bob = member(tenant), member(tenant)
    general = ChannelFactory(name="general")
    quiet = ChannelFactory(name="quiet")
    alice_client, bob_client = client_as(tenant, alice), client_as(tenant, bob)
    messages = [_post_message(alice_client, general, f"m{i}") for i in range(3)]
    _post_message(alice_client, general, "reply", parent=messages[0]["id"])  # not counted

    def unread(client: Any) -> dict[str, int]:
        rows = expect(client.get("/api/v1/chat/channels/"), 200)["results"]
        return {c["name"]: c["unread_count"] for c in rows}

    read_url = f"/api/v1/chat/channels/{general.pk}/read/"
    assert unread(bob_client) == {"general": 3, "quiet": 0}
    assert unread(alice_client) == {"general": 0, "quiet": 0}  # own messages
    expect(
        bob_client.post(read_url, {"message": messages[1]["id"]}),
        200,
    )
    assert unread(bob_client)["general"] == 1
    # never backwards
    expect(
        bob_client.post(read_url, {"message": messages[0]["id"]}),
        200,
    )
    assert unread(bob_client)["general"] == 1
    # a message of another channel is refused
    other = MessageFactory(channel=quiet, author_id=alice.user_id)
    expect(
        bob_client.post(f"/api/v1/chat/channels/{general.pk}/read/", {"message": str(other.pk)}),
        400,
    )


def test_channel_list_query_count_does_not_grow(in_tenant, tenant, django_assert_max_num_queries):
    reader = member(tenant)
    client = client_as(tenant, reader)
    author = member(tenant).user_id

    def add(n: int) -> None:
        for _ in range(n):
            channel = ChannelFactory()
            MessageFactory(channel=channel, author_id=author)
            ChannelMemberFactory(channel=channel, user_id=reader.user_id)

    add(2)
    client.get("/api/v1/chat/channels/")  # warm the host and membership caches
    with CaptureQueriesContext(connection) as small:
        assert len(client.get("/api/v1/chat/channels/").json()["results"]) == 2
    add(20)
    with CaptureQueriesContext(connection) as large:
        rows = client.get("/api/v1/chat/channels/").json()["results"]
    assert len(rows) == 22 and all(r["unread_count"] == 1 for r in rows)
    assert len(large) == len(small)
    with django_assert_max_num_queries(len(small)):
        client.get("/api/v1/chat/channels/")


# --- history: cursor, since, search ---------------------------------------------------


def test_history_is_cursor_paginated_newest_first(in_tenant, tenant):
    channel = ChannelFactory()
    author = member(tenant).user_id
    base = timezone.now() - datetime.timedelta(hours=1)
    for i in range(7):
        MessageFactory(
            channel=channel, author_id=author, body=f"m{i}",
            created_at=base + datetime.timedelta(seconds=i),
        )  # fmt: skip
    client = client_as(tenant, "viewer")
    seen, url = [], f"/api/v1/chat/channels/{channel.pk}/messages/?page_size=3"
    while url:
        page = expect(client.get(url), 200)
        seen += [m["body"] for m in page["results"]]
        url = page["next"]
    assert seen == [f"m{i}" for i in reversed(range(7))]


def test_history_query_count_is_constant(in_tenant, tenant):
    channel = ChannelFactory()
    author = member(tenant)
    client = client_as(tenant, "member")
    url = f"/api/v1/chat/channels/{channel.pk}/messages/"

    def add(n: int) -> None:
        for _ in range(n):
            message = MessageFactory(channel=channel, author_id=author.user_id)
            Reaction.objects.create(message=message, user_id=author.user_id, emoji="👍")

    add(2)
    client.get(url)  # warm the caches
    with CaptureQueriesContext(connection) as small:
        client.get(url)
    add(28)
    with CaptureQueriesContext(connection) as large:
        body = client.get(url).json()
    assert len(body["results"]) == 30 and body["results"][0]["reactions"][0]["count"] == 1
    assert len(large) == len(small)


def test_created_at_follows_the_order_of_posting_even_when_the_clock_goes_back(in_tenant, tenant):
    """A message posted after another never gets an earlier ``created_at``
    (clients page and catch up by it): the clock is read under the channel's
    lock and pushed past the newest message when it is behind."""
    channel = ChannelFactory()
    author = member(tenant)
    client = client_as(tenant, author)
    noon = datetime.datetime(2026, 3, 2, 12, tzinfo=datetime.UTC)
    with time_machine.travel(noon, tick=False):
        first = _post_message(client, channel, "first")
    with time_machine.travel(noon - datetime.timedelta(minutes=5), tick=False):
        second = _post_message(client, channel, "second")
        reply = _post_message(client, channel, "reply", parent=first["id"])
    with (
        time_machine.travel(noon - datetime.timedelta(hours=1), tick=False),
        CaptureQueriesContext(connection) as queries,
    ):
        third = _post_message(client, channel, "third")
    sql = [q["sql"] for q in queries.captured_queries]  # now: the next request resets the log

    assert datetime.datetime.fromisoformat(first["created_at"]) == noon  # a sane clock is kept
    stored = Message.objects.filter(channel=channel).order_by("created_at", "id")
    assert [m.body for m in stored] == ["first", "second", "reply", "third"]
    times = [m.created_at for m in stored]
    assert all(a < b for a, b in itertools.pairwise(times))  # strictly: no ties
    assert times[-1] == noon + datetime.timedelta(microseconds=3)
    # What clients see: history newest first, catch-up after the first message,
    # the author's marker and the channel's last message on the newest one.
    url = f"/api/v1/chat/channels/{channel.pk}/messages/"
    history = expect(client.get(url), 200)["results"]
    assert [m["body"] for m in history] == ["third", "second", "first"]
    caught_up = expect(client.get(url, {"since": first["id"]}), 200)["results"]
    assert {m["id"] for m in caught_up} == {second["id"], reply["id"], third["id"]}
    marker = ChannelMember.objects.get(channel=channel, user_id=author.user_id)
    assert marker.last_read_message_id == uuid.UUID(third["id"])
    channel.refresh_from_db()
    assert channel.last_message_at == times[-1]
    # Posts to one channel queue on its row lock, taken before the channel's
    # messages are read (the newest created_at) or written.
    lock = next(i for i, q in enumerate(sql) if "FOR NO KEY UPDATE" in q)
    assert 'FROM "chat_channel" WHERE "chat_channel"."id" = ' in sql[lock]
    assert lock < next(i for i, q in enumerate(sql) if '"chat_message"' in q)


def test_since_returns_new_changed_and_deleted_messages(in_tenant, tenant):
    channel = ChannelFactory()
    author = member(tenant)
    client = client_as(tenant, author)
    old = _post_message(client, channel, "old")
    doomed = _post_message(client, channel, "doomed")
    marker = timezone.now()
    Message.objects.filter(pk__in=[old["id"], doomed["id"]]).update(
        created_at=marker - datetime.timedelta(minutes=5),
        updated_at=marker - datetime.timedelta(minutes=5),
    )
    expect(client.patch(f"/api/v1/chat/messages/{old['id']}/", {"body": "old, edited"}), 200)
    expect(client.delete(f"/api/v1/chat/messages/{doomed['id']}/"), 204)
    new = _post_message(client, channel, "new")
    url = f"/api/v1/chat/channels/{channel.pk}/messages/"
    page = expect(client.get(url, {"since": marker.isoformat()}), 200)
    by_id = {m["id"]: m for m in page["results"]}
    assert set(by_id) == {old["id"], doomed["id"], new["id"]}
    assert by_id[old["id"]]["body"] == "old, edited"
    assert by_id[doomed["id"]]["deleted"] is True and by_id[doomed["id"]]["body"] == ""
    # a message id works as the anchor too
    page = expect(client.get(url, {"since": new["id"]}), 200)
    assert page["results"] == []
    assert "since" in expect(client.get(url, {"since": "yesterday"}), 400)["fields"]
    assert "since" in expect(client.get(url, {"since": "2026-01-01T00:00:00"}), 400)["fields"]


def test_search_within_a_channel(in_tenant, tenant):
    general, other = ChannelFactory(), ChannelFactory()
    author = member(tenant).user_id
    MessageFactory(channel=general, author_id=author, body="Deploy on Friday")
    MessageFactory(channel=general, author_id=author, body="lunch?")
    MessageFactory(channel=other, author_id=author, body="deploy elsewhere")
    MessageFactory(channel=general, author_id=author, body="100% deployed")
    client = client_as(tenant, "member")
    url = f"/api/v1/chat/channels/{general.pk}/messages/"
    found = expect(client.get(url, {"search": "DEPLOY"}), 200)["results"]
    assert sorted(m["body"] for m in found) == ["100% deployed", "Deploy on Friday"]
    assert [m["body"] for m in client.get(url, {"search": "0%"}).json()["results"]] == [
        "100% deployed"
    ]


# --- isolation ------------------------------------------------------------------------


def test_other_organizations_ids_are_unknown(tenant, other_tenant):
    both = MembershipFactory(organization=tenant)
    MembershipFactory(organization=other_tenant, user=both.user)
    with tenant_context(other_tenant):
        globex_channel = ChannelFactory(name="globex-general")
        globex_message = MessageFactory(channel=globex_channel, author_id=both.user_id)
    with tenant_context(tenant):
        ChannelFactory(name="acme-general")
        client = client_as(tenant, both)
        assert [c["name"] for c in client.get("/api/v1/chat/channels/").json()["results"]] == [
            "acme-general"
        ]
        expect(client.get(f"/api/v1/chat/channels/{globex_channel.pk}/"), 404)
        expect(client.get(f"/api/v1/chat/channels/{globex_channel.pk}/messages/"), 404)
        expect(
            client.post(f"/api/v1/chat/channels/{globex_channel.pk}/messages/", {"body": "x"}),
            404,
        )
        expect(client.patch(f"/api/v1/chat/messages/{globex_message.pk}/", {"body": "x"}), 404)
        expect(client.delete(f"/api/v1/chat/messages/{globex_message.pk}/"), 404)
        expect(
            client.post(f"/api/v1/chat/messages/{globex_message.pk}/reactions/", {"emoji": "👍"}),
            404,
        )
    with tenant_context(other_tenant):
        assert Message.objects.get(pk=globex_message.pk).body == globex_message.body
        assert not Reaction.objects.exists()
    # a globex-only user cannot open a direct channel with an acme-only user
    globex_only = MembershipFactory(organization=other_tenant)
    with tenant_context(tenant):
        expect(
            client_as(tenant, "member").post(
                "/api/v1/chat/direct/", {"user": str(globex_only.user_id)}
            ),
            400,
            "not_an_organization_member",
        )


def test_malformed_ids_are_404(in_tenant, tenant):
    client = client_as(tenant, "member")
    expect(client.get("/api/v1/chat/channels/nope/"), 404)
    expect(client.get("/api/v1/chat/messages/123/"), 404)
