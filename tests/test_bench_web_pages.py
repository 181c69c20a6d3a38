"""bench/web_pages.py on tiny data (the figures themselves: docs/BENCHMARKS.md):
it finds the web pages, fills their ids from the seed, and measures each."""

from __future__ import annotations

import io

import pytest

from bench import web_pages

pytestmark = pytest.mark.django_db


def test_web_pages_bench_measures_every_page(tenant, other_tenant):
    result = web_pages.run(
        tenant, other_tenant, members=4, days=10, runs=1, messages=5, warmup=0, projects=2
    )

    rows = result["pages"]
    assert result["data"]["members"] == 4
    assert result["data"]["entries"] > 0
    by_page = {(r["page"], r["role"]): r for r in rows}
    assert {p.id for p in web_pages.pages()} == {page for page, _ in by_page}
    # Every page is measured or is POST only: a new page whose path ids the
    # seed cannot fill shows up here (add its model to seed()).
    unfilled = [r for r in rows if r.get("skipped", "POST only") != "POST only"]
    assert unfilled == []
    for page in ("/", "/timesheets/", "/timesheets/approvals/", "/entries/<entry_id>/edit/"):
        assert by_page[(page, "admin")]["status"] == 200, page
    assert by_page[("/timesheets/approvals/", "member")]["status"] == 403
    assert by_page[("/timer/start/", "member")]["skipped"] == "POST only"
    if ("/settings/", "admin") in by_page:  # the settings pages are the admin's
        assert by_page[("/settings/", "admin")]["status"] == 200
        assert by_page[("/settings/", "member")]["status"] == 403
    measured = [r for r in rows if "server" in r]
    assert all(r["server"]["n"] == 1 and r["server"]["p95_ms"] > 0 for r in measured)
    assert all(r["small_python_cpu"]["n"] == 1 for r in measured)
    assert [
        (r["page"], r["role"], r["queries"], r["small_queries"])
        for r in measured
        if not 0 < r["queries"] == r["small_queries"]
    ] == []

    out = io.StringIO()
    web_pages.print_table(rows, out)
    assert "/timesheets/approvals/<pk>/" in out.getvalue()


def _view(module: str) -> object:
    def view() -> None: ...

    view.__module__ = module
    return view


@pytest.mark.parametrize(
    ("route", "module", "expected"),
    [
        ("entries/<entry_id>/edit/", "apps.time_entries.web.entries", "/entries/E/edit/"),
        ("timesheets/approvals/<pk>/", "apps.timesheets.web.views", "/timesheets/approvals/S/"),
        ("chat/<pk>/", "apps.chat.web.views", "/chat/C/"),
        ("chat/<channel_id>/messages/", "apps.chat.web.views", "/chat/C/messages/"),
        ("projects/<pk>/", "apps.projects.web.views", "/projects/P/"),
        ("projects/<project_id>/tasks/<pk>/", "apps.tasks.web.views", "/projects/P/tasks/T/"),
        ("things/<pk>/", "apps.things.web.views", None),
    ],
)
def test_path_ids_are_filled_from_the_seed(route, module, expected):
    from tests.isolation.endpoints import Endpoint

    names = [part[1:-1] for part in route.split("/") if part.startswith("<")]
    page = Endpoint(
        route=route,
        name=None,
        view=_view(module),
        params=tuple((n, "uuid") for n in names),
        segments=tuple(route.strip("/").split("/")),
    )
    ids = {"entry": "E", "timesheet": "S", "chatchannel": "C", "project": "P", "task": "T"}

    assert web_pages.url_for(page, ids) == expected
