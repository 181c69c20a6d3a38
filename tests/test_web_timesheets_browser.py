"""The web app in a real browser (issue #20, flow 2): a member submits the
week on ``/timesheets/``; a manager, signed in in a second browser context,
approves it on ``/timesheets/approvals/``; the member's open page shows
"Approved" without a reload (the ``timesheet`` event over ``/ws/`` re-fetches
it), and the Time page then offers no ``Edit`` on the approved entries.

Role and accessible-name selectors only (UI.md). Reuses the live server and
Chromium of tests/test_web_browser.py / tests/test_admin_browser.py.
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from django_tenants.utils import get_tenant_model, tenant_context

from apps.organizations.models import Membership
from tenants.provisioning import delete_tenant, provision_tenant
from tenants.testing import committed
from tests.contract.live import live_server
from tests.test_admin_browser import browser_page, sign_in  # noqa: F401  (fixture)

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

SLUG_PREFIX = "web-ts-"
SLUG = f"{SLUG_PREFIX}{uuid.uuid4().hex[:8]}"
MEMBER = "web-ts-member@novatime.test"
MANAGER = "web-ts-manager@novatime.test"
PASSWORD = "Web-ts-pass-1"
DESCRIPTION = "Prepare the quarterly review"


def _delete() -> None:
    for org in get_tenant_model().objects.filter(slug__startswith=SLUG_PREFIX):
        delete_tenant(org)
    get_user_model().objects.filter(email__in=[MEMBER, MANAGER]).delete()


def _create() -> None:
    from apps.timesheets.tests.factories import make_entry

    _delete()
    org = provision_tenant(slug=SLUG, name="Sheets Co", status="active").tenant
    member = get_user_model().objects.create_user(MEMBER, PASSWORD)
    manager = get_user_model().objects.create_user(MANAGER, PASSWORD)
    Membership.objects.create(user=member, organization=org, role="member")
    Membership.objects.create(user=manager, organization=org, role="manager")
    with tenant_context(org):
        # Minutes ago: inside the current period (unless run in its first minutes).
        started = timezone.now() - datetime.timedelta(minutes=10)
        make_entry(user_id=member.pk, started_at=started, seconds=300, description=DESCRIPTION)


@pytest.fixture
def server(django_db_blocker: Any, tmp_path: Path) -> Iterator[str]:
    committed(django_db_blocker, _create)
    try:
        with live_server(tmp_path) as live:
            yield f"http://{SLUG}.localhost:{live.port}"
    finally:
        committed(django_db_blocker, _delete)


def test_member_submits_manager_approves_member_sees_approved(
    browser_page: Any,  # noqa: F811
    server: str,
):
    from playwright.sync_api import expect

    member = browser_page
    member.goto(f"{server}/timesheets/")
    sign_in(member, MEMBER, PASSWORD)
    expect(member.get_by_role("heading", name="Timesheets", level=1)).to_be_visible()
    expect(member.get_by_role("listitem").filter(has_text=DESCRIPTION)).to_have_count(1)
    member.get_by_role("button", name="Submit timesheet").click()
    expect(member.get_by_role("button", name="Withdraw")).to_be_visible()
    # The page's live socket is up before the decision is taken elsewhere.
    expect(member.locator("body")).to_have_attribute("data-live-state", "open")
    expect(member.get_by_role("button", name="Submit timesheet")).to_have_count(0)

    context = member.context.browser.new_context()
    try:
        manager = context.new_page()
        manager.set_default_timeout(15_000)
        manager.goto(f"{server}/timesheets/approvals/")
        sign_in(manager, MANAGER, PASSWORD)
        expect(manager.get_by_role("heading", name="Approvals", level=1)).to_be_visible()
        manager.get_by_role("link", name=re.compile(re.escape(MEMBER))).click()
        expect(manager.get_by_role("listitem").filter(has_text=DESCRIPTION)).to_have_count(1)
        expect(manager.get_by_role("textbox", name="Comment")).to_be_visible()
        manager.get_by_role("button", name="Approve").click()
        expect(manager.get_by_text("No timesheet is waiting for you.")).to_be_visible()
    finally:
        context.close()

    # No reload: the decision arrives over the socket.
    expect(member.get_by_text("Approved", exact=True)).to_be_visible()
    expect(member.get_by_role("button", name="Withdraw")).to_have_count(0)
    nav = member.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Time", exact=True).click()
    expect(member.get_by_role("listitem").filter(has_text=DESCRIPTION)).to_have_count(1)
    expect(member.get_by_role("button", name="Edit")).to_have_count(0)
    # 375 px wide: the page body does not scroll sideways.
    member.set_viewport_size({"width": 375, "height": 812})
    assert member.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
