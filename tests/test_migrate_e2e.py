"""``tenants migrate --parallel`` end to end: real pending migrations, forked
workers, committed tenants (subprocesses), cleaned up afterwards."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tenants.testing import database_url, manage_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db]
ROOT = Path(__file__).resolve().parent.parent
SLUGS = ("e2e-mig-a", "e2e-mig-b")


def manage(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=manage_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def tasks_and_dependents() -> set[str]:
    """``tasks`` and every app whose migrations depend on it (transitively):
    un-applying ``tasks`` alone would leave an inconsistent history."""
    from django.db.migrations.loader import MigrationLoader

    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    apps = {"tasks"}
    changed = True
    while changed:
        changed = False
        for key, node in graph.node_map.items():
            if key[0] not in apps and any(parent.key[0] in apps for parent in node.parents):
                apps.add(key[0])
                changed = True
    return apps


@pytest.fixture
def broken_tenants() -> Iterator[list[str]]:
    """Two committed tenants whose ``tasks`` migrations (and those of the apps
    built on it) were 'never applied'."""
    apps = tasks_and_dependents()
    schemas = []
    try:
        for slug in SLUGS:
            result = manage(
                "tenants",
                "create",
                "--slug",
                slug,
                "--name",
                slug,
                "--owner-email",
                f"{slug}@e2e.test",
            )
            assert result.returncode == 0, result.stderr
        with psycopg.connect(database_url(), autocommit=True) as conn:
            for slug in SLUGS:
                schema = conn.execute(
                    "SELECT schema_name FROM organizations_organization WHERE slug = %s", [slug]
                ).fetchone()[0]
                # "Un-apply" the apps: drop their tables, forget their migrations.
                tables = [
                    row[0]
                    for row in conn.execute(
                        "SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = %s AND table_type = 'BASE TABLE'",
                        [schema],
                    )
                    if any(row[0].startswith(f"{app}_") for app in apps)
                ]
                assert tables
                conn.execute(
                    ", ".join(f'"{schema}"."{t}"' for t in tables).join(["DROP TABLE ", " CASCADE"])
                )
                conn.execute(
                    f'DELETE FROM "{schema}".django_migrations WHERE app = ANY(%s)', [list(apps)]
                )
                schemas.append(schema)
        yield schemas
    finally:
        for slug in SLUGS:
            manage("tenants", "delete", slug, "--yes")
        with psycopg.connect(database_url(), autocommit=True) as conn:
            conn.execute("DELETE FROM iam_user WHERE email LIKE '%%@e2e.test'")


def test_parallel_migrate_applies_only_what_is_pending(broken_tenants):
    result = manage("tenants", "migrate", "--parallel", "2")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    summary = next(line for line in lines if "tenant schema(s)" in line)
    assert " 2 need migrations" in summary
    progress = sorted(line.split()[1] for line in lines if line.startswith("["))
    assert progress == sorted(broken_tenants)
    assert lines[-1].endswith(" s: 2 migrated, 0 failed")
    with psycopg.connect(database_url()) as conn:
        for schema in broken_tenants:
            tables = {
                row[0]
                for row in conn.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                    [schema],
                )
            }
            assert {"tasks_task", "tasks_label", "tasks_taskdependency"} <= tables

    again = manage("tenants", "migrate")
    assert again.returncode == 0
    assert " 0 need migrations" in again.stdout


def test_a_second_runner_waits_for_the_first():
    from tenants.management.commands.tenants import MIGRATE_LOCK_ID

    with psycopg.connect(database_url(), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", [MIGRATE_LOCK_ID])
        runner = subprocess.Popen(
            [sys.executable, "manage.py", "tenants", "migrate"],
            cwd=ROOT,
            env=manage_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        first_line = runner.stdout.readline()
        assert first_line.startswith("another `tenants migrate` is running")
        assert runner.poll() is None  # still waiting while the lock is held
        holder.execute("SELECT pg_advisory_unlock(%s)", [MIGRATE_LOCK_ID])
        out, err = runner.communicate(timeout=120)

    assert runner.returncode == 0, err
    assert out.splitlines()[-1].endswith(" s: 0 migrated, 0 failed")
