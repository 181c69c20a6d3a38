"""Every page of the web app in a real browser (issue #20, flows 5, 6 and 7).

The pages are not listed: every view of the organization host behind
``apps.iam.web.access.member_page`` is found by walking the URL resolver (as
tests/isolation/test_pages.py does), each path parameter filled with a real
object of organization A from the isolation world (two organizations seeded
with every tenant model, committed for the module). A page added tomorrow is
walked without touching this file.

5. Cross-tenant: a session signed in on B's host, its cookies carried over to
   A's host, is refused on every page of A (sent to A's sign-in) and no page
   shows any of A's data.
6. axe-core (axe-playwright-python) on every page, signed in as A's owner, and
   on the public host's pages: no serious or critical finding.
7. Every page at 375 px wide: the page body does not scroll sideways.

Pages that take only POST answer 405 to the walk and are skipped (their
forms are rendered by the pages walked). Selection is by role and accessible
name; the only CSS-level reads are the document's scroll width and axe's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from apps.iam.tests.factories import DEFAULT_PASSWORD
from tests.contract.live import LiveServer, live_server
from tests.isolation.endpoints import tenant_endpoints
from tests.isolation.test_pages import _url
from tests.isolation.world import World
from tests.test_admin_browser import CHROMIUM, CHROMIUM_ARGS, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

PAGES = [
    e
    for e in tenant_endpoints()
    if getattr(e.view, "member_page", False) and not getattr(e.view, "web_fragment", False)
]
#: Public-host pages (no session): landing, sign-up, sign-in.
PUBLIC_PAGES = ["/", "/signup/", "/signin/"]
#: axe-core impacts that fail the walk.
BLOCKING = {"serious", "critical"}
WIDTH = 375


@pytest.fixture(scope="module")
def live(world: World, tmp_path_factory: Any) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("pages-browser")) as server:
        yield server


@pytest.fixture
def browser() -> Iterator[Any]:
    """Per test, started after the test's transaction: Playwright's sync API
    runs an event loop, in which Django refuses database calls."""
    import os

    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is not installed (scripts/ensure_test_packages.sh installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


def _context(browser: Any) -> Any:
    context = browser.new_context(viewport={"width": WIDTH, "height": 812})
    context.set_default_timeout(15_000)
    return context


def _sign_in(page: Any, origin: str, email: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{origin}/signin/")
    sign_in(page, email, DEFAULT_PASSWORD)
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()


def _serious(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(str(n.get("target")) for n in v.get("nodes", [])[:3])
        for v in results.response["violations"]
        if v.get("impact") in BLOCKING
    ]


def _visit(page: Any, live: LiveServer, url: str) -> int | None:
    """Open ``url``; its status, or None for a POST-only view. Its empty 405
    is a navigation error in Chromium: the same GET is then asked again with
    the page's cookies (over 127.0.0.1 with the Host header: the request API
    does not resolve ``*.localhost`` as Chromium does) to tell a 405 apart."""
    from playwright.sync_api import Error

    try:
        response = page.goto(url)
    except Error as exc:
        if "ERR_HTTP_RESPONSE_CODE_FAILURE" not in str(exc):
            raise
        parts = urlsplit(url)
        cookies = {c["name"]: c["value"] for c in page.context.cookies(url)}
        again = httpx.get(
            f"{live.origin}{parts.path}",
            headers={"Host": parts.netloc},
            cookies=cookies,
            follow_redirects=False,
        )
        if again.status_code == 405:
            return None
        raise
    return response.status if response is not None else 0


def _scrolls_sideways(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth > window.innerWidth"))


def test_every_page_is_accessible_and_fits_375px(live: LiveServer, world: World, browser: Any):
    """Flows 6 and 7 over every page of A (signed in as A's owner) and the
    public host's pages."""
    origin = f"http://{world.a.tenant.slug}.localhost:{live.port}"
    context = _context(browser)
    problems: dict[str, list[str]] = {}
    walked = []
    try:
        page = context.new_page()
        _sign_in(page, origin, world.both_owner.user.email)
        for endpoint in PAGES:
            url = _url(world, endpoint)
            status = _visit(page, live, f"{origin}{url}")
            if status is None:
                continue  # POST only
            walked.append(endpoint.id)
            found = []
            if status >= 500:
                found.append(f"answered {status}")
            if _scrolls_sideways(page):
                found.append(f"scrolls sideways at {WIDTH} px")
            found += _serious(page)
            if found:
                problems[f"{endpoint.id} ({url}, {status})"] = found
        public = _context(browser).new_page()
        for path in PUBLIC_PAGES:
            response = public.goto(f"http://localhost:{live.port}{path}")
            walked.append(f"public {path}")
            found = [] if response and response.ok else [f"answered {response and response.status}"]
            if _scrolls_sideways(public):
                found.append(f"scrolls sideways at {WIDTH} px")
            found += _serious(public)
            if found:
                problems[f"public {path}"] = found
        public.context.close()
    finally:
        context.close()

    assert {"/", "/timesheets/", "/timesheets/approvals/"} <= set(walked)
    assert not problems, "\n".join(f"{page}: {found}" for page, found in problems.items())


def test_a_session_of_b_is_refused_on_every_page_of_a(live: LiveServer, world: World, browser: Any):
    """Flow 5: B's member signs in on B's host; the session cookie, set by
    the browser for B's host only, is copied onto A's host (the strongest
    form of the attack: the browser would not send it). Every page of A sends
    the browser to A's sign-in and shows none of A's data."""
    b_origin = f"http://{world.b_owner.organization.slug}.localhost:{live.port}"
    a_host = f"{world.a.tenant.slug}.localhost"
    a_origin = f"http://{a_host}:{live.port}"
    context = _context(browser)
    leaks: dict[str, list[str]] = {}
    try:
        page = context.new_page()
        _sign_in(page, b_origin, world.b_owner.user.email)
        carried = [{**c, "domain": a_host} for c in context.cookies(b_origin)]
        assert any(c["name"] == "sessionid" for c in carried)
        context.add_cookies(carried)
        secrets = world.a.secrets()
        for endpoint in PAGES:
            url = _url(world, endpoint)
            if _visit(page, live, f"{a_origin}{url}") is None:
                continue
            body = page.content()
            refused = page.url.startswith(f"{a_origin}/signin/")
            found = [] if refused else [f"not sent to sign-in: {page.url}"]
            # The sign-in page names the URL asked for (?next=): not a leak.
            found += sorted(s for s in secrets if s in body and s not in url)[:5]
            if found:
                leaks[endpoint.id] = found
    finally:
        context.close()

    assert not leaks, "\n".join(f"{page}: {found}" for page, found in leaks.items())
