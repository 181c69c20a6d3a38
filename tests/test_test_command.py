"""The test command runs the suite on every core (scripts/dev.py) and each
pytest-xdist worker keys Redis apart (config/settings/test.py): two workers
sharing a cache prefix would read each other's cached tenants and hear each
other's events."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.dev import MAX_TEST_WORKERS, _workers

ROOT = Path(__file__).resolve().parent.parent


def test_one_worker_a_core_at_most_the_cap_whole_modules_each(monkeypatch):
    monkeypatch.delenv("NOVATIME_TEST_WORKERS", raising=False)
    cores = len(os.sched_getaffinity(0))
    expected = min(cores, MAX_TEST_WORKERS)

    args = _workers(["-k", "provisioning"])

    if expected < 2:
        assert args == ["-k", "provisioning"]
    else:
        assert args == ["-n", str(expected), "--dist", "loadfile", "-k", "provisioning"]


@pytest.mark.parametrize(
    "given",
    [["-n", "0"], ["-n0"], ["--numprocesses=3"], ["-p", "no:xdist"], ["--dist", "load"]],
)
def test_the_callers_choice_is_kept(monkeypatch, given):
    monkeypatch.setenv("NOVATIME_TEST_WORKERS", "3")
    assert _workers([*given, "tests/x.py"]) == [*given, "tests/x.py"]


@pytest.mark.parametrize(("setting", "expected"), [("1", []), ("0", []), ("3", ["-n", "3"])])
def test_the_environment_sets_the_number(monkeypatch, setting, expected):
    monkeypatch.setenv("NOVATIME_TEST_WORKERS", setting)
    assert _workers([])[:2] == expected


def _prefix(database: str, worker: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_XDIST_WORKER"}
    env.update(DJANGO_SETTINGS_MODULE="config.settings.test", DATABASE_URL=database)
    if worker:
        env["PYTEST_XDIST_WORKER"] = worker
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.NOVATIME_ENV_PREFIX, settings.CACHES['default']['KEY_PREFIX'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    prefix, cache_prefix = out.stdout.split()
    assert prefix == cache_prefix
    return prefix


def test_each_worker_has_its_own_prefix_and_its_servers_share_it():
    base = "postgres://postgres@127.0.0.1:5432/novatime"
    alone, gw0, gw1 = _prefix(base, None), _prefix(base, "gw0"), _prefix(base, "gw1")
    assert len({alone, gw0, gw1}) == 3
    # A server a worker starts points at the worker's test database and
    # inherits the variable: the same prefix as the worker's own.
    assert _prefix("postgres://postgres@127.0.0.1:5432/test_novatime_gw1", "gw1") == gw1
