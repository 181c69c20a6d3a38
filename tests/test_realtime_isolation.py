"""Tenant isolation of concurrently running sockets, rate limits, and
resilience when Redis is unreachable."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels_redis.core import RedisChannelLayer
from django.db import connection
from django_tenants.utils import tenant_context

from apps.chat.models import Message
from apps.chat.tests.factories import ChannelFactory, ChannelMemberFactory
from apps.common.testing import expect
from apps.organizations.tests.factories import MembershipFactory, client_as
from apps.websocket_server.publisher import publisher
from apps.websocket_server.testing import (
    ACME,
    GLOBEX,
    acookie,
    close_all,
    close_code,
    connect,
    drain_each,
    open_sockets,
    receive,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keep_test_transaction")]


def test_interleaved_sockets_of_two_organizations_never_see_each_others_schema(
    tenant, other_tenant, commit
):
    """One user in both organizations types in ten channels of each, from two
    sockets at once: every visibility check runs on the shared database thread,
    interleaved. Each must run in its own organization's schema (a channel id
    of the other organization is unknown there), and each audience hears only
    its own organization's channels. A chat message of acme then reaches the
    acme socket of that user and not the globex one."""
    both = MembershipFactory(organization=tenant)
    MembershipFactory(organization=other_tenant, user=both.user)
    acme_peer = MembershipFactory(organization=tenant)
    globex_peer = MembershipFactory(organization=other_tenant)
    channels: dict[str, list[str]] = {}
    for org, peer in ((tenant, acme_peer), (other_tenant, globex_peer)):
        with tenant_context(org):
            ids = []
            for i in range(10):
                channel = ChannelFactory(kind="private", name=f"{org.slug}-{i}")
                for user_id in (both.user_id, peer.user_id):
                    ChannelMemberFactory(channel=channel, user_id=user_id)
                ids.append(str(channel.pk))
            channels[org.slug] = ids

    def post_in_acme() -> None:
        with commit(), tenant_context(tenant):
            expect(
                client_as(tenant, both).post(
                    f"/api/v1/chat/channels/{channels['acme'][0]}/messages/", {"body": "acme only"}
                ),
                201,
            )

    @async_to_sync
    async def scenario() -> tuple[dict[str, list[dict]], dict[str, list[dict]]]:
        sockets = await open_sockets(
            {
                "both_acme": (ACME, await acookie(both.user)),
                "both_globex": (GLOBEX, await acookie(both.user, GLOBEX)),
                "acme_peer": (ACME, await acookie(acme_peer.user)),
                "globex_peer": (GLOBEX, await acookie(globex_peer.user, GLOBEX)),
            }
        )
        try:

            async def type_in(name: str, ids: list[str]) -> None:
                for channel_id in ids:
                    await sockets[name].send_json_to({"type": "chat.typing", "channel": channel_id})
                    await asyncio.sleep(0)

            await asyncio.gather(
                type_in("both_acme", channels["acme"]),
                type_in("both_globex", channels["globex"]),
                # the other organization's ids: unknown in this schema
                type_in("acme_peer", channels["globex"][:3]),
                type_in("globex_peer", channels["acme"][:3]),
            )
            typing = await drain_each(sockets)
            await database_sync_to_async(post_in_acme)()
            after = await drain_each(sockets)
            return typing, after
        finally:
            await close_all(sockets)

    typing, after = scenario()

    def channel_ids(messages: list[dict], kind: str) -> list[str]:
        return [m["data"]["channel"] for m in messages if m["type"] == kind]

    assert sorted(channel_ids(typing["acme_peer"], "chat.typing")) == sorted(channels["acme"])
    assert sorted(channel_ids(typing["globex_peer"], "chat.typing")) == sorted(channels["globex"])
    assert [m.get("code") for m in typing["acme_peer"] if m["type"] == "error"] == [
        "unknown_channel"
    ] * 3
    assert [m.get("code") for m in typing["globex_peer"] if m["type"] == "error"] == [
        "unknown_channel"
    ] * 3
    assert typing["both_acme"] == [] and typing["both_globex"] == []
    assert [m["data"]["body"] for m in after["both_acme"]] == ["acme only"]
    assert after["both_globex"] == [] and after["globex_peer"] == []
    assert connection.schema_name == "public"  # the shared connection was put back


def test_per_socket_rate_limit_errors_then_closes_4429(tenant):
    """Valid messages only: refused frames have their own, lower limit (4400,
    tests/test_realtime_frames.py)."""
    member = MembershipFactory(organization=tenant)

    @async_to_sync
    async def scenario() -> tuple[list[str], int]:
        _, socket = await connect(ACME, await acookie(member.user))
        for _ in range(120):
            await socket.send_json_to({"type": "ping"})
        answers = []
        while True:
            output = await socket.receive_output(timeout=3)
            if output["type"] == "websocket.close":
                return answers, output["code"]
            import json

            message = json.loads(output["text"])
            if message["type"] == "error":
                answers.append(message["code"])
            elif message["type"] == "pong":
                answers.append("pong")

    answers, close = scenario()
    assert close == 4429
    # the burst is answered normally, then one rate_limited warning
    assert answers.count("rate_limited") == 1
    assert answers[-1] == "rate_limited"
    assert 25 <= answers.count("pong") <= 40


def test_ticket_issuance_is_throttled(tenant, monkeypatch):
    from rest_framework.throttling import ScopedRateThrottle

    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"realtime_ticket": "3/min"})
    client = client_as(tenant, "member")
    for _ in range(3):
        expect(client.post("/api/v1/realtime/ticket/"), 201)
    body = expect(client.post("/api/v1/realtime/ticket/"), 429, "throttled")
    assert body["retry_after_seconds"] > 0


def test_http_writes_succeed_when_redis_is_down(tenant, monkeypatch, commit, caplog):
    """The channel layer points at a port where nothing listens: posting a
    message still answers 201 and saves it; the event is logged as failed."""
    dead = RedisChannelLayer(hosts=["redis://127.0.0.1:1/0"])
    monkeypatch.setattr("apps.websocket_server.events.get_channel_layer", lambda: dead)
    with tenant_context(tenant):
        channel = ChannelFactory(name="general")
        client = client_as(tenant, "member")
        with caplog.at_level(logging.ERROR, logger="apps.websocket_server.events"):
            with commit():
                body = expect(
                    client.post(
                        f"/api/v1/chat/channels/{channel.pk}/messages/", {"body": "still here"}
                    ),
                    201,
                )
            # The send runs on the publisher's thread: wait for its outcome.
            assert publisher.flush(10)
        assert Message.objects.get(pk=body["id"]).body == "still here"
    assert any("not sent to group" in r.getMessage() for r in caplog.records)


def test_sockets_survive_a_failing_layer_receive(tenant, monkeypatch):
    """A Redis read timeout or a dropped connection in the layer's receive
    (routine: see the consumer's ``__call__``) does not close the socket."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    member = MembershipFactory(organization=tenant)
    real_receive = RedisChannelLayer.receive
    failures = [RedisTimeoutError("Timeout reading"), RedisConnectionError("gone")]

    async def flaky_receive(self: Any, channel: str) -> Any:
        if failures:
            raise failures.pop(0)
        return await real_receive(self, channel)

    monkeypatch.setattr(RedisChannelLayer, "receive", flaky_receive)

    @async_to_sync
    async def scenario() -> tuple[dict, bool]:
        _, socket = await connect(ACME, await acookie(member.user))
        await socket.send_json_to({"type": "ping"})
        pong = await receive(socket)
        await asyncio.sleep(0.3)
        await socket.send_json_to({"type": "ping"})
        alive = await receive(socket) == {"type": "pong"}
        await socket.disconnect()
        return pong, alive and not failures

    assert scenario() == ({"type": "pong"}, True)


def test_evicted_socket_stops_receiving(tenant):
    """After an eviction the socket has left its groups (no later event)."""
    member = MembershipFactory(organization=tenant)
    from apps.websocket_server.events import evict_sockets
    from apps.websocket_server.groups import user_group

    @async_to_sync
    async def scenario() -> int:
        _, socket = await connect(ACME, await acookie(member.user))
        await database_sync_to_async(evict_sockets)(
            groups=[user_group(tenant.schema_name, member.user_id)], code=4403, reason="test"
        )
        return await close_code(socket)

    assert scenario() == 4403
