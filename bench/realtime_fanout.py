"""Fan-out: one chat message to a channel with 200 connected member sockets.

    .venv/bin/python -m bench.realtime_fanout [--members 200 --messages 50]

One uvicorn process (config.asgi, one worker) on real PostgreSQL and Redis;
``--members`` sockets (``websockets`` client, one per member, ticket auth) in
this process. A member posts ``--messages`` messages over HTTP
(``POST /api/v1/chat/channels/{id}/messages/``, token auth), one at a time,
to a public channel (one group send to the organization group) and to a
private channel listing every member (one group send per member: the
expensive audience). For every socket and message we record:

* ``post_to_socket``: from just before the HTTP request is sent until the
  socket has the event (includes the request itself: auth, insert, commit);
* ``commit_to_socket``: from the message's ``created_at`` (server clock, same
  machine) until the socket has it: the fan-out alone, plus the commit.

Goal (issue #7): p99 delivery ≤ 100 ms. Results: stdout and
var/bench/realtime_fanout.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import datetime
from typing import Any

from bench.common import RESULTS, summary, write_result
from bench.realtime_common import HOST, Server, open_socket, setup, tickets


class Arrivals:
    """When each socket got each message; wakes the sender when all did."""

    def __init__(self, sockets: int) -> None:
        self.sockets = sockets
        self.times: dict[str, list[float]] = {}
        self.done: dict[str, asyncio.Event] = {}
        self.closed: list[Any] = []

    def expect(self, message_id: str) -> asyncio.Event:
        self.times.setdefault(message_id, [])
        return self.done.setdefault(message_id, asyncio.Event())

    def arrived(self, message_id: str, at: float) -> None:
        times = self.times.setdefault(message_id, [])
        times.append(at)
        if len(times) >= self.sockets:
            self.done.setdefault(message_id, asyncio.Event()).set()


async def _reader(ws: Any, arrivals: Arrivals) -> None:
    from websockets.exceptions import ConnectionClosed

    try:
        async for raw in ws:
            now = time.time()
            event = json.loads(raw)
            if event.get("type") == "chat.message" and event.get("op") == "created":
                arrivals.arrived(event["data"]["id"], now)
    except ConnectionClosed as closed:
        arrivals.closed.append(closed.rcvd.code if closed.rcvd else "no close frame")
    else:
        arrivals.closed.append(ws.close_code)


async def run(port: int, org: Any, channels: dict[str, str], token: str, messages: int) -> dict:
    import httpx

    t0 = time.perf_counter()
    sockets = []
    for i, user_id in enumerate(org.user_ids):  # in sequence: a realistic ramp
        [ticket] = tickets(org, [user_id])  # just in time: tickets live 60 s
        sockets.append(await open_socket(port, ticket))
        if (i + 1) % 50 == 0:
            print(f"{i + 1} sockets open", flush=True)
    connect_s = time.perf_counter() - t0
    arrivals = Arrivals(len(sockets))
    readers = [asyncio.create_task(_reader(ws, arrivals)) for ws in sockets]
    await asyncio.sleep(3)  # let the presence chatter of the ramp settle
    results: dict[str, Any] = {"sockets": len(sockets), "connect_seconds": round(connect_s, 2)}
    headers = {"Host": f"{HOST}:{port}", "Authorization": f"Token {token}"}
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60
    ) as http:
        for channel_id in channels.values():  # warm-up: first requests load code
            for _ in range(3):
                await http.post(
                    f"/api/v1/chat/channels/{channel_id}/messages/", json={"body": "warm-up"}
                )
        await asyncio.sleep(1)
        for name, channel_id in channels.items():
            post_ms, commit_ms, late = [], [], 0
            sent_at: dict[str, tuple[float, float]] = {}
            for i in range(messages):
                sent = time.time()
                response = await http.post(
                    f"/api/v1/chat/channels/{channel_id}/messages/", json={"body": f"{name} {i}"}
                )
                assert response.status_code == 201, response.text
                body = response.json()
                created = datetime.fromisoformat(body["created_at"].replace("Z", "+00:00"))
                sent_at[body["id"]] = (sent, created.timestamp())
                try:
                    await asyncio.wait_for(arrivals.expect(body["id"]).wait(), 10)
                except TimeoutError:
                    late += 1
                await asyncio.sleep(0.1)
            await asyncio.sleep(2)  # stragglers
            missing = 0
            for message_id, (sent, created_ts) in sent_at.items():
                times = arrivals.times.get(message_id, [])
                missing += len(sockets) - len(times)
                post_ms += [(t - sent) * 1000 for t in times]
                commit_ms += [(t - created_ts) * 1000 for t in times]
            results[name] = {
                "messages": messages,
                "deliveries": len(post_ms),
                "missing": missing,
                "messages_not_complete_within_10s": late,
                "post_to_socket": summary(post_ms) | {"p99_ms": round(_pct(post_ms, 99), 2)},
                "commit_to_socket": summary(commit_ms) | {"p99_ms": round(_pct(commit_ms, 99), 2)},
            }
            print(name, json.dumps(results[name], indent=1), flush=True)
    results["sockets_closed_during_run"] = len(arrivals.closed)
    results["close_codes"] = arrivals.closed[:10]
    for task in readers:
        task.cancel()
    for ws in sockets:
        await ws.close()
    return results


def _pct(values: list[float], pct: float) -> float:
    from bench.common import percentile

    return percentile(values, pct)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument(
        "--layer",
        choices=["core", "pubsub"],
        default="core",
        help="core: the configured RedisChannelLayer; pubsub: RedisPubSubChannelLayer",
    )
    args = parser.parse_args()

    org = setup(args.members)
    from django_tenants.utils import tenant_context

    from apps.chat.models import Channel, ChannelMember
    from apps.iam.models import User
    from apps.iam.tokens import token_create

    with tenant_context(org.tenant):
        public = Channel.objects.create(name="general", kind="public")
        private = Channel.objects.create(name="team", kind="private")
        ChannelMember.objects.bulk_create(
            [ChannelMember(channel=private, user_id=u) for u in org.user_ids]
        )
    _, token = token_create(user=User.objects.get(pk=org.user_ids[0]))
    RESULTS.mkdir(parents=True, exist_ok=True)
    settings = "bench.realtime_settings_pubsub" if args.layer == "pubsub" else "config.settings.dev"
    server = Server(
        org, log=RESULTS / f"realtime_fanout_{args.layer}.server.log", settings=settings
    )
    try:
        results = asyncio.run(
            run(
                server.port,
                org,
                {"public_channel": str(public.pk), "private_channel_200_members": str(private.pk)},
                token,
                args.messages,
            )
        )
        results["server_rss_mb"] = round(server.rss_mb(), 1)
    finally:
        server.stop()
    results["parameters"] = vars(args)
    print(write_result(f"realtime_fanout_{args.layer}", results))


if __name__ == "__main__":
    main()
