"""Fixtures of the isolation matrix, and its case count in the terminal summary."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django_tenants.utils import get_tenant_model

from tests.isolation.world import World, build_world, clean_up, public_snapshot, tenant_rows


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: Any) -> Iterator[World]:
    """A (``acme``) and B (``globex``) seeded with every tenant model, plus the
    attackers. Seeding ~200 rows per test would cost a second each, so it is
    done once per module and *committed* (outside the tests' transactions;
    what each test writes is still rolled back), then removed: the session
    tenants' tables are emptied again (they are empty between tests, which
    is checked first) and the public rows seeding added are deleted."""
    with django_db_blocker.unblock():
        tenants = {
            t.slug: t for t in get_tenant_model().objects.filter(slug__in=["acme", "globex"])
        }
        a, b = tenants["acme"], tenants["globex"]
        assert tenant_rows(a) == tenant_rows(b) == 0, "session tenants must be empty here"
        before = public_snapshot()
        try:
            yield build_world(a, b)
        finally:
            clean_up([a, b], before)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests.isolation.test_http_matrix import CASE_COUNTS, CASES

    reports = [
        r
        for key in ("passed", "failed")
        for r in terminalreporter.stats.get(key, [])
        if getattr(r, "when", "call") == "call"
        and "test_http_matrix.py::test_isolation[" in r.nodeid
    ]
    if not reports:
        return
    counts = ", ".join(f"{attack}: {n}" for attack, n in sorted(CASE_COUNTS.items()))
    terminalreporter.write_line(
        f"isolation matrix: {len(CASES)} endpoint x method x attack cases ({counts}); "
        f"{len(reports)} run in this session"
    )
