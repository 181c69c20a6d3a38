"""Timer start/stop and heartbeat under 50 concurrent clients over real HTTP.

    .venv/bin/python -m bench.timer_load [--clients 50] [--rounds 20] [--workers 2]

A fresh bench database with one organization, ``--clients`` members (one
token each) and a project; ``uvicorn bench.timer_asgi:app`` (config.asgi plus
a ``Server-Timing`` header, dev settings, real PostgreSQL and Redis) on
loopback. Each client loops ``--rounds`` times: ``POST /timer/start/``,
``POST /activity/heartbeat/``, ``POST /timer/stop/`` (closed loop, no think
time: the worst case for queueing; ``--repeat N`` runs it N times on the
same server and reports the median of the p95s too). Reported per endpoint: server time
(``app``: inside DRF dispatch; ``cpu``: the request thread's CPU time there;
``asgi``: including middleware and the wait for a free worker thread), SQL
statements per request, and client latency, p50/p95; plus a one-client
run as the unloaded baseline, and a paced run: the same 50 clients with a
random pause (mean ``--think`` s) between requests, as desktop clients of
people at work behave. Results: stdout and var/bench/timer_load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import random
import socket
import statistics
import subprocess
import time
from collections import defaultdict
from typing import Any

from bench.common import ROOT, prepare_database, summary, write_result

ENDPOINTS = ("timer_start", "heartbeat", "timer_stop")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _seed(n_clients: int) -> tuple[str, str, list[str]]:
    """Organization ``bench``, ``n_clients`` members with tokens, one project."""
    from django_tenants.utils import tenant_context

    from apps.iam.models import User
    from apps.iam.tokens import token_create
    from apps.organizations.models import Membership
    from apps.projects.models import Project
    from tenants.provisioning import provision_tenant

    org = provision_tenant(slug="bench", name="Bench", status="active").tenant
    tokens = []
    for i in range(n_clients):
        user = User.objects.create_user(email=f"u{i}@bench.test", password=None)
        Membership.objects.create(user=user, organization=org, role="member")
        tokens.append(token_create(user=user, name="bench")[1])
    with tenant_context(org):
        project = Project.objects.create(name="Bench project", hourly_rate=100)
    return org.slug, str(project.pk), tokens


def _timing(header: str | None) -> dict[str, float]:
    out = {}
    for part in (header or "").split(","):
        name, _, dur = part.strip().partition(";dur=")
        if dur:
            out[name] = float(dur)
    return out


class _Connection:
    """A minimal HTTP/1.1 keep-alive client on one socket.

    The load generator shares the machine's cores with the server, so its
    own CPU per request is kept small (and reported: ``generator_cpu_ms_per_request``):
    no HTTP library, the request is assembled from bytes and only the status
    line and the headers needed (``Content-Length``, ``Server-Timing``) are parsed.
    """

    def __init__(self, host: str, port: int, vhost: str, token: str) -> None:
        self.host, self.port = host, port
        self.prefix = f"Host: {vhost}\r\nAuthorization: Token {token}\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, str, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        payload = json.dumps(body).encode()
        self.writer.write(
            f"POST {path} HTTP/1.1\r\n".encode()
            + self.prefix
            + b"Content-Type: application/json\r\nContent-Length: "
            + str(len(payload)).encode()
            + b"\r\n\r\n"
            + payload
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        content = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers.get("server-timing", ""), content

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


async def _client(
    conn: _Connection,
    project: str,
    rounds: int,
    samples: dict[str, dict[str, list]],
    think: float = 0.0,
) -> None:
    for _ in range(rounds):
        now = datetime.datetime.now(datetime.UTC).isoformat()
        for name, path, body, expected in (
            ("timer_start", "/api/v1/timer/start/", {"project": project}, 201),
            ("heartbeat", "/api/v1/activity/heartbeat/", {"last_input_at": now}, 200),
            ("timer_stop", "/api/v1/timer/stop/", {}, 200),
        ):
            started = time.perf_counter()
            status, server_timing, content = await conn.post(path, body)
            client_ms = (time.perf_counter() - started) * 1000
            assert status == expected, (name, status, content)
            timing = _timing(server_timing)
            samples[name]["client"].append(client_ms)
            for kind in ("app", "cpu", "asgi", "queries", "pre", "post"):
                samples[name][kind].append(timing[kind])
            if think:  # a person at a desktop client, not a closed loop
                await asyncio.sleep(random.uniform(0, 2 * think))


async def _run(
    port: int, host: str, project: str, tokens: list[str], rounds: int, think: float = 0.0
) -> dict:
    samples: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    conns = [_Connection("127.0.0.1", port, host, token) for token in tokens]
    try:
        # Warm-up: every client once (connections, caches, lazy imports).
        await asyncio.gather(
            *(_client(c, project, 1, defaultdict(lambda: defaultdict(list))) for c in conns)
        )
        started, cpu_started = time.perf_counter(), time.process_time()
        await asyncio.gather(*(_client(c, project, rounds, samples, think) for c in conns))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    requests = sum(len(samples[e]["client"]) for e in ENDPOINTS)
    return {
        "clients": len(tokens),
        "think_seconds_mean": think,
        "requests": requests,
        "throughput_rps": round(requests / elapsed, 1),
        "generator_cpu_ms_per_request": round(cpu * 1000 / requests, 3),
        **{
            endpoint: {
                kind: summary(samples[endpoint][kind])
                for kind in ("app", "cpu", "asgi", "pre", "post", "client", "queries")
            }
            for endpoint in ENDPOINTS
        },
    }


def _brief(run: dict) -> dict:
    """One closed-loop run in a line: throughput, server time p95 and the
    request thread's median CPU per endpoint."""
    return {
        "throughput_rps": run["throughput_rps"],
        **{
            endpoint: {
                "app_p95_ms": run[endpoint]["app"]["p95_ms"],
                "cpu_p50_ms": run[endpoint]["cpu"]["p50_ms"],
            }
            for endpoint in ENDPOINTS
        },
    }


def _median_run(runs: list[dict]) -> dict:
    ordered = sorted(runs, key=lambda run: run["timer_start"]["app"]["p95_ms"])
    return ordered[(len(ordered) - 1) // 2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--http-concurrency",
        type=int,
        default=1,
        help="NOVATIME_HTTP_CONCURRENCY: quick requests inside Django per worker "
        "(the default setting: 1; 0: no limit)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="closed-loop runs on the same server; the figure is the median of their p95s "
        "(a shared virtual machine's speed drifts between runs)",
    )
    parser.add_argument(
        "--think",
        type=float,
        default=0.5,
        help="mean pause (s) between a client's requests in the paced run (0: skip it)",
    )
    args = parser.parse_args()

    url = prepare_database("bench_timer")
    slug, project, tokens = _seed(args.clients)

    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "config.settings.dev",
        "DJANGO_DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        # The throttle still runs (one Redis call); the bench must not hit its limit.
        "THROTTLE_HEARTBEAT": "1000000/min",
        "NOVATIME_TENANT_POOL_SIZE": "0",
        # Pooled connections, as config.settings.production has them (dev
        # settings open one per request: a PostgreSQL backend fork each time).
        "DB_POOL": "1",
        "NOVATIME_HTTP_CONCURRENCY": str(args.http_concurrency),
        "NOVATIME_URL_PORT": str(port),
    }
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/uvicorn"),
            "bench.timer_asgi:app",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
            "--lifespan",
            "off",
            "--log-level",
            "warning",
            "--no-access-log",
            # Clients that finish their warm-up early must find their
            # connection still open when the measured run starts.
            "--timeout-keep-alive",
            "300",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    host = f"{slug}.localhost"
    try:
        import httpx

        for _ in range(200):
            try:
                if httpx.get(f"{base}/healthz", headers={"Host": "localhost"}).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        single = asyncio.run(_run(port, host, project, tokens[:1], args.rounds * 5))
        loaded_runs = [
            asyncio.run(_run(port, host, project, tokens, args.rounds))
            for _ in range(max(1, args.repeat))
        ]
        paced = (
            asyncio.run(_run(port, host, project, tokens, args.rounds, args.think))
            if args.think
            else None
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = {
        "workers": args.workers,
        "http_concurrency_per_worker": args.http_concurrency,
        "rounds_per_client": args.rounds,
        "one_client": single,
        # The run whose timer-start p95 is the median one, in full.
        "concurrent": _median_run(loaded_runs),
        "concurrent_repeats": [_brief(run) for run in loaded_runs],
        "concurrent_app_p95_median_ms": {
            endpoint: statistics.median(run[endpoint]["app"]["p95_ms"] for run in loaded_runs)
            for endpoint in ENDPOINTS
        },
        "concurrent_paced": paced,
    }
    path = write_result("timer_load", result)
    print(json.dumps(result, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
