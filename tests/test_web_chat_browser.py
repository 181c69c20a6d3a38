"""The web app in a real browser (issue #20, flow 3): two people chat in two
browser contexts. Alice sends a message on ``/chat/<channel>/`` (textbox
``Message``, button ``Send``); it appears in Bob's open channel without a
reload (the ``chat.message`` event over ``/ws/`` re-fetches the history).
Bob's unread count on ``/chat/`` moves live too: up when Alice writes again,
back to none once he opens the channel.

Role and accessible-name selectors only (UI.md). Reuses the live server and
Chromium of tests/test_admin_browser.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django_tenants.utils import get_tenant_model, tenant_context

from apps.organizations.models import Membership
from tenants.provisioning import delete_tenant, provision_tenant
from tenants.testing import committed
from tests.contract.live import live_server
from tests.test_admin_browser import browser_page, sign_in  # noqa: F401  (fixture)

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

SLUG_PREFIX = "web-chat-"
SLUG = f"{SLUG_PREFIX}{uuid.uuid4().hex[:8]}"
ALICE = "web-chat-alice@novatime.test"
BOB = "web-chat-bob@novatime.test"
PASSWORD = "Web-chat-pass-1"
CHANNEL = "launch-room"


def _delete() -> None:
    for org in get_tenant_model().objects.filter(slug__startswith=SLUG_PREFIX):
        delete_tenant(org)
    get_user_model().objects.filter(email__in=[ALICE, BOB]).delete()


def _create() -> str:
    """The organization, Alice and Bob (members), and a public channel: its id."""
    from apps.chat.models import Channel

    _delete()
    org = provision_tenant(slug=SLUG, name="Chat Co", status="active").tenant
    for email in (ALICE, BOB):
        user = get_user_model().objects.create_user(email, PASSWORD)
        Membership.objects.create(user=user, organization=org, role="member")
    with tenant_context(org):
        return str(Channel.objects.create(name=CHANNEL, kind="public").pk)


@pytest.fixture
def server(django_db_blocker: Any, tmp_path: Path) -> Iterator[tuple[str, str]]:
    channel_id = committed(django_db_blocker, _create)
    try:
        with live_server(tmp_path) as live:
            yield f"http://{SLUG}.localhost:{live.port}", channel_id
    finally:
        committed(django_db_blocker, _delete)


def _live(page: Any) -> None:
    from playwright.sync_api import expect

    expect(page.locator("body")).to_have_attribute("data-live-state", "open")


def test_two_people_chat_live_and_unread_counts_move(
    browser_page: Any,  # noqa: F811
    server: tuple[str, str],
):
    from playwright.sync_api import expect

    base, channel_id = server
    bob = browser_page
    bob.goto(f"{base}/chat/{channel_id}/")
    sign_in(bob, BOB, PASSWORD)
    expect(bob.get_by_role("heading", name=CHANNEL, level=1)).to_be_visible()
    expect(bob.get_by_text("No messages yet.")).to_be_visible()
    _live(bob)

    context = bob.context.browser.new_context()
    try:
        alice = context.new_page()
        alice.set_default_timeout(15_000)
        alice.goto(f"{base}/chat/{channel_id}/")
        sign_in(alice, ALICE, PASSWORD)
        expect(alice.get_by_role("heading", name=CHANNEL, level=1)).to_be_visible()
        _live(alice)

        # Alice writes; the composer empties; Bob sees it without a reload.
        alice.get_by_role("textbox", name="Message").fill("Hello **Bob**, ready?")
        alice.get_by_role("button", name="Send").click()
        expect(alice.get_by_role("listitem").filter(has_text="Hello Bob, ready?")).to_have_count(1)
        expect(alice.get_by_role("textbox", name="Message")).to_have_value("")
        message = bob.get_by_role("listitem").filter(has_text="Hello Bob, ready?")
        expect(message).to_have_count(1)
        expect(message.get_by_role("strong")).to_have_text("Bob")
        expect(message).to_contain_text(ALICE)  # the author (no name set: the email)

        # Bob, on the channel list: his marker followed the live message (0 unread).
        bob.get_by_role("link", name="All channels").click()
        expect(bob.get_by_role("heading", name="Chat", level=1)).to_be_visible()
        expect(bob.get_by_role("link", name=CHANNEL, exact=True)).to_be_visible()
        _live(bob)

        alice.get_by_role("textbox", name="Message").fill("Ping again")
        alice.get_by_role("button", name="Send").click()
        expect(alice.get_by_role("listitem").filter(has_text="Ping again")).to_have_count(1)
    finally:
        context.close()

    # The unread count goes up on Bob's open list, live ...
    unread = bob.get_by_role("link", name=f"{CHANNEL}, 1 unread", exact=True)
    expect(unread).to_be_visible()
    # ... and back to none once he has opened the channel.
    unread.click()
    expect(bob.get_by_role("listitem").filter(has_text="Ping again")).to_have_count(1)
    # 375 px wide: the page body does not scroll sideways.
    bob.set_viewport_size({"width": 375, "height": 812})
    assert bob.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    bob.get_by_role("link", name="All channels").click()
    expect(bob.get_by_role("link", name=CHANNEL, exact=True)).to_be_visible()
    expect(bob.get_by_role("link", name=f"{CHANNEL}, 1 unread")).to_have_count(0)
    assert bob.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
