"""The platform admin console and the API docs in a real browser: log in to the
admin (password alone is refused; the password plus the code an authenticator
app would show is accepted), find an organization, suspend it, see the
confirmation (with the admin's CSS loaded); open Swagger UI and expand an
operation.

Headless Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright; never
``playwright install``) talks to a real ``uvicorn config.asgi:application``
started in a subprocess on the test database. The server is another process,
so everything it must see is committed and deleted again in ``finally``.

The test is marked ``django_db`` (so the test database exists even when it runs
alone), which wraps it in a transaction that is rolled back; the committed rows
are therefore written on a connection of their own, in a worker thread
(Django's connections are per thread), in autocommit mode. pytest-django's
``live_server`` is not used on purpose: it needs ``transactional_db``, whose
flush would delete the session tenants.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django_tenants.utils import get_tenant_model

from apps.common.testing import next_totp_code, totp_device
from tenants.provisioning import delete_tenant, provision_tenant
from tenants.testing import committed
from tests.contract.live import live_server

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = ROOT / "var" / "screenshots" / "admin-suspend.png"
LOGIN_SCREENSHOT = ROOT / "var" / "screenshots" / "admin-login-code-required.png"
SLUG = "browser-co"
STAFF_EMAIL = "browser-staff@novatime.test"
STAFF_PASSWORD = "Browser-staff-pass-1"


def http(url: str, *, host: str, method: str = "GET") -> int:
    """Status code of one request sent to the server with ``Host: host``."""
    request = urllib.request.Request(url, method=method, headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _delete_org_and_staff() -> None:
    """Delete the organization (dropping its schema) and the staff user; also
    clears what a crashed earlier run on a kept test database left behind."""
    org = get_tenant_model().objects.filter(slug=SLUG).first()
    if org is not None:
        delete_tenant(org)
    get_user_model().objects.filter(email=STAFF_EMAIL).delete()  # and its OTP devices


def _create_org_and_staff() -> Any:
    _delete_org_and_staff()
    org = provision_tenant(slug=SLUG, name="Browser Co", status="active").tenant
    staff = get_user_model().objects.create_superuser(STAFF_EMAIL, STAFF_PASSWORD)
    totp_device(staff)  # enrolled in two-factor, as the admin console requires
    return org


def _staff_code() -> str:
    staff = get_user_model().objects.get(email=STAFF_EMAIL)
    return next_totp_code(totp_device(staff))


@pytest.fixture
def committed_org_and_staff(django_db_blocker: Any) -> Iterator[Any]:
    """A committed organization ``browser-co`` and a staff superuser with a
    TOTP device; both are deleted afterwards, whatever happens (the schema is
    dropped too)."""
    org = committed(django_db_blocker, _create_org_and_staff)
    try:
        yield org
    finally:
        committed(django_db_blocker, _delete_org_and_staff)


@pytest.fixture
def server(committed_org_and_staff: Any, tmp_path: Path) -> Iterator[str]:
    """A live ``uvicorn config.asgi:application`` (tests/contract/live.py) on
    the test database; yields its base URL on ``localhost``, which browsers
    resolve like ``*.localhost``."""
    with live_server(tmp_path) as live:
        yield f"http://localhost:{live.port}"


@pytest.fixture
def browser_page() -> Iterator[Any]:
    """A fresh page in headless Debian Chromium (skips when it is not installed)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is not installed (scripts/ensure_test_packages.sh installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 900})
            page.set_default_timeout(15_000)
            yield page
        finally:
            browser.close()


def sign_in(page: Any, email: str, password: str) -> None:
    """Fill in and send the sign-in form (either host's: the same names)."""
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_staff_suspends_an_organization_from_the_admin(
    browser_page: Any, server: str, django_db_blocker: Any
):
    page = browser_page
    static_responses: list[tuple[str, int]] = []
    page.on(
        "response",
        lambda r: static_responses.append((r.url, r.status)) if "/static/" in r.url else None,
    )

    page.goto(f"{server}/admin/")
    assert page.url == f"{server}/admin/login/?next=/admin/"
    # The password alone does not open the console ...
    page.fill("#id_username", STAFF_EMAIL)
    page.fill("#id_password", STAFF_PASSWORD)
    with page.expect_navigation():
        page.click("input[type=submit]")
    assert page.url == f"{server}/admin/login/?next=/admin/"
    assert "Enter the code from your authenticator app" in page.locator("p.errornote").inner_text()
    LOGIN_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(LOGIN_SCREENSHOT), full_page=True)
    # ... the password and the code an authenticator app shows now do.
    code = committed(django_db_blocker, _staff_code)
    page.fill("#id_username", STAFF_EMAIL)
    page.fill("#id_password", STAFF_PASSWORD)
    page.fill("#id_otp_token", code)
    with page.expect_navigation():
        page.click("input[type=submit]")
    assert page.url == f"{server}/admin/"
    assert page.locator("#site-name").inner_text() == "NovaTime platform admin"

    with page.expect_navigation():
        page.click("tr.model-organization th a")
    page.fill("#searchbar", SLUG)
    with page.expect_navigation():
        page.press("#searchbar", "Enter")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert rows.first.locator("td.field-slug").inner_text() == SLUG

    rows.first.locator("input.action-select").check()
    page.select_option("select[name=action]", "suspend_organizations")
    with page.expect_navigation():
        page.click("button[name=index]")

    assert page.locator("ul.messagelist li.success").inner_text() == (
        f"Suspended 1 organization: {SLUG} (suspended)."
    )
    assert page.locator("#result_list td.field-status").first.inner_text() == "Suspended"
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    # The admin's CSS was served (DEBUG is off: the app serves its static files).
    assert [url for url, status in static_responses if status != 200] == []
    assert f"{server}/static/admin/css/base.css" in dict(static_responses)
    header_bg = page.evaluate("getComputedStyle(document.getElementById('header')).backgroundColor")
    assert header_bg == "rgb(65, 118, 144)"  # the admin's --header-bg, not the UA default
    # A fresh query on a fresh connection (Playwright's event loop owns this
    # thread, and Django refuses ORM calls from a thread running a loop).
    status = committed(django_db_blocker, lambda: get_tenant_model().objects.get(slug=SLUG).status)
    assert status == "suspended"
    base = server.replace("localhost", "127.0.0.1")
    assert http(f"{base}/api/v1/meta/", host=f"{SLUG}.localhost", method="POST") == 402


DOCS_SCREENSHOT = ROOT / "var" / "screenshots" / "api-docs.png"


def test_api_docs_render_offline_and_describe_an_operation(browser_page: Any, server: str):
    """Swagger UI at /api/docs/ renders from the app's own assets (no CDN: the
    page must work on machines without internet), lists the operations of
    the schema and expands one with its error responses."""
    page = browser_page
    origins: set[str] = set()
    page.on("request", lambda r: origins.add("/".join(r.url.split("/")[:3])))

    page.goto(f"{server}/api/docs/")
    page.wait_for_selector(".opblock", timeout=30_000)
    assert "NovaTime API" in page.locator(".info .title").inner_text()
    signup = page.locator(".opblock-post", has_text="/api/v1/signup/").first
    signup.locator(".opblock-summary").click()
    page.wait_for_selector(".opblock.is-open .responses-table")
    codes = page.locator(".opblock.is-open .responses-table .response-col_status").all_inner_texts()
    assert "201" in [c.strip() for c in codes]
    assert "400" in [c.strip() for c in codes]
    DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS_SCREENSHOT), full_page=False)
    assert origins == {server}, f"the docs page fetched from elsewhere: {sorted(origins)}"
