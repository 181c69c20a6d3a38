"""The Projects and task pages in a real browser (issue #20): a member signs
in on ``/projects/``, opens a project, sees its board and its budget burn
chart (an ``img`` named by what it shows), opens a task and posts a comment,
which is listed; at 375 px the page body does not scroll sideways.

Role and accessible-name selectors only (UI.md). Reuses the live server and
Chromium of tests/test_web_browser.py / tests/test_admin_browser.py.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from decimal import Decimal
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

SLUG_PREFIX = "web-pj-"
SLUG = f"{SLUG_PREFIX}{uuid.uuid4().hex[:8]}"
MEMBER = "web-pj-member@novatime.test"
PASSWORD = "Web-pj-pass-1"
PROJECT = "Website relaunch"
TASK = "Write the launch copy"
COMMENT = "First draft is in the shared folder"


def _delete() -> None:
    for org in get_tenant_model().objects.filter(slug__startswith=SLUG_PREFIX):
        delete_tenant(org)
    get_user_model().objects.filter(email=MEMBER).delete()


def _create() -> None:
    from apps.projects.tests.factories import ProjectFactory
    from apps.tasks.tests.factories import TaskFactory
    from apps.timesheets.tests.factories import make_entry

    _delete()
    org = provision_tenant(slug=SLUG, name="Boards Co", status="active").tenant
    member = get_user_model().objects.create_user(MEMBER, PASSWORD)
    Membership.objects.create(user=member, organization=org, role="member")
    with tenant_context(org):
        project = ProjectFactory(name=PROJECT, budget_hours=Decimal("100"))
        TaskFactory(project=project, title=TASK, assignees=[member.pk])
        started = timezone.now() - datetime.timedelta(days=3)
        make_entry(user_id=member.pk, project=project, started_at=started, seconds=32 * 3600)


@pytest.fixture
def server(django_db_blocker: Any, tmp_path: Path) -> Iterator[str]:
    committed(django_db_blocker, _create)
    try:
        with live_server(tmp_path) as live:
            yield f"http://{SLUG}.localhost:{live.port}"
    finally:
        committed(django_db_blocker, _delete)


def test_member_opens_a_project_board_and_comments_on_a_task(
    browser_page: Any,  # noqa: F811
    server: str,
):
    from playwright.sync_api import expect

    page = browser_page
    page.goto(f"{server}/projects/")
    sign_in(page, MEMBER, PASSWORD)
    expect(page.get_by_role("heading", name="Projects", level=1)).to_be_visible()

    page.get_by_role("link", name=PROJECT).click()
    expect(page.get_by_role("heading", name=PROJECT, level=1)).to_be_visible()
    todo = page.get_by_role("list", name="To do (1)")
    expect(todo.get_by_role("listitem").filter(has_text=TASK)).to_have_count(1)
    expect(page.get_by_role("img", name="Budget burn: 32 of 100 hours")).to_be_visible()
    expect(page.get_by_role("table", name="Budget burn")).to_be_visible()

    todo.get_by_role("link", name=TASK).click()
    expect(page.get_by_role("heading", name=TASK, level=1)).to_be_visible()
    page.get_by_role("textbox", name="Comment").fill(COMMENT)
    page.get_by_role("button", name="Post comment").click()
    comments = page.get_by_role("list", name="Comments")
    expect(comments.get_by_role("listitem").filter(has_text=COMMENT)).to_have_count(1)
    expect(page.get_by_role("textbox", name="Comment")).to_have_value("")

    # 375 px wide: neither page's body scrolls sideways.
    page.set_viewport_size({"width": 375, "height": 812})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.get_by_role("link", name=PROJECT).click()
    expect(page.get_by_role("img", name="Budget burn: 32 of 100 hours")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
