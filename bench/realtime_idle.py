"""Idle sockets: 1,000 concurrent sockets held by ONE server process.

    .venv/bin/python -m bench.realtime_idle [--sockets 1000 --seconds 300]

One uvicorn process (config.asgi, one worker) on real PostgreSQL and Redis;
``--sockets`` members each open one socket (``websockets`` client, ticket
auth, 20 connects in flight) and then sit idle the way a real client does:
a ``presence.heartbeat`` every 30 s (jittered) and the protocol pings of both
libraries, nothing else. During the hold the server's RSS is sampled every
5 s; any socket the server closes or drops is counted. At the end every
socket must still answer ``ping`` with ``pong``.

Goals (issue #7): RSS ≤ 1 GB, 0 dropped after 5 minutes. Results: stdout and
var/bench/realtime_idle.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import time
from typing import Any

from bench.common import RESULTS, write_result
from bench.realtime_common import Server, open_socket, setup, tickets

HEARTBEAT_SECONDS = 30


class Client:
    def __init__(self, ws: Any, ticket_age: float) -> None:
        self.ws = ws
        self.ticket_age = ticket_age  # seconds from ticket issue to socket open
        self.closed: Any = None  # close code when the server dropped us
        self.closed_at: float | None = None
        self.received = 0
        self.pongs: asyncio.Queue[float] = asyncio.Queue()

    async def read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for raw in self.ws:
                self.received += 1
                if json.loads(raw).get("type") == "pong":
                    self.pongs.put_nowait(time.time())
        except ConnectionClosed as closed:
            self.closed = closed.rcvd.code if closed.rcvd else "no close frame"
        else:
            self.closed = self.ws.close_code
        self.closed_at = time.time()

    async def heartbeat(self, stop: asyncio.Event) -> None:
        await asyncio.sleep(random.uniform(0, HEARTBEAT_SECONDS))
        while not stop.is_set() and self.closed is None:
            try:
                await self.ws.send(json.dumps({"type": "presence.heartbeat", "state": "active"}))
            except Exception:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), HEARTBEAT_SECONDS)


async def run(server: Server, org: Any, seconds: int) -> dict[str, Any]:
    baseline = server.rss_mb()
    semaphore = asyncio.Semaphore(20)
    failed_to_open: list[str] = []

    async def opened(user_id: Any) -> Client | None:
        async with semaphore:
            try:
                [ticket] = tickets(org, [user_id])  # just in time: tickets live 60 s
                issued = time.time()
                ws = await open_socket(server.port, ticket)
                return Client(ws, time.time() - issued)
            except Exception as error:
                failed_to_open.append(repr(error))
                return None

    t0 = time.perf_counter()
    clients = [c for c in await asyncio.gather(*(opened(u) for u in org.user_ids)) if c]
    ramp = time.perf_counter() - t0
    stop = asyncio.Event()
    tasks = [asyncio.create_task(c.read()) for c in clients]
    tasks += [asyncio.create_task(c.heartbeat(stop)) for c in clients]
    after_ramp = server.rss_mb()
    samples = []
    hold_start = time.time()
    while time.time() - hold_start < seconds:
        await asyncio.sleep(5)
        samples.append((round(time.time() - hold_start), round(server.rss_mb(), 1)))
        dropped = sum(1 for c in clients if c.closed is not None)
        print(f"t={samples[-1][0]:>4}s rss={samples[-1][1]} MB dropped={dropped}", flush=True)
    # closed before the hold began = refused at open (auth), not dropped
    refused = [c for c in clients if c.closed_at is not None and c.closed_at < hold_start]
    dropped = [c.closed for c in clients if c.closed is not None and c not in refused]
    # every socket still there must answer a ping
    for c in clients:
        if c.closed is None:
            await c.ws.send(json.dumps({"type": "ping"}))
    answered = 0
    for c in clients:
        if c.closed is None:
            try:
                await asyncio.wait_for(c.pongs.get(), 30)
                answered += 1
            except TimeoutError:
                pass
    stop.set()
    final = server.rss_mb()
    for c in clients:
        await c.ws.close()
    for task in tasks:
        task.cancel()
    return {
        "sockets_requested": len(org.user_ids),
        "sockets_opened": len(clients),
        "failed_to_open": len(failed_to_open),
        "open_errors": failed_to_open[:5],
        "ramp_seconds": round(ramp, 1),
        "hold_seconds": seconds,
        "refused_at_open": len(refused),
        "refused_codes": [c.closed for c in refused][:10],
        "refused_ticket_age_seconds": sorted(round(c.ticket_age, 1) for c in refused)[:10],
        "max_ticket_age_seconds": round(max(c.ticket_age for c in clients), 1),
        "dropped": len(dropped),
        "dropped_codes": dropped[:10],
        "answered_ping_at_end": answered,
        "rss_mb": {
            "before_sockets": round(baseline, 1),
            "after_ramp": round(after_ramp, 1),
            "peak": max([s[1] for s in samples] + [after_ramp]),
            "end": round(final, 1),
        },
        "rss_kb_per_socket": round(
            (max([s[1] for s in samples] + [after_ramp]) - baseline) * 1024 / max(1, len(clients)),
            1,
        ),
        "messages_received_by_clients": sum(c.received for c in clients),
        "rss_samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=300)
    args = parser.parse_args()

    org = setup(args.sockets)
    RESULTS.mkdir(parents=True, exist_ok=True)
    server = Server(org, log=RESULTS / "realtime_idle.server.log")
    try:
        results = asyncio.run(run(server, org, args.seconds))
    finally:
        server.stop()
    results["parameters"] = vars(args)
    print(json.dumps({k: v for k, v in results.items() if k != "rss_samples"}, indent=1))
    print(write_result("realtime_idle", results))


if __name__ == "__main__":
    main()
