"""The web app in a real browser (issue #20, flow 1): sign in on
``<slug>.localhost`` (or sign up on the public host ``localhost`` and land
signed in on the new organization's host through the single-use link), start
a timer with a description, see it running, stop it, find the entry with its
duration in today's list.

Elements are found by role and accessible name only (UI.md's names), never by
CSS. Headless Debian Chromium driven by Playwright against a live uvicorn
(tests/contract/live.py), like tests/test_admin_browser.py: the organization,
its member and a project are committed, and deleted again afterwards.
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
from django_tenants.utils import get_tenant_model, tenant_context

from apps.organizations.models import Membership
from tenants.provisioning import delete_tenant, provision_tenant
from tenants.testing import committed
from tests.contract.live import live_server
from tests.test_admin_browser import CHROMIUM_ARGS, browser_page, sign_in  # noqa: F401  (fixture)

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "var" / "screenshots" / "web-time.png"
#: A new slug per run: the live server caches host → organization (by host
#: name, under its own cache prefix), so a re-created organization of the same
#: slug would be served from a previous run's stale entry.
SLUG_PREFIX = "web-co-"
SLUG = f"{SLUG_PREFIX}{uuid.uuid4().hex[:8]}"
EMAIL = "web-member@novatime.test"
PASSWORD = "Web-member-pass-1"
ONE_DAY = datetime.timedelta(days=1)
PROJECT = "Apollo"
TASK = "Checklist"
DESCRIPTION = "Write the launch checklist"

assert CHROMIUM_ARGS  # the same Chromium flags as the admin's browser test


def _delete() -> None:
    # This run's organization, and any a crashed earlier run left behind.
    for org in get_tenant_model().objects.filter(slug__startswith=SLUG_PREFIX):
        delete_tenant(org)
    get_user_model().objects.filter(email=EMAIL).delete()


def _create() -> None:
    from apps.projects.tests.factories import ProjectFactory

    _delete()
    org = provision_tenant(slug=SLUG, name="Web Co", status="active").tenant
    # The week starts yesterday (UTC, the organization's zone): an entry put
    # on yesterday by the manual-entry test is on the Time page on any day.
    org.week_start = (datetime.datetime.now(datetime.UTC).date() - ONE_DAY).weekday()
    org.save(update_fields=["week_start"])
    user = get_user_model().objects.create_user(EMAIL, PASSWORD)
    Membership.objects.create(user=user, organization=org, role="member")
    with tenant_context(org):
        from apps.tasks.tests.factories import TaskFactory

        TaskFactory(project=ProjectFactory(name=PROJECT), title=TASK)
        TaskFactory(project=ProjectFactory(name="Gemini"), title="Orbit")


@pytest.fixture
def server(django_db_blocker: Any, tmp_path: Path) -> Iterator[str]:
    committed(django_db_blocker, _create)
    try:
        with live_server(tmp_path) as live:
            yield f"http://{SLUG}.localhost:{live.port}"
    finally:
        committed(django_db_blocker, _delete)


def test_member_signs_in_starts_and_stops_a_timer(browser_page: Any, server: str):  # noqa: F811
    from playwright.sync_api import expect

    page = browser_page
    page.set_viewport_size({"width": 375, "height": 812})

    page.goto(f"{server}/")
    assert page.url == f"{server}/signin/?next=%2F"
    sign_in(page, EMAIL, PASSWORD)

    expect(page.get_by_role("heading", name="Time", level=1)).to_be_visible()
    assert page.url == f"{server}/"
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Time", exact=True)
    ).to_be_visible()
    task = page.get_by_role("combobox", name="Task")
    expect(task.get_by_role("option", name="Orbit")).to_have_count(1)  # every project's tasks
    page.get_by_role("combobox", name="Project").select_option(label=PROJECT)
    # htmx (allowed by the CSP: a static file) swaps in the chosen project's tasks.
    expect(task.get_by_role("option", name="Orbit")).to_have_count(0)
    task.select_option(label=TASK)
    page.get_by_role("textbox", name="Description").fill(DESCRIPTION)
    page.get_by_role("button", name="Start timer").click()

    timer = page.get_by_role("timer")
    expect(timer).to_be_visible()
    expect(timer).to_have_text(re.compile(r"^0:00:0[1-9]$"))  # ticking client-side
    expect(page.get_by_role("button", name="Start timer")).to_have_count(0)
    page.get_by_role("button", name="Stop timer").click()

    expect(page.get_by_role("button", name="Start timer")).to_be_visible()
    expect(page.get_by_role("timer")).to_have_count(0)
    entry = page.get_by_role("listitem").filter(has_text=DESCRIPTION)
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text(f"{PROJECT} · {TASK}")
    expect(entry).to_contain_text(re.compile(r"0:00:0[1-9]"))  # its duration
    # 375 px wide: the page body does not scroll sideways.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # A timer started in another tab shows up running here without a reload,
    # ticking; stopped there, it is gone here and the new entry is listed.
    expect(page.locator("body")).to_have_attribute("data-live-state", "open")
    # Another tab: a second context carrying the same session cookie (the
    # fixture's page owns its context, which opens no second page).
    context = page.context.browser.new_context()
    context.add_cookies(page.context.cookies())
    other = context.new_page()
    other.goto(f"{server}/")
    other.get_by_role("textbox", name="Description").fill("From the other tab")
    other.get_by_role("combobox", name="Project").select_option(label=PROJECT)
    other.get_by_role("button", name="Start timer").click()
    expect(other.get_by_role("timer")).to_be_visible()
    expect(page.get_by_role("timer")).to_have_text(re.compile(r"^0:00:0\d$"))
    expect(page.get_by_role("button", name="Stop timer")).to_be_visible()
    other.get_by_role("button", name="Stop timer").click()
    expect(page.get_by_role("button", name="Start timer")).to_be_visible()
    expect(page.get_by_role("listitem").filter(has_text="From the other tab")).to_have_count(1)
    context.close()


SIGNUP_SLUG = f"{SLUG_PREFIX}new-{uuid.uuid4().hex[:6]}"
SIGNUP_EMAIL = "web-founder@novatime.test"


@pytest.fixture
def public_server(django_db_blocker: Any, tmp_path: Path) -> Iterator[Any]:
    committed(django_db_blocker, _delete)
    try:
        with live_server(tmp_path) as live:
            live.slugs.add(SIGNUP_SLUG)
            live.emails.add(SIGNUP_EMAIL)
            try:
                yield live
            finally:
                live.cleanup(django_db_blocker)
    finally:
        committed(django_db_blocker, _delete)


def _add_project(slug: str) -> None:
    from apps.projects.tests.factories import ProjectFactory

    with tenant_context(get_tenant_model().objects.get(slug=slug)):
        ProjectFactory(name=PROJECT)


def test_signs_up_on_the_public_host_and_tracks_time_on_the_new_host(
    browser_page: Any,  # noqa: F811
    public_server: Any,
    django_db_blocker: Any,
):
    from playwright.sync_api import expect

    page = browser_page
    page.set_viewport_size({"width": 375, "height": 812})
    public = f"http://localhost:{public_server.port}"
    organization = f"http://{SIGNUP_SLUG}.localhost:{public_server.port}"

    page.goto(f"{public}/")
    expect(page.get_by_role("heading", name="Plans")).to_be_visible()
    page.get_by_role("link", name="Sign up").click()
    assert page.url == f"{public}/signup/"
    page.get_by_role("textbox", name="Organization name").fill("Web Founders")
    page.get_by_role("textbox", name="Subdomain").fill("www")
    expect(page.get_by_text("This slug is reserved.")).to_be_visible()  # htmx, live
    page.get_by_role("textbox", name="Subdomain").fill(SIGNUP_SLUG)
    expect(page.get_by_text(f"{SIGNUP_SLUG}.localhost is available.")).to_be_visible()
    page.get_by_role("textbox", name="Email").fill(SIGNUP_EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT.with_name("web-signup.png")), full_page=True)
    page.get_by_role("button", name="Create organization").click()

    # Landed signed in on the new organization's own host.
    expect(page.get_by_role("heading", name="Time", level=1)).to_be_visible()
    assert page.url == f"{organization}/"
    # A new organization has no project yet (creating one is another page).
    committed(django_db_blocker, lambda: _add_project(SIGNUP_SLUG))
    page.reload()
    page.get_by_role("combobox", name="Project").select_option(label=PROJECT)
    page.get_by_role("textbox", name="Description").fill(DESCRIPTION)
    page.get_by_role("button", name="Start timer").click()

    timer = page.get_by_role("timer")
    expect(timer).to_have_text(re.compile(r"^0:00:0[1-9]$"))
    page.get_by_role("button", name="Stop timer").click()

    expect(page.get_by_role("button", name="Start timer")).to_be_visible()
    entry = page.get_by_role("listitem").filter(has_text=DESCRIPTION)
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text(re.compile(r"0:00:0[1-9]"))  # its duration
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_member_adds_edits_continues_and_deletes_an_entry(browser_page: Any, server: str):  # noqa: F811
    """Issue #20: Add entry (Date/Start/End, Save) lists the entry with its
    duration; Edit changes its description; Continue starts the timer;
    Delete (with its confirmation step) removes an entry."""
    from playwright.sync_api import expect

    page = browser_page
    page.goto(f"{server}/")
    sign_in(page, EMAIL, PASSWORD)
    expect(page.get_by_role("heading", name="Time", level=1)).to_be_visible()

    page.get_by_role("button", name="Add entry").click()
    expect(page.get_by_role("heading", name="Add entry", level=1)).to_be_visible()
    page.get_by_role("combobox", name="Project").select_option(label=PROJECT)
    page.get_by_role("textbox", name="Description").fill("Manual entry")
    # 1 h 30 min that are over (Continue must not overlap them): early today,
    # or late yesterday in the first two hours of a day.
    now = datetime.datetime.now(datetime.UTC)
    day, start, end = (now.date(), "00:10", "01:40")
    if now.hour < 2:
        day, start, end = (now.date() - ONE_DAY, "22:10", "23:40")
    page.get_by_role("textbox", name="Date").fill(day.isoformat())
    page.get_by_role("textbox", name="Start").fill(start)
    page.get_by_role("textbox", name="End").fill(end)
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("heading", name="Time", level=1)).to_be_visible()
    entry = page.get_by_role("listitem").filter(has_text="Manual entry")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("1:30:00")  # its duration

    entry.get_by_role("button", name="Edit").click()
    description = page.get_by_role("textbox", name="Description")
    expect(description).to_have_value("Manual entry")
    description.fill("Manual entry, edited")
    page.get_by_role("button", name="Save").click()
    edited = page.get_by_role("listitem").filter(has_text="Manual entry, edited")
    expect(edited).to_have_count(1)

    edited.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("timer")).to_be_visible()

    finished = page.get_by_role("listitem").filter(has_text="1:30:00")
    finished.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("heading", name="Delete entry", level=1)).to_be_visible()
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("heading", name="Time", level=1)).to_be_visible()
    expect(page.get_by_role("listitem").filter(has_text="1:30:00")).to_have_count(0)
    expect(page.get_by_role("timer")).to_be_visible()  # the continued entry stays
