"""Helpers for socket tests: open sockets on the real ASGI app and read them.

Sockets of an organization also receive ``presence`` events whenever someone
(including themselves) connects or leaves; most tests are about other events,
so the readers skip ``presence`` unless asked for it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, Literal, TypeVar
from uuid import UUID

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from apps.iam.models import User

#: Hosts of the session tenants (``tenant``: acme, ``other_tenant``: globex).
ACME = "acme.localhost"
GLOBEX = "globex.localhost"

RECEIVE_TIMEOUT = 3  # generous upper bound for something that should arrive
NOTHING_TIMEOUT = 0.3  # how long "receives nothing" waits
SKIP = ("presence",)


class _Origin(enum.Enum):
    SAME = "same"


#: ``connect``'s default Origin: the host's own.
_SAME: Literal[_Origin.SAME] = _Origin.SAME
_T = TypeVar("_T")


def headers(host: str, cookie: str | None, origin: str | None) -> list[tuple[bytes, bytes]]:
    out = [(b"host", host.encode())]
    if origin is not None:
        out.append((b"origin", origin.encode()))
    if cookie:
        out.append((b"cookie", cookie.encode()))
    return out


async def connect(
    host: str,
    cookie: str | None = None,
    *,
    origin: str | Literal[_Origin.SAME] | None = _SAME,
    query: str = "",
) -> tuple[bool, WebsocketCommunicator]:
    from config.asgi import application

    origin = f"http://{host}" if origin is _SAME else origin
    path = f"/ws/?{query}" if query else "/ws/"
    communicator = WebsocketCommunicator(application, path, headers=headers(host, cookie, origin))
    connected, _ = await communicator.connect()
    return connected, communicator


def cookie_for(user: User, host: str = "acme.localhost") -> str:
    client = Client(HTTP_HOST=host)
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


async def receive(
    communicator: WebsocketCommunicator,
    *,
    skip: tuple[str, ...] = SKIP,
    timeout: float = RECEIVE_TIMEOUT,
) -> dict[str, Any]:
    """The next JSON message whose type is not in ``skip``."""
    while True:
        message = await communicator.receive_json_from(timeout=timeout)
        if message.get("type") not in skip:
            return message


async def receives_nothing(
    communicator: WebsocketCommunicator,
    *,
    skip: tuple[str, ...] = SKIP,
    timeout: float = NOTHING_TIMEOUT,
) -> bool:
    """Whether nothing but ``skip`` types arrives within ``timeout``."""
    while True:
        if await communicator.receive_nothing(timeout=timeout):
            return True
        output = await communicator.receive_output(timeout=timeout)
        if output["type"] != "websocket.send":
            return False  # a close counts as something
        import json

        message = json.loads(output["text"])
        if message.get("type") not in skip:
            return False


async def receive_all(
    communicator: WebsocketCommunicator, *, timeout: float = NOTHING_TIMEOUT
) -> list[dict[str, Any]]:
    """Every JSON message that arrives until ``timeout`` of silence."""
    import json

    out = []
    while not await communicator.receive_nothing(timeout=timeout):
        output = await communicator.receive_output(timeout=timeout)
        if output["type"] == "websocket.send":
            out.append(json.loads(output["text"]))
        else:
            out.append(output)
            break
    return out


async def close_code(communicator: WebsocketCommunicator) -> int:
    """Read until the server closes; return the close code."""
    while True:
        output = await communicator.receive_output(timeout=RECEIVE_TIMEOUT)
        if output["type"] == "websocket.close":
            return output.get("code", 1000)


async def open_sockets(
    sockets: dict[str, tuple[str, str | None]],
) -> dict[str, WebsocketCommunicator]:
    """``{name: (host, cookie)}`` → ``{name: communicator}``, all connected,
    with the presence chatter of the connects drained."""
    out = {}
    for name, (host, cookie) in sockets.items():
        connected, out[name] = await connect(host, cookie)
        assert connected, name
    for communicator in out.values():
        await receive_all(communicator, timeout=0.1)
    return out


#: Silence that ends a drain: generous, because the suite shares a busy
#: machine and a late event must not read as "nothing arrived".
DRAIN_TIMEOUT = 1.0


async def drain_each(
    communicators: dict[str, WebsocketCommunicator], *, skip: tuple[str, ...] = SKIP
) -> dict[str, list[dict[str, Any]]]:
    """Every message (minus ``skip`` types) each socket got until silence
    (all sockets drained concurrently)."""
    import asyncio

    names = list(communicators)
    drained = await asyncio.gather(
        *(receive_all(communicators[n], timeout=DRAIN_TIMEOUT) for n in names)
    )
    return {
        name: [m for m in messages if m.get("type") not in skip]
        for name, messages in zip(names, drained, strict=True)
    }


async def close_all(communicators: dict[str, WebsocketCommunicator]) -> None:
    for communicator in communicators.values():
        await communicator.disconnect()


async def acookie(user: User, host: str = "acme.localhost") -> str:
    """``cookie_for`` from async code (it writes a session)."""
    from channels.db import database_sync_to_async

    return await database_sync_to_async(cookie_for)(user, host)


async def presence_until(
    watcher: WebsocketCommunicator, user: str, state: str, *, since: float, within: float = 5.0
) -> tuple[list[tuple[str, str]], float]:
    """The presence changes of ``user`` that ``watcher`` sees until one says
    ``state`` (or ``within`` seconds after ``since``, a ``time.monotonic()``),
    and how many seconds after ``since`` that change arrived (``inf`` if it
    never did). Polls with ``receive_nothing``: a ``receive_output`` that
    times out cancels the watcher's application."""
    import json
    import time

    seen: list[tuple[str, str]] = []
    while time.monotonic() < since + within:
        if await watcher.receive_nothing(timeout=0.05, interval=0.01):
            continue
        output = await watcher.receive_output(timeout=RECEIVE_TIMEOUT)
        if output["type"] != "websocket.send":
            break  # the watcher was closed
        message = json.loads(output["text"])
        if message.get("type") != "presence":
            continue
        seen += [(u["user"], u["state"]) for u in message["data"]["users"] if u["user"] == user]
        if seen and seen[-1][1] == state:
            return seen, time.monotonic() - since
    return seen, float("inf")


async def socket_channels(schema_name: str, user_id: UUID | str) -> list[str]:
    """The channel names of ``user_id``'s live sockets in the organization,
    read from presence (each socket's entry is keyed by its channel name), so
    a test can address one socket of several through the channel layer."""
    from . import presence

    client = presence._async_client()
    raw = await client.hkeys(presence._key(schema_name, "sockets", str(user_id)))
    return sorted(k.decode() if isinstance(k, bytes) else k for k in raw)


def run_with_sockets(
    sockets: dict[str, tuple[str, str | None]], action: Callable[[], _T]
) -> tuple[_T, dict[str, list[dict[str, Any]]]]:
    """Open the sockets (``{name: (host, cookie)}``), run ``action`` (sync, on
    the test's database connection), return its result and what each socket
    received (presence chatter excluded)."""

    @async_to_sync
    async def scenario() -> tuple[_T, dict[str, list[dict[str, Any]]]]:
        communicators = await open_sockets(sockets)
        try:
            result = await database_sync_to_async(action)()
            return result, await drain_each(communicators)
        finally:
            await close_all(communicators)

    return scenario()


def expect_on_sockets(
    sockets: dict[str, tuple[str, str | None]],
    action: Callable[[], object],
    expect: dict[str, bool],
) -> dict[str, Any]:
    """Open ``{name: (host, cookie)}``, run ``action`` (sync, on the test's
    database connection), then collect one message from each socket that
    ``expect``s one and assert the others receive nothing. ``"result"`` is
    what ``action`` returned."""

    @async_to_sync
    async def scenario() -> dict[str, Any]:
        communicators: dict[str, WebsocketCommunicator] = {}
        for name, (host, cookie) in sockets.items():
            connected, communicators[name] = await connect(host, cookie)
            assert connected
        received: dict[str, Any] = {"result": await database_sync_to_async(action)()}
        try:
            for name, communicator in communicators.items():
                if expect[name]:
                    received[name] = await receive(communicator)
                else:
                    assert await receives_nothing(communicator)
        finally:
            for communicator in communicators.values():
                await communicator.disconnect()
        return received

    return scenario()
