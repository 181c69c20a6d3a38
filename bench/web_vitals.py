"""Web app in a real browser (issue #20): Largest Contentful Paint and the
weight of the JavaScript and CSS the pages load.

    .venv/bin/python -m bench.web_vitals [--loads 20 --members 50 --days 365]

Seeds an organization like bench/web_pages.py (``--members`` members, a
year of entries), starts the ASGI server (uvicorn, one process, DEBUG off,
static files served by the app through whitenoise) on loopback and opens
each page as a signed-in manager in headless Debian Chromium
(/usr/bin/chromium driven by Playwright, the flags of the browser tests).

* **LCP**: each of ``--loads`` loads runs in a fresh browser context (empty
  cache, as a first visit), waits for ``load``, then reads the browser's own
  figure: ``PerformanceObserver`` on ``largest-contentful-paint`` with
  ``buffered: true``, the last entry's ``startTime`` (ms from navigation
  start). p50/p95 per page; goal ≤ 500 ms. A page that answers 404 (not
  merged yet) is reported as such.
  The same on a page the browser answers itself (``FLOOR``) gives the
  floor of this machine's browser: fresh context, first paint.
* **Weight**: every ``<script src>`` and ``<link rel=stylesheet>`` of the
  measured pages, plus any script or stylesheet the Resource Timing API saw
  load (htmx, app.js, app.css ...), fetched once and gzipped (level 9, as a
  server would send it); totals per kind. Goals: JS ≤ 50 KB, CSS ≤ 30 KB.

Results: stdout and var/bench/web_vitals.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.common import percentile, prepare_database, summary, write_result

CHROMIUM = "/usr/bin/chromium"
PAGES = ("/", "/reports/")
#: The same measurement on a page the browser answers itself (Playwright
#: route): what a fresh context and a first paint cost on this machine.
FLOOR = "/__browser-floor__/"
FLOOR_HTML = (
    "<!doctype html><html lang=en><title>floor</title><h1>Browser floor</h1>"
    "<p>A page with no server and no assets.</p></html>"
)
LCP_GOAL_MS = 500.0
JS_GOAL_KB = 50.0
CSS_GOAL_KB = 30.0

#: The browser's own LCP: the last candidate reported so far (buffered), and
#: the navigation's first byte (how much of it is the server's).
LCP_SCRIPT = """
() => new Promise((resolve) => {
  let last = null;
  new PerformanceObserver((list) => {
    const entries = list.getEntries();
    last = entries[entries.length - 1].startTime;
  }).observe({type: "largest-contentful-paint", buffered: true});
  const nav = performance.getEntriesByType("navigation")[0];
  setTimeout(() => resolve([last, nav ? nav.responseStart : null]), 250);
})
"""
ASSETS_SCRIPT = """
() => {
  const urls = [
    ...Array.from(document.querySelectorAll("script[src]"), (s) => ["js", s.src]),
    ...Array.from(document.querySelectorAll("link[rel~=stylesheet][href]"),
                  (l) => ["css", l.href]),
  ];
  for (const r of performance.getEntriesByType("resource")) {
    const path = new URL(r.name).pathname;
    if (r.initiatorType === "script" || path.endsWith(".js")) urls.push(["js", r.name]);
    else if (path.endsWith(".css")) urls.push(["css", r.name]);
  }
  return urls;
}
"""


def session_cookie(org: Any, membership: Any) -> tuple[str, str]:
    """(name, value) of a session signed in on ``org``'s host."""
    from django.conf import settings

    from bench.web_pages import signed_in_client

    client = signed_in_client(org, membership)
    return settings.SESSION_COOKIE_NAME, client.cookies[settings.SESSION_COOKIE_NAME].value


def measure(origin: str, cookie: tuple[str, str], *, loads: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from tests.test_admin_browser import CHROMIUM_ARGS

    pages: dict[str, Any] = {}
    assets: dict[str, str] = {}  # url -> kind
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            for path in (*PAGES, FLOOR):
                url = origin + path
                lcps: list[float] = []
                ttfbs: list[float] = []  # navigation start → first byte (server + network)
                status = None
                for _ in range(loads):
                    context = browser.new_context(viewport={"width": 1280, "height": 800})
                    context.add_cookies([{"name": cookie[0], "value": cookie[1], "url": origin}])
                    if path == FLOOR:  # answered by the browser itself: no server, no assets
                        context.route(
                            url,
                            lambda route: route.fulfill(
                                status=200, content_type="text/html", body=FLOOR_HTML
                            ),
                        )
                    page = context.new_page()
                    response = page.goto(url, wait_until="load")
                    status = response.status if response else None
                    if status != 200:
                        context.close()
                        break
                    if not page.url.startswith(url):  # sent to sign in: not measured
                        raise RuntimeError(f"{url} redirected to {page.url}")
                    value, ttfb = page.evaluate(LCP_SCRIPT)
                    if value is not None:
                        lcps.append(float(value))
                    if ttfb is not None:
                        ttfbs.append(float(ttfb))
                    if path != FLOOR:
                        for kind, asset in page.evaluate(ASSETS_SCRIPT):
                            assets[asset] = kind
                    context.close()
                entry: dict[str, Any] = {"status": status}
                if status == 200 and lcps:
                    entry["lcp"] = summary(lcps)
                    entry["ttfb"] = summary(ttfbs)
                    entry["pass"] = percentile(lcps, 95) <= LCP_GOAL_MS if path != FLOOR else None
                elif status == 200:
                    entry["lcp"] = None  # no contentful paint reported
                    entry["pass"] = False
                pages[path] = entry
        finally:
            browser.close()
    return {"pages": pages, "assets": asset_weight(assets)}


def asset_weight(assets: dict[str, str]) -> dict[str, Any]:
    """Fetch each asset once (loopback, ``Host`` of the organization: Python
    does not resolve ``*.localhost`` the way Chromium does) and gzip it."""
    import httpx

    files = []
    totals = {"js": {"raw": 0, "gzip": 0}, "css": {"raw": 0, "gzip": 0}}
    for url, kind in sorted(assets.items()):
        parts = urlsplit(url)
        loopback = urlunsplit(parts._replace(netloc=f"127.0.0.1:{parts.port}"))
        response = httpx.get(loopback, headers={"Host": parts.netloc}, timeout=10)
        if response.status_code != 200:
            files.append({"url": url, "kind": kind, "status": response.status_code})
            continue
        body = response.content
        gz = len(gzip.compress(body, compresslevel=9, mtime=0))
        files.append({"url": parts.path, "kind": kind, "raw": len(body), "gzip": gz})
        totals[kind]["raw"] += len(body)
        totals[kind]["gzip"] += gz
    return {
        "files": files,
        "js_gzip_kb": round(totals["js"]["gzip"] / 1024, 1),
        "css_gzip_kb": round(totals["css"]["gzip"] / 1024, 1),
        "js_raw_kb": round(totals["js"]["raw"] / 1024, 1),
        "css_raw_kb": round(totals["css"]["raw"] / 1024, 1),
        "js_pass": totals["js"]["gzip"] / 1024 <= JS_GOAL_KB,
        "css_pass": totals["css"]["gzip"] / 1024 <= CSS_GOAL_KB,
    }


def run(org: Any, membership: Any, *, loads: int, log_dir: Path) -> dict[str, Any]:
    """Start the server on the current database and measure (the smoke test calls this)."""
    from tests.contract.live import live_server

    cookie = session_cookie(org, membership)
    with live_server(log_dir, DJANGO_DEBUG="false") as live:
        origin = f"http://{org.slug}.localhost:{live.port}"
        result = measure(origin, cookie, loads=loads)
    result["method"] = (
        "headless Debian Chromium via Playwright on loopback, uvicorn (1 process, DEBUG off); "
        "LCP from PerformanceObserver('largest-contentful-paint', buffered), fresh context "
        "(cold cache) per load; asset sizes gzip -9 of the served bodies"
    )
    result["loads"] = loads
    result["goals"] = {
        "lcp_p95_ms": LCP_GOAL_MS,
        "js_gzip_kb": JS_GOAL_KB,
        "css_gzip_kb": CSS_GOAL_KB,
    }
    return result


def print_report(result: dict[str, Any], out: Any = sys.stdout) -> None:
    print(f"\n{result['method']}\n", file=out)
    for path, entry in result["pages"].items():
        if entry["status"] != 200:
            print(f"{path:<12} not measured: HTTP {entry['status']}", file=out)
        elif entry["lcp"] is None:
            print(f"{path:<12} no LCP reported  FAIL", file=out)
        else:
            lcp = entry["lcp"]
            print(
                f"{path:<12} LCP p50 {lcp['p50_ms']:.0f} ms  p95 {lcp['p95_ms']:.0f} ms"
                f"  (n={lcp['n']}, goal p95 <= {LCP_GOAL_MS:.0f})"
                f"  [first byte p50 {entry['ttfb']['p50_ms']:.0f} ms]"
                f"  {'' if entry['pass'] is None else 'PASS' if entry['pass'] else 'FAIL'}",
                file=out,
            )
    weight = result["assets"]
    for f in weight["files"]:
        sizes = f"{f['raw']:>8} B raw {f['gzip']:>7} B gz" if "raw" in f else f"HTTP {f['status']}"
        print(f"  {f['kind']:<3} {f['url']}  {sizes}", file=out)
    print(
        f"JS  {weight['js_gzip_kb']} KB gz ({weight['js_raw_kb']} KB raw), goal <= {JS_GOAL_KB:.0f}"
        f"  {'PASS' if weight['js_pass'] else 'FAIL'}",
        file=out,
    )
    print(
        f"CSS {weight['css_gzip_kb']} KB gz ({weight['css_raw_kb']} KB raw),"
        f" goal <= {CSS_GOAL_KB:.0f}  {'PASS' if weight['css_pass'] else 'FAIL'}",
        file=out,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loads", type=int, default=20)
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args(argv)
    if not os.access(CHROMIUM, os.X_OK):
        sys.exit(f"{CHROMIUM} is not installed (scripts/ensure_test_packages.sh installs it)")

    os.environ.setdefault("DJANGO_DEBUG", "false")
    prepare_database("bench_vitals")
    from apps.organizations.services import organization_create
    from bench.web_pages import seed

    org = organization_create(
        slug="vitals", name="Vitals Co", owner_email="owner@vitals.bench", timezone="UTC"
    ).tenant
    seeded = seed(org, members=args.members, days=args.days)
    with tempfile.TemporaryDirectory() as log_dir:
        result = run(org, seeded.memberships["manager"], loads=args.loads, log_dir=Path(log_dir))
    result["data"] = seeded.counts
    # the machine is shared: how busy it was while measuring
    result["load_average_1_5_15"] = [round(x, 2) for x in os.getloadavg()]
    result["command"] = "python -m bench.web_vitals " + " ".join(argv or sys.argv[1:])
    path = write_result("web_vitals", result)
    print_report(result)
    print(f"load average (1, 5, 15 min) at the end: {result['load_average_1_5_15']}")
    print(f"written to {path}")
    print(json.dumps({"data": seeded.counts}))


if __name__ == "__main__":
    main()
