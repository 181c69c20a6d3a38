"""Presence over real sockets and real Redis: several sockets per user,
heartbeats, crash expiry, the list endpoint, organization isolation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from apps.common.testing import expect
from apps.organizations.tests.factories import MembershipFactory, client_as
from apps.websocket_server import presence
from apps.websocket_server.groups import user_group
from apps.websocket_server.testing import (
    ACME,
    acookie,
    close_all,
    close_code,
    connect,
    presence_until,
    receive,
    receive_all,
    receives_nothing,
    socket_channels,
)

# Imported here, not on the first connect: its django.setup() reconfigures
# logging, which would drop caplog's handler in the middle of a test.
from config import asgi  # noqa: F401

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("keep_test_transaction", "short_presence_batches"),
]


def presence_events(messages: list[dict]) -> list[tuple[str, str]]:
    """(user, state) of every presence change, in order."""
    return [
        (u["user"], u["state"])
        for m in messages
        if m["type"] == "presence"
        for u in m["data"]["users"]
    ]


def test_several_sockets_heartbeats_and_leaving(tenant):
    alice, bob = MembershipFactory(organization=tenant), MembershipFactory(organization=tenant)
    a = str(alice.user_id)

    @async_to_sync
    async def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        _, watcher = await connect(ACME, await acookie(bob.user))
        await receive_all(watcher)
        _, first = await connect(ACME, await acookie(alice.user))
        seen["first_connect"] = presence_events(await receive_all(watcher, timeout=1.0))
        _, second = await connect(ACME, await acookie(alice.user))
        seen["second_connect"] = presence_events(await receive_all(watcher, timeout=1.0))
        await second.send_json_to({"type": "presence.heartbeat", "state": "away"})
        seen["one_away"] = presence_events(
            await receive_all(watcher, timeout=1.0)
        )  # first still active
        await first.send_json_to({"type": "presence.heartbeat", "state": "away"})
        seen["both_away"] = presence_events(await receive_all(watcher, timeout=1.0))
        await first.send_json_to({"type": "presence.heartbeat", "state": "sleepy"})
        seen["bad_state"] = [
            m["code"] for m in await receive_all(first, timeout=1.0) if m["type"] == "error"
        ]
        await first.disconnect()
        seen["first_gone"] = presence_events(await receive_all(watcher, timeout=1.0))
        await second.send_json_to({"type": "ping"})  # ping refreshes, keeps "away"
        seen["ping"] = presence_events(await receive_all(watcher, timeout=1.0))
        await second.disconnect()
        seen["second_gone"] = presence_events(await receive_all(watcher, timeout=1.0))
        await close_all({"watcher": watcher})
        return seen

    seen = scenario()
    assert seen == {
        "first_connect": [(a, "online")],
        "second_connect": [],
        "one_away": [],
        "both_away": [(a, "away")],
        "bad_state": ["invalid_message"],
        "first_gone": [],
        "ping": [],
        "second_gone": [(a, "offline")],
    }


def test_presence_list_endpoint_and_crash_expiry(tenant):
    alice = MembershipFactory(organization=tenant)
    bob = MembershipFactory(organization=tenant)
    viewer = client_as(tenant, "viewer")
    schema = tenant.schema_name

    @async_to_sync
    async def seen_long_ago() -> None:
        # a socket on a server that crashed 100 s ago: it never said goodbye
        change = await presence.socket_seen(
            schema_name=schema,
            user_id=bob.user_id,
            socket="specific.crashed!1",
            state="active",
            now=time.time() - 100,
        )
        assert change.changed and change.state == "online"

    seen_long_ago()
    # expired entries do not count, swept or not
    rows = expect(viewer.get("/api/v1/realtime/presence/"), 200)["results"]
    assert {r["user"]: r["state"] for r in rows}[str(bob.user_id)] == "offline"
    # the sweep announces the crashed user's offline exactly once
    changes = presence.sweep_sync(schema_name=schema)
    assert [(c.user_id, c.state) for c in changes] == [(str(bob.user_id), "offline")]
    assert presence.sweep_sync(schema_name=schema) == []

    @async_to_sync
    async def with_alice_connected() -> list[dict]:
        _, socket = await connect(ACME, await acookie(alice.user))
        try:
            await receive_all(socket)
            body = await database_sync_to_async(viewer.get)("/api/v1/realtime/presence/")
            return expect(body, 200)["results"]
        finally:
            await socket.disconnect()

    rows = {r["user"]: (r["state"], r["sockets"]) for r in with_alice_connected()}
    assert rows == {
        str(alice.user_id): ("online", 1),
        str(bob.user_id): ("offline", 0),
        str(viewer.user.pk): ("offline", 0),
    }


def test_sweep_from_a_live_socket_announces_expired_users(tenant):
    alice, bob = MembershipFactory(organization=tenant), MembershipFactory(organization=tenant)

    @async_to_sync
    async def scenario() -> list[tuple[str, str]]:
        await presence.socket_seen(
            schema_name=tenant.schema_name,
            user_id=bob.user_id,
            socket="specific.crashed!2",
            state="active",
            now=time.time() - 100,
        )
        # alice's connect runs the sweep (its first heartbeat)
        _, socket = await connect(ACME, await acookie(alice.user))
        try:
            return presence_events(await receive_all(socket, timeout=1.0))
        finally:
            await socket.disconnect()

    assert sorted(scenario()) == sorted(
        [(str(alice.user_id), "online"), (str(bob.user_id), "offline")]
    )


def test_presence_never_crosses_organizations(tenant, other_tenant):
    both = MembershipFactory(organization=tenant)
    MembershipFactory(organization=other_tenant, user=both.user)
    globex_watcher = MembershipFactory(organization=other_tenant)

    @async_to_sync
    async def scenario() -> bool:
        _, watcher = await connect(
            "globex.localhost", await acookie(globex_watcher.user, "globex.localhost")
        )
        await receive_all(watcher)
        _, acme_socket = await connect(ACME, await acookie(both.user))
        try:
            return await receives_nothing(watcher, skip=())
        finally:
            await close_all({"a": acme_socket, "w": watcher})

    assert scenario()
    rows = client_as(other_tenant, globex_watcher).get("/api/v1/realtime/presence/").json()
    states = {r["user"]: r["state"] for r in rows["results"]}
    assert states[str(both.user_id)] == "offline"  # online in acme only


def test_presence_list_needs_membership(tenant):
    expect(client_as(tenant, None).get("/api/v1/realtime/presence/"), 401)
    expect(client_as(tenant, "outsider").get("/api/v1/realtime/presence/"), 403, "not_a_member")


# --- a socket that dies ---------------------------------------------------------------
#
# A socket that closes normally has always left presence at once. One that
# died of an exception or was cancelled by the server used to stay "online"
# until its entry expired (75 s): nothing ran the leave.

#: A layer message the consumer cannot handle (``event.message`` without its
#: ``event``): a server-side handler that raises.
BROKEN_EVENT = {"type": "event.message"}
PROMPT_SECONDS = 2.0


async def _goes_offline(
    alice: Any, bob: Any, act: Callable[[Any], Awaitable[Any]]
) -> tuple[Any, list[tuple[str, str]], float, Any]:
    """``bob`` watches presence while ``alice``'s socket is open; ``act(socket)``
    ends that socket somehow. Returns what ``act`` returned, the presence
    changes ``bob`` saw until ``alice`` went offline, the seconds that took
    (from just before ``act``) and ``alice``'s socket."""
    _, watcher = await connect(ACME, await acookie(bob.user))
    _, socket = await connect(ACME, await acookie(alice.user))
    await receive_all(watcher, timeout=0.5)
    try:
        since = time.monotonic()
        result = await act(socket)
        states, elapsed = await presence_until(watcher, str(alice.user_id), "offline", since=since)
        return result, states, elapsed, socket
    finally:
        await watcher.disconnect()


def test_a_socket_that_dies_of_a_server_error_closes_1011_and_drops_presence(tenant):
    alice, bob = MembershipFactory(organization=tenant), MembershipFactory(organization=tenant)

    async def break_it(socket: Any) -> int:
        await get_channel_layer().group_send(
            user_group(tenant.schema_name, alice.user_id), BROKEN_EVENT
        )
        return await close_code(socket)

    code, states, elapsed, _ = async_to_sync(_goes_offline)(alice, bob, break_it)
    assert code == 1011
    assert states == [(str(alice.user_id), "offline")]
    assert elapsed < PROMPT_SECONDS


def test_a_user_with_another_socket_stays_online_when_one_dies(tenant):
    alice, bob = MembershipFactory(organization=tenant), MembershipFactory(organization=tenant)
    a = str(alice.user_id)
    viewer = client_as(tenant, "viewer")

    @async_to_sync
    async def scenario() -> tuple[int, bool, list[dict]]:
        _, watcher = await connect(ACME, await acookie(bob.user))
        _, first = await connect(ACME, await acookie(alice.user))
        [first_channel] = await socket_channels(tenant.schema_name, alice.user_id)
        _, second = await connect(ACME, await acookie(alice.user))
        await receive_all(watcher, timeout=0.5)
        try:
            await get_channel_layer().send(first_channel, BROKEN_EVENT)
            code = await close_code(first)
            quiet = await receives_nothing(watcher, skip=(), timeout=1.0)
            body = await database_sync_to_async(viewer.get)("/api/v1/realtime/presence/")
            await second.send_json_to({"type": "ping"})
            assert (await receive(second)) == {"type": "pong"}
            return code, quiet, expect(body, 200)["results"]
        finally:
            await close_all({"w": watcher, "s": second})

    code, quiet, rows = scenario()
    assert code == 1011
    assert quiet  # no presence change: alice is still online
    assert {r["user"]: (r["state"], r["sockets"]) for r in rows}[a] == ("online", 1)


def test_presence_drops_promptly_on_an_abnormal_disconnect(tenant):
    """The client vanishes (1006, no close frame): the server's
    ``websocket.disconnect`` leaves presence at once."""
    alice, bob = MembershipFactory(organization=tenant), MembershipFactory(organization=tenant)

    async def vanish(socket: Any) -> None:
        await socket.disconnect(code=1006)

    _, states, elapsed, _ = async_to_sync(_goes_offline)(alice, bob, vanish)
    assert states == [(str(alice.user_id), "offline")]
    assert elapsed < PROMPT_SECONDS


def test_presence_drops_when_the_server_cancels_the_socket(tenant):
    """The ASGI server cancels the application (shutdown, a timeout): the
    consumer leaves presence on its way out."""
    alice, bob = MembershipFactory(organization=tenant), MembershipFactory(organization=tenant)

    async def cancel(socket: Any) -> None:
        socket.future.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await socket.future

    _, states, elapsed, _ = async_to_sync(_goes_offline)(alice, bob, cancel)
    assert states == [(str(alice.user_id), "offline")]
    assert elapsed < PROMPT_SECONDS


async def _push_a_task_event(tenant: Any, user_id: Any, socket: Any) -> None:
    await get_channel_layer().group_send(
        user_group(tenant.schema_name, user_id),
        {"type": "event.message", "event": {"type": "task", "op": "updated", "data": {}}},
    )


async def _ping(tenant: Any, user_id: Any, socket: Any) -> None:
    await socket.send_json_to({"type": "ping"})


@pytest.mark.parametrize(
    ("refused", "trigger"),
    [("task", _push_a_task_event), ("pong", _ping)],
    ids=["event-pushed-by-the-server", "answer-to-the-clients-ping"],
)
def test_a_client_gone_while_the_server_sends_leaves_quietly(
    tenant, monkeypatch, caplog, refused, trigger
):
    """The server's send is refused because the client just went away
    (uvicorn's ClientDisconnected, an OSError): routine, so no error is logged,
    and the socket's presence is dropped at once even if its disconnect is
    never handled. Both for an event the server pushes and for the answer to
    the client's own frame (whose handler's catch-all used to take the
    OSError for a server fault, logging an ERROR with traceback)."""
    from uvicorn.protocols.utils import ClientDisconnected

    from apps.websocket_server.consumers import TenantSocketConsumer

    alice, bob = MembershipFactory(organization=tenant), MembershipFactory(organization=tenant)
    a = str(alice.user_id)
    real_send_json = TenantSocketConsumer.send_json

    async def send_json(self: Any, content: Any, close: bool = False) -> None:
        if content.get("type") == refused and self.user_id == a:
            raise ClientDisconnected()
        await real_send_json(self, content, close=close)

    monkeypatch.setattr(TenantSocketConsumer, "send_json", send_json)

    @async_to_sync
    async def scenario() -> tuple[bool, list[tuple[str, str]], float]:
        async def send(socket: Any) -> None:
            await trigger(tenant, alice.user_id, socket)

        _, states, elapsed, socket = await _goes_offline(alice, bob, send)
        await asyncio.wait_for(asyncio.shield(socket.future), timeout=3)
        return socket.future.done(), states, elapsed

    with caplog.at_level(logging.INFO, logger="apps.websocket_server.consumers"):
        ended, states, elapsed = scenario()
    assert ended
    assert states == [(a, "offline")]
    assert elapsed < PROMPT_SECONDS
    assert [r.levelname for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert any("gone during" in r.getMessage() for r in caplog.records)
