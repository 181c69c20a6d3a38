"""Shared set-up of the realtime benchmarks: a bench database with one
organization and N members, a real uvicorn process serving ``config.asgi``
against real PostgreSQL and Redis, and socket helpers (``websockets``).

Sockets authenticate with single-use tickets issued straight into the shared
cache (what ``POST /api/v1/realtime/ticket/`` does), so that connecting 1,000
sockets measures the socket server, not 1,000 HTTP ticket requests.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import ROOT, prepare_database

HOST = "acme.localhost"
ENV_PREFIX = "novatime-bench-rt"


@dataclass
class Organization:
    tenant: Any
    user_ids: list[uuid.UUID]
    database_url: str


def setup(n_members: int) -> Organization:
    """Fresh bench database, organization ``acme`` and ``n_members`` members
    (unusable passwords: they authenticate by ticket)."""
    os.environ["NOVATIME_ENV_PREFIX"] = ENV_PREFIX
    os.environ.setdefault("DJANGO_DEBUG", "0")
    url = prepare_database("realtime")
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from apps.organizations.models import Membership
    from tenants.provisioning import provision_tenant

    tenant = provision_tenant(slug="acme", name="Acme", status="active").tenant
    User = get_user_model()
    unusable = make_password(None)
    users = User.objects.bulk_create(
        [User(email=f"user{i}@bench.example", password=unusable) for i in range(n_members)]
    )
    Membership.objects.bulk_create(
        [
            Membership(user=u, organization=tenant, role="owner" if i == 0 else "member")
            for i, u in enumerate(users)
        ]
    )
    return Organization(tenant=tenant, user_ids=[u.pk for u in users], database_url=url)


def tickets(org: Organization, user_ids: list[uuid.UUID]) -> list[str]:
    from apps.websocket_server.tickets import issue_ticket

    return [issue_ticket(user_id=u, schema_name=org.tenant.schema_name) for u in user_ids]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``uvicorn config.asgi:application`` in its own process (one worker)."""

    def __init__(
        self, org: Organization, *, log: Path, settings: str = "config.settings.dev"
    ) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": org.database_url,
            "NOVATIME_ENV_PREFIX": ENV_PREFIX,
            "DJANGO_SETTINGS_MODULE": settings,
            "DJANGO_DEBUG": "0",
            "LOG_LEVEL": "WARNING",
        }
        self.log = log.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", "config.asgi:application",
                "--host", "127.0.0.1", "--port", str(self.port),
                "--ws", "websockets", "--log-level", "warning", "--no-access-log",
            ],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("uvicorn did not start: see " + str(log))

    def rss_mb(self) -> float:
        import psutil

        return psutil.Process(self.process.pid).memory_info().rss / 2**20

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


async def open_socket(port: int, ticket: str) -> Any:
    """A client socket on ``acme`` (Host/Origin as a browser would send)."""
    from websockets.asyncio.client import connect

    return await connect(
        f"ws://{HOST}:{port}/ws/?ticket={ticket}",
        host="127.0.0.1",
        port=port,
        origin=f"http://{HOST}:{port}",
        open_timeout=60,
        max_queue=None,
        ping_interval=None,  # the server pings (uvicorn: 20 s); a bench client need not
    )
