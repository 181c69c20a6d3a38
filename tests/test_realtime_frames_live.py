"""Malformed frames and a dropped connection against a live uvicorn, as a
client meets them: real WebSocket framing (a binary frame is an opcode, not
a Python type), the server's own disconnect handling, the real Redis
channel layer and presence. tests/test_realtime_frames.py covers every
malformed class through the ASGI application; this checks that the same
answers come out of a real server and that a client whose TCP connection is
cut (no close frame) leaves presence for the others at once."""

from __future__ import annotations

import json
import socket
import struct
import time
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from tenants.testing import committed
from tests.contract.live import LiveServer, module_live_server, unique

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

PASSWORD = "Frames-pass-123"
PROMPT_SECONDS = 2.0


server = module_live_server("frames")


def _add_member(server: LiveServer, blocker: Any, slug: str) -> tuple[str, str]:
    """A second member of the organization (the API invites by email only);
    returns their email and user id."""
    email = f"{unique('member')}@example.com"
    server.emails.add(email)

    def work() -> str:
        from django.contrib.auth import get_user_model
        from django_tenants.utils import get_tenant_model

        from apps.organizations.models import Membership

        user = get_user_model().objects.create_user(email=email, password=PASSWORD)
        org = get_tenant_model().objects.get(slug=slug)
        Membership.objects.create(user=user, organization=org, role="member")
        return str(user.pk)

    return email, committed(blocker, work)


def _ticket(server: LiveServer, slug: str, email: str) -> str:
    with server.client(None) as public:
        login = public.post("/api/v1/auth/login/", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    with server.client(slug, token=login.json()["key"]) as org:
        response = org.post("/api/v1/realtime/ticket/", json={})
    assert response.status_code == 201, response.text
    return str(response.json()["ticket"])


def _open(server: LiveServer, slug: str, ticket: str) -> ClientConnection:
    host = server.host(slug)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return connect(
        f"ws://{host}/ws/?ticket={ticket}", sock=sock, origin=f"http://{host}", open_timeout=10
    )


def _next(ws: ClientConnection, skip: tuple[str, ...] = ("presence",)) -> dict[str, Any]:
    while True:
        event = json.loads(ws.recv(timeout=10))
        if event.get("type") not in skip:
            return dict(event)


def _offline_after(ws: ClientConnection, user: str, since: float, within: float = 5.0) -> float:
    """Seconds after ``since`` until ``ws`` hears ``user`` go offline."""
    while (left := since + within - time.monotonic()) > 0:
        try:
            event = json.loads(ws.recv(timeout=left))
        except TimeoutError:
            break
        if (
            event.get("type") == "presence"
            and {"user": user, "state": "offline"} in event["data"]["users"]
        ):
            return time.monotonic() - since
    return float("inf")


def test_malformed_frames_and_a_cut_connection_on_a_live_server(
    server: LiveServer, django_db_blocker: Any
) -> None:
    slug = unique("frames")
    owner_email = f"{unique('owner')}@example.com"
    server.signup(slug, owner_email, password=PASSWORD)
    member_email, member_id = _add_member(server, django_db_blocker, slug)

    with (
        _open(server, slug, _ticket(server, slug, owner_email)) as watcher,
        _open(server, slug, _ticket(server, slug, member_email)) as member,
    ):
        frames: list[str | bytes] = [
            b"\x00\x01binary",
            "not json",
            "[" * 1000 + "]" * 1000,
            '{"type": "ping", "x": "\\ud800"}',
            '{"type": "presence.heartbeat", "state": 5}',
        ]
        errors = []
        for frame in frames:
            member.send(frame)
            errors.append(_next(member))
        member.send(json.dumps({"type": "ping"}))
        pong = _next(member)

        assert [(e["type"], e["op"], e["data"]["code"]) for e in errors] == [
            ("error", "rejected", "invalid_message")
        ] * len(frames)
        assert pong == {"type": "pong"}

        # The member's connection is cut: no close frame, the kernel answers
        # RST (SO_LINGER 0). The owner hears them go offline at once.
        time.sleep(0.6)  # let the connect's "online" batch go out first
        member.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        since = time.monotonic()
        member.socket.close()
        assert _offline_after(watcher, member_id, since) < PROMPT_SECONDS
