"""The run command's embedded services can carry the whole schema.

Starts the embedded PostgreSQL and Redis from the pip wheels (as ``scripts/run``
does on a machine without either) and migrates public, the template and a new
tenant on them: catches an extension or a pg_dump the embedded build lacks.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import psutil
import psycopg
import pytest

from scripts.embedded import ensure_services

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("deploy_validate", ROOT / "deploy" / "validate.py")
_validate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_validate)
SUPPORTED_PG_MAJORS = _validate.SUPPORTED_PG_MAJORS

pytestmark = pytest.mark.slow


def test_embedded_postgres_and_redis_run_every_migration(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    services = ensure_services(mode="run", var_dir=tmp_path / "var", db_name="novatime_embedded")
    try:
        assert "127.0.0.1" in services.database_url and services.pg_bin_dir
        # The development server is one of the supported majors (deploy/validate.py).
        with psycopg.connect(services.database_url, connect_timeout=10) as conn:
            row = conn.execute("SHOW server_version_num").fetchone()
        assert int(row[0]) // 10000 in SUPPORTED_PG_MAJORS
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.dev",
            "DATABASE_URL": services.database_url,
            "REDIS_URL": services.redis_url,
            "NOVATIME_PG_BIN_DIR": services.pg_bin_dir,
            "NOVATIME_TENANT_POOL_SIZE": "0",
            "LOG_LEVEL": "WARNING",
        }

        def manage(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "manage.py", *args],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )

        migrated = manage("tenants", "migrate")
        assert migrated.returncode == 0, migrated.stderr[-3000:]
        created = manage(
            "tenants",
            "create",
            "--slug",
            "embedded-co",
            "--name",
            "Embedded",
            "--owner-email",
            "owner@embedded.test",
        )
        assert created.returncode == 0, created.stderr[-3000:]
        # The snapshot was taken with the embedded server's own pg_dump.
        assert " via pool " in created.stdout or " via template " in created.stdout
    finally:
        services.stop()


def test_embedded_postgres_stops_even_when_pg_ctl_cannot_run(tmp_path, monkeypatch):
    """Found by the run command's smoke test: as root, pg_ctl ran as the
    unprivileged OS user failed (a parent directory had lost its o+x) and
    the server was left running after Ctrl-C."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    services = ensure_services(mode="run", var_dir=tmp_path / "var", db_name="novatime_stop")
    pg = next(h for h in services._handles if "PostgreSQL" in repr(h))
    postmaster = psutil.Process(int(pg._read_postmaster_pid()["pid"]))

    def cannot_run(exe: str, *args: str, timeout: float = 120) -> None:
        raise PermissionError(13, "Permission denied", str(pg.bin_dir / exe))

    monkeypatch.setattr(pg, "_run", cannot_run)
    services.stop()
    postmaster.wait(timeout=60)  # raises if it is still running
    assert not (tmp_path / "var" / "pg" / "postmaster.pid").exists()
