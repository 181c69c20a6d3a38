"""The Chat pages (``/chat/``, ``/chat/<channel id>/``, threads): what they show,
who is refused (as the API: a hidden channel is a 404), and that their forms
write what the API writes (same services, same messages)."""

from __future__ import annotations

import datetime
import html
import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.chat.constants import MAX_MESSAGE_LENGTH, ChannelKind
from apps.chat.models import Channel, ChannelMember, Message, Reaction
from apps.chat.services.messages import message_create
from apps.common.testing import app_queries
from apps.iam.tests.factories import DEFAULT_PASSWORD
from apps.organizations.tests.factories import MembershipFactory
from tenants.testing import TenantAPIClient

from .factories import ChannelFactory, ChannelMemberFactory, MessageFactory

pytestmark = pytest.mark.django_db


def signed_in(tenant, role="member", membership=None) -> TenantAPIClient:
    membership = membership or MembershipFactory(organization=tenant, role=role)
    client = TenantAPIClient(tenant, HTTP_ACCEPT="text/html")
    response = client.post(
        "/signin/", {"email": membership.user.email, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 302, response.content
    client.membership = membership
    return client


def _messages(channel, author, n, *, start=None, prefix="note"):
    """``n`` top-level messages by ``author``, a second apart, oldest first."""
    start = start or timezone.now() - datetime.timedelta(hours=1)
    return [
        MessageFactory(
            channel=channel,
            author_id=author.user_id,
            body=f"{prefix} {i}",
            created_at=start + datetime.timedelta(seconds=i),
        )
        for i in range(n)
    ]


def _link(body: str, channel) -> str:
    """The accessible name of the channel's link on /chat/ (its aria-label,
    else its text)."""
    match = re.search(rf'<a href="/chat/{channel.pk}/"([^>]*)>(.*?)</a>', body, re.S)
    assert match, body
    label = re.search(r'aria-label="([^"]*)"', match.group(1))
    if label:
        assert label.group(1).startswith(re.sub(r"<[^>]+>.*", "", match.group(2)).strip())
        return html.unescape(label.group(1))
    return re.sub(r"<[^>]+>", "", match.group(2)).strip()


# --- /chat/ -----------------------------------------------------------------------------


def test_list_shows_visible_channels_and_directs_with_unread_counts(in_tenant):
    client = signed_in(in_tenant)
    me = client.membership
    other = MembershipFactory(organization=in_tenant, role="member")
    general = ChannelFactory(name="general")
    _messages(general, other, 3)
    quiet = ChannelFactory(name="quiet")
    secret = ChannelFactory(name="secret-plans", kind=ChannelKind.PRIVATE)
    ChannelMemberFactory(channel=secret, user_id=other.user_id)
    mine = ChannelFactory(name="my-private", kind=ChannelKind.PRIVATE)
    ChannelMemberFactory(channel=mine, user_id=me.user_id)
    direct = Channel.objects.create(
        kind=ChannelKind.DIRECT, direct_key=":".join(sorted([str(me.user_id), str(other.user_id)]))
    )
    ChannelMemberFactory(channel=direct, user_id=me.user_id)
    ChannelMemberFactory(channel=direct, user_id=other.user_id)
    MessageFactory(channel=direct, author_id=other.user_id, body="psst")

    response = client.get("/chat/")

    body = response.content.decode()
    assert response.status_code == 200
    assert _link(body, general) == "general, 3 unread"
    assert _link(body, quiet) == "quiet"
    assert _link(body, mine) == "my-private"
    assert "secret-plans" not in body and str(secret.pk) not in body
    assert _link(body, direct) == f"{other.user.full_name}, 1 unread"
    assert 'hx-trigger="nt-chat-message from:body, nt-chat-read from:body' in body
    assert "Create channel" in body and "Open conversation" in body


def test_list_query_count_is_flat(in_tenant):
    client = signed_in(in_tenant)
    other = MembershipFactory(organization=in_tenant)
    _messages(ChannelFactory(name="first"), other, 2)

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/chat/").status_code == 200
        return len(app_queries(captured))

    few = count()
    for i in range(12):
        channel = ChannelFactory(name=f"room-{i}")
        _messages(channel, other, 3)
        peer = MembershipFactory(organization=in_tenant)
        key = ":".join(sorted([str(client.membership.user_id), str(peer.user_id)]))
        direct = Channel.objects.create(kind=ChannelKind.DIRECT, direct_key=key)
        ChannelMemberFactory(channel=direct, user_id=client.membership.user_id)
        ChannelMemberFactory(channel=direct, user_id=peer.user_id)
    many = count()

    assert few == many
    assert many <= 10


def test_create_channel_and_refusals_keep_the_input(in_tenant):
    client = signed_in(in_tenant)
    ChannelFactory(name="Taken")

    response = client.post("/chat/new/", {"name": "design", "kind": "private"})

    channel = Channel.objects.get(name="design")
    assert response.status_code == 302 and response["Location"] == f"/chat/{channel.pk}/"
    assert channel.kind == ChannelKind.PRIVATE
    assert ChannelMember.objects.filter(channel=channel, user_id=client.membership.user_id).exists()

    refused = client.post("/chat/new/", {"name": "taken", "kind": "public"})
    body = refused.content.decode()
    assert refused.status_code == 409
    assert "A channel with this name already exists." in body
    assert 'value="taken"' in body
    assert Channel.objects.filter(name__iexact="taken").count() == 1


def test_viewer_cannot_create_channels_or_send(in_tenant):
    client = signed_in(in_tenant, role="viewer")
    channel = ChannelFactory(name="general")

    page = client.get("/chat/").content.decode()
    assert "Create channel" not in page
    assert client.post("/chat/new/", {"name": "x", "kind": "public"}).status_code == 403
    response = client.post(f"/chat/{channel.pk}/send/", {"body": "hello"})
    assert response.status_code == 403
    assert not Message.objects.filter(channel=channel).exists()
    assert "Send" not in client.get(f"/chat/{channel.pk}/").content.decode()


def test_direct_message_opens_once(in_tenant):
    client = signed_in(in_tenant)
    other = MembershipFactory(organization=in_tenant)

    assert f'value="{other.user_id}"' in client.get("/chat/").content.decode()
    first = client.post("/chat/direct/", {"user": str(other.user_id)})
    second = client.post("/chat/direct/", {"user": str(other.user_id)})

    channel = Channel.objects.get(kind=ChannelKind.DIRECT)
    assert first["Location"] == second["Location"] == f"/chat/{channel.pk}/"
    page = client.get(f"/chat/{channel.pk}/").content.decode()
    assert f"<h1>{other.user.full_name}</h1>" in page


# --- /chat/<channel id>/ --------------------------------------------------------------------


def test_channel_shows_history_with_author_and_time_and_marks_it_read(in_tenant):
    client = signed_in(in_tenant)
    author = MembershipFactory(organization=in_tenant)
    channel = ChannelFactory(name="general")
    _first, second = _messages(channel, author, 2)
    assert _link(client.get("/chat/").content.decode(), channel) == "general, 2 unread"

    response = client.get(f"/chat/{channel.pk}/")

    body = response.content.decode()
    assert response.status_code == 200
    assert body.index("note 0") < body.index("note 1")  # oldest at the top
    assert body.count('class="chat-message"') == 2
    assert author.user.full_name in body
    assert body.count("<time datetime=") == 2
    assert 'hx-trigger="nt-chat-message from:body, nt-chat-reaction from:body' in body
    marker = ChannelMember.objects.get(channel=channel, user_id=client.membership.user_id)
    assert marker.last_read_message_id == second.pk
    assert _link(client.get("/chat/").content.decode(), channel) == "general"

    # Opening again writes nothing (the marker is not behind): no UPDATE.
    with CaptureQueriesContext(connection) as captured:
        client.get(f"/chat/{channel.pk}/")
    assert not [q for q in app_queries(captured) if q["sql"].startswith(("UPDATE", "INSERT"))]


def test_private_channel_of_others_is_404_like_the_api(in_tenant):
    client = signed_in(in_tenant)
    secret = ChannelFactory(name="secret", kind=ChannelKind.PRIVATE)
    MessageFactory(channel=secret, author_id=uuid.uuid4(), body="hidden words")

    for response in (
        client.get(f"/chat/{secret.pk}/"),
        client.post(f"/chat/{secret.pk}/send/", {"body": "let me in"}),
        client.get(f"/chat/{uuid.uuid4()}/"),
    ):
        assert response.status_code == 404
        assert "hidden words" not in response.content.decode()
    message = Message.objects.get(channel=secret)
    assert client.get(f"/chat/{secret.pk}/threads/{message.pk}/").status_code == 404
    react = client.post(f"/chat/messages/{message.pk}/reactions/add/", {"emoji": "👍"})
    assert react.status_code == 404
    assert Message.objects.filter(channel=secret).count() == 1
    assert not Reaction.objects.exists()
    assert not ChannelMember.objects.filter(user_id=client.membership.user_id).exists()


def test_send_posts_through_the_service_and_redirects(in_tenant):
    client = signed_in(in_tenant)
    channel = ChannelFactory(name="general")

    response = client.post(f"/chat/{channel.pk}/send/", {"body": "Hello **team**"})

    assert response.status_code == 302 and response["Location"] == f"/chat/{channel.pk}/"
    message = Message.objects.get(channel=channel)
    assert message.author_id == client.membership.user_id and message.parent_id is None
    page = client.get(f"/chat/{channel.pk}/").content.decode()
    assert "Hello <strong>team</strong>" in page
    # The composer is empty again (POST-redirect-GET).
    assert re.search(r'<textarea name="body"[^>]*>\s*</textarea>', page)


def test_send_error_is_next_to_the_field_and_text_kept(in_tenant):
    client = signed_in(in_tenant)
    channel = ChannelFactory(name="general")

    empty = client.post(f"/chat/{channel.pk}/send/", {"body": "   "})
    assert empty.status_code == 400
    assert re.search(r'class="field-errors"[^>]*><li>Required\.</li>', empty.content.decode())

    long_text = "x" * (MAX_MESSAGE_LENGTH + 1)
    too_long = client.post(f"/chat/{channel.pk}/send/", {"body": long_text})
    body = too_long.content.decode()
    assert too_long.status_code == 400
    assert "field-errors" in body and long_text in body

    outsider = MembershipFactory(organization=in_tenant)
    secret = ChannelFactory(name="secret", kind=ChannelKind.PRIVATE)
    ChannelMemberFactory(channel=secret, user_id=outsider.user_id)
    ChannelMemberFactory(channel=channel, user_id=outsider.user_id)
    text = f"hey @[{outsider.user_id}] see this"
    blind = ChannelFactory(name="closed", kind=ChannelKind.PRIVATE)
    ChannelMemberFactory(channel=blind, user_id=client.membership.user_id)
    refused = client.post(f"/chat/{blind.pk}/send/", {"body": text})
    body = refused.content.decode()
    assert refused.status_code == 400
    assert "Cannot see the channel" in body  # the service's field message, next to Message
    assert f"hey @[{outsider.user_id}] see this" in body
    assert not Message.objects.exists()


def test_markdown_is_sanitised_as_the_api_renders_it(in_tenant):
    client = signed_in(in_tenant)
    channel = ChannelFactory(name="general")
    client.post(
        f"/chat/{channel.pk}/send/",
        {"body": "<script>alert(1)</script> [x](javascript:alert(2)) *ok*"},
    )

    body = client.get(f"/chat/{channel.pk}/").content.decode()

    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert 'href="javascript' not in body  # markdown-it leaves it as text, not a link
    assert "<em>ok</em>" in body
    api = client.get(
        f"/api/v1/chat/channels/{channel.pk}/messages/", HTTP_ACCEPT="application/json"
    )
    assert api.json()["results"][0]["html"] in body


def test_history_pages_with_older_link_and_flat_query_count(in_tenant):
    client = signed_in(in_tenant)
    author = MembershipFactory(organization=in_tenant)
    channel = ChannelFactory(name="general")
    _messages(channel, author, 2)

    def count(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(app_queries(captured))

    client.get(f"/chat/{channel.pk}/")  # read once: the marker is up to date
    few = count(f"/chat/{channel.pk}/")
    start = timezone.now() - datetime.timedelta(days=1)
    older = _messages(
        channel, MembershipFactory(organization=in_tenant), 60, start=start, prefix="old"
    )
    for message in older[-5:]:
        Reaction.objects.create(message=message, user_id=author.user_id, emoji="👍")
        MessageFactory(channel=channel, parent=message, author_id=author.user_id, body="re")
    client.get(f"/chat/{channel.pk}/")
    many = count(f"/chat/{channel.pk}/")
    assert few == many
    assert many <= 10

    # First open of a channel (the marker moves) stays within the budget too.
    fresh = signed_in(in_tenant)
    with CaptureQueriesContext(connection) as captured:
        assert fresh.get(f"/chat/{channel.pk}/").status_code == 200
    assert len(app_queries(captured)) <= 10, "\n".join(
        q["sql"][:150] for q in app_queries(captured)
    )

    page = client.get(f"/chat/{channel.pk}/").content.decode()
    assert page.count('class="chat-message"') == 50
    assert "old 12</p>" in page and "old 11</p>" not in page and "note 1</p>" in page
    match = re.search(r'href="(/chat/[^"]+\?before=[^"]+)">Older messages', page)
    assert match
    older_page = client.get(match.group(1).replace("&amp;", "&")).content.decode()
    assert older_page.count('class="chat-message"') == 12  # 62 - 50
    assert "old 11</p>" in older_page and "old 0</p>" in older_page
    assert "Older messages" not in older_page and "Newest messages" in older_page
    assert client.get(f"/chat/{channel.pk}/?before={uuid.uuid4()}").status_code == 404


def test_thread_reply(in_tenant):
    client = signed_in(in_tenant)
    channel = ChannelFactory(name="general")
    [root] = _messages(channel, client.membership, 1)

    page = client.get(f"/chat/{channel.pk}/").content.decode()
    assert f'href="/chat/{channel.pk}/threads/{root.pk}/"' in page
    thread = client.get(f"/chat/{channel.pk}/threads/{root.pk}/").content.decode()
    assert f'name="parent" value="{root.pk}"' in thread

    response = client.post(f"/chat/{channel.pk}/send/", {"body": "a reply", "parent": root.pk})

    assert response["Location"] == f"/chat/{channel.pk}/threads/{root.pk}/"
    reply = Message.objects.get(parent=root)
    assert reply.body == "a reply"
    root.refresh_from_db()
    assert root.reply_count == 1
    thread = client.get(response["Location"]).content.decode()
    assert "a reply" in thread and "note 0" in thread
    page = client.get(f"/chat/{channel.pk}/").content.decode()
    assert "1 reply" in page and "a reply" not in page  # replies stay in the thread

    # A reply to a reply is refused with the service's message, text kept.
    nested = client.post(f"/chat/{channel.pk}/send/", {"body": "deeper", "parent": reply.pk})
    assert nested.status_code == 400
    assert "top-level message" in nested.content.decode()
    assert "deeper" in nested.content.decode()
    assert Message.objects.filter(parent__isnull=False).count() == 1


def test_reactions_add_and_remove(in_tenant):
    client = signed_in(in_tenant)
    channel = ChannelFactory(name="general")
    other = MembershipFactory(organization=in_tenant)
    message = message_create(actor=other, channel=channel, body="ship it")

    added = client.post(f"/chat/messages/{message.pk}/reactions/add/", {"emoji": "🎉"})

    assert added.status_code == 302
    assert added["Location"] == f"/chat/{channel.pk}/#m-{message.pk}"
    assert Reaction.objects.filter(
        message=message, user_id=client.membership.user_id, emoji="🎉"
    ).exists()
    page = client.get(f"/chat/{channel.pk}/").content.decode()
    assert re.search(r'aria-pressed="true">🎉 1</button>', page)

    client.post(f"/chat/messages/{message.pk}/reactions/remove/", {"emoji": "🎉"})
    assert not Reaction.objects.exists()

    bad = client.post(f"/chat/messages/{message.pk}/reactions/add/", {"emoji": "hello"})
    assert bad.status_code == 400
    assert "An emoji is a Unicode emoji or a :shortcode:." in bad.content.decode()
    assert not Reaction.objects.exists()
