"""A live NovaTime server for tests that speak real HTTP/WebSocket: uvicorn in
a subprocess on the test database and Redis, as ``scripts/run`` serves it.

The server is another process, so it sees only committed rows: organizations
created through it (signup) are committed by it, and ``LiveServer.cleanup``
deletes them (schema dropped) and the users they created, whatever happened.
pytest-django's ``live_server`` is not used: it needs ``transactional_db``,
whose flush would delete the session tenants.

Host names: ``<slug>.localhost`` does not resolve everywhere, so requests go to
127.0.0.1 with an explicit ``Host`` header (the server routes on it).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tenants.testing import committed

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 45.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    """A running server: ``client(slug)`` talks to an organization's host,
    ``client(None)`` to the public host."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    base_domain: str = "localhost"
    slugs: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def host(self, slug: str | None) -> str:
        name = self.base_domain if slug is None else f"{slug}.{self.base_domain}"
        return f"{name}:{self.port}"

    def client(self, slug: str | None, token: str | None = None, **kw: Any) -> httpx.Client:
        headers = {"Host": self.host(slug)}
        if token:
            headers["Authorization"] = f"Token {token}"
        return httpx.Client(base_url=self.origin, headers=headers, timeout=30, **kw)

    def signup(self, slug: str, email: str, password: str = "Contract-pass-123") -> dict[str, Any]:
        """A new organization through the public API (remembered for cleanup)."""
        self.slugs.add(slug)
        self.emails.add(email)
        with self.client(None) as client:
            response = client.post(
                "/api/v1/signup/",
                json={
                    "organization_name": slug.replace("-", " ").title(),
                    "slug": slug,
                    "email": email,
                    "password": password,
                    "first_name": "Quality",
                    "last_name": "Check",
                },
            )
        assert response.status_code == 201, response.text
        return response.json()

    def log_tail(self, lines: int = 80) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def cleanup(self, blocker: Any) -> None:
        """Delete the organizations and users this server was asked to create."""
        slugs, emails = set(self.slugs), set(self.emails)

        def work() -> None:
            from django.contrib.auth import get_user_model
            from django_tenants.utils import get_tenant_model

            from tenants.provisioning import delete_tenant

            for org in get_tenant_model().objects.filter(slug__in=slugs):
                delete_tenant(org)
            get_user_model().objects.filter(email__in=emails).delete()

        committed(blocker, work)


@contextlib.contextmanager
def live_server(log_dir: Path, *, workers: int = 1, **env: str) -> Iterator[LiveServer]:
    """Start ``uvicorn config.asgi:application`` (or gunicorn with ``workers``
    uvicorn workers) on a free port with this process's settings module and
    test database; stop it afterwards."""
    from django.conf import settings

    from tenants.testing import manage_env

    port = free_port()
    log_path = log_dir / f"uvicorn-{port}.log"
    environment = manage_env(
        DJANGO_SETTINGS_MODULE=settings.SETTINGS_MODULE, NOVATIME_URL_PORT=str(port), **env
    )
    with log_path.open("w") as log:
        if workers > 1:  # as deployed: gunicorn managing uvicorn workers
            command = [
                sys.executable,
                "-m",
                "gunicorn",
                "config.asgi:application",
                "-k",
                "uvicorn.workers.UvicornWorker",
                "-w",
                str(workers),
                "-b",
                f"127.0.0.1:{port}",
            ]
        else:
            command = [
                sys.executable,
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--lifespan",
                "off",
                "--no-access-log",
            ]
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(port=port, process=process, log_path=log_path)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"uvicorn exited with {process.returncode}:\n{server.log_tail()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{server.origin}/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not answer in time:\n{server.log_tail()}")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def module_live_server(name: str) -> Any:
    """A module-scoped ``server`` fixture: one live server for the module's
    tests, logging under a temporary ``name`` directory, whose committed data
    is cleaned up afterwards. Use as ``server = module_live_server("x")``."""

    @pytest.fixture(scope="module")
    def server(
        django_db_setup: None, django_db_blocker: Any, tmp_path_factory: Any
    ) -> Iterator[LiveServer]:
        log_dir: Path = tmp_path_factory.mktemp(name)
        with live_server(log_dir) as live:
            try:
                yield live
            finally:
                live.cleanup(django_db_blocker)

    return server


def unique(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{time.monotonic_ns() % 10**8}"
