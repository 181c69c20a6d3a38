"""WebSocket entry: tenant resolution by Host, authentication, ping."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from config.asgi import application

pytestmark = pytest.mark.django_db


async def _connect(host: str, cookie: str | None = None) -> tuple[Any, Any, WebsocketCommunicator]:
    headers = [(b"host", host.encode()), (b"origin", f"http://{host}".encode())]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    communicator = WebsocketCommunicator(application, "/ws/", headers=headers)
    connected, subprotocol = await communicator.connect()
    return connected, subprotocol, communicator


@async_to_sync
async def _close_code(host: str, cookie: str | None = None) -> int:
    _, _, communicator = await _connect(host, cookie)
    message = await communicator.receive_output()
    await communicator.wait()
    assert message["type"] == "websocket.close"
    return message["code"]


@async_to_sync
async def _ping(host: str, cookie: str) -> dict:
    connected, _, communicator = await _connect(host, cookie)
    assert connected
    await communicator.send_json_to({"type": "ping"})
    reply = await communicator.receive_json_from()
    await communicator.send_json_to({"type": "nonsense"})
    error = await communicator.receive_json_from()
    await communicator.disconnect()
    return {"reply": reply, "error": error}


@pytest.mark.parametrize("host", ["nope.localhost", "localhost"])
def test_unknown_tenant_or_public_host_is_closed_4404(host):
    assert _close_code(host) == 4404


def test_anonymous_socket_on_a_tenant_is_closed_4401(tenant):
    assert _close_code("acme.localhost") == 4401


@pytest.fixture(autouse=True)
def _keep_test_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    """Channels closes "old" connections around every DB call; under
    ``async_to_sync`` those calls run on the test's thread, and closing its
    connection would abort the test transaction. Only that hygiene step is
    disabled: resolution, auth and the consumer run for real."""
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)


@pytest.fixture
def session_cookie(tenant: Any) -> str:
    user = get_user_model().objects.create_user("socket@example.com", "pw-12345-abc")
    client = Client(HTTP_HOST="acme.localhost")
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def test_authenticated_socket_answers_ping(session_cookie):
    result = _ping("acme.localhost", session_cookie)
    assert result["reply"] == {"type": "pong"}
    assert result["error"]["code"] == "unknown_message"
