"""Load: locust's mixed traffic (bench/load/locustfile.py) against a live
uvicorn on the test database and Redis, several organizations at once.

CI runs a short headless run (``NOVATIME_LOAD_SECONDS``, default 30 s) and
asserts 0 failed requests; ``make load-long`` runs it for 10 minutes and writes
the figures to docs/benchmarks/load.md (``NOVATIME_LOAD_REPORT``).
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import os
import platform
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.load.plan import add_members, write_plan
from tenants.testing import committed
from tests.contract.live import LiveServer, live_server, unique

pytestmark = [pytest.mark.slow, pytest.mark.django_db]
ROOT = Path(__file__).resolve().parents[2]
TENANTS = int(os.environ.get("NOVATIME_LOAD_TENANTS", "3"))
MEMBERS = int(os.environ.get("NOVATIME_LOAD_MEMBERS_PER_TENANT", "4"))
USERS = int(os.environ.get("NOVATIME_LOAD_USERS", str(TENANTS * MEMBERS)))
SECONDS = int(os.environ.get("NOVATIME_LOAD_SECONDS", "30"))
WORKERS = int(os.environ.get("NOVATIME_LOAD_WORKERS", "1"))


@pytest.fixture(scope="module")
def server(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: Any
) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("load"), workers=WORKERS) as live:
        try:
            yield live
        finally:
            emails = {f"{slug}-m{n}@load.test" for slug in live.slugs for n in range(MEMBERS)}
            live.emails |= emails
            live.cleanup(django_db_blocker)


def _plan(server: LiveServer, blocker: Any, path: Path) -> Path:
    members = []
    for _ in range(TENANTS):
        slug = unique("load").replace("_", "-")
        token = server.signup(slug, f"{slug}@load.test")["token"]
        with server.client(slug, token) as owner:
            project = owner.post("/api/v1/projects/", json={"name": "Load", "billable": True})
            assert project.status_code == 201, project.text
            project_id = project.json()["id"]
            task = owner.post("/api/v1/tasks/", json={"project": project_id, "title": "Load"})
            assert task.status_code == 201, task.text
            channel = owner.post("/api/v1/chat/channels/", json={"name": "load", "kind": "public"})
            assert channel.status_code == 201, channel.text
        channel_id = channel.json()["id"]
        for member in committed(
            blocker, lambda s=slug, c=channel_id: add_members(s, MEMBERS, channel=c)
        ):
            members.append(
                {
                    "host": server.host(slug),
                    "token": member["token"],
                    "project": project_id,
                    "task": task.json()["id"],
                    "channel": channel_id,
                }
            )
    return write_plan(path, members)


def _aggregate(stats_csv: Path) -> tuple[dict[str, str], list[dict[str, str]]]:
    rows = list(csv.DictReader(stats_csv.open()))
    total = next(r for r in rows if r["Name"] == "Aggregated")
    return total, [r for r in rows if r["Name"] != "Aggregated"]


class _RssSampler(threading.Thread):
    """Samples the server's memory (the process and its workers) every
    ``interval`` seconds while the load runs: "flat memory" is a figure."""

    def __init__(self, pid: int, interval: float = 10.0) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples: list[float] = []
        self._done = threading.Event()

    def _rss_mb(self) -> float:
        import psutil

        root = psutil.Process(self.pid)
        procs = [root, *root.children(recursive=True)]
        total = 0
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        return total / 2**20

    def run(self) -> None:
        while not self._done.is_set():
            with contextlib.suppress(Exception):
                self.samples.append(self._rss_mb())
            self._done.wait(self.interval)

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=self.interval + 5)

    def summary(self) -> str:
        if not self.samples:
            return "not sampled"
        first, last, peak = self.samples[0], self.samples[-1], max(self.samples)
        tail = self.samples[len(self.samples) // 2 :]
        return (
            f"{len(self.samples)} samples every {self.interval:.0f} s: first {first:.0f} MB, "
            f"peak {peak:.0f} MB, last {last:.0f} MB; second half min/max "
            f"{min(tail):.0f}/{max(tail):.0f} MB"
        )


def _write_report(
    path: Path,
    total: dict[str, str],
    rows: list[dict[str, str]],
    cmd: str,
    load: str,
    memory: str,
) -> None:
    server = "one uvicorn worker" if WORKERS == 1 else f"gunicorn, {WORKERS} uvicorn workers"
    lines = [
        "# Load test (locust, mixed traffic across organizations)",
        "",
        f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores,"
        f" PostgreSQL, Redis and locust on the same machine; {server} (tests/contract/live.py)",
        f"- machine load average (1/5/15 min) before -> after the run: {load}",
        f"- shape: {TENANTS} organizations x {MEMBERS} members, {USERS} simulated users,"
        f" think time 0.5-2 s, {SECONDS} s",
        f"- command: `{cmd}`",
        f"- server memory (RSS of the server process and its workers): {memory}",
        "",
        "| request | count | failures | median ms | p95 ms | p99 ms | max ms | req/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in [*rows, total]:
        lines.append(
            f"| {r['Name']} | {r['Request Count']} | {r['Failure Count']} | {r['50%']} | "
            f"{r['95%']} | {r['99%']} | {float(r['Max Response Time']):.0f} | "
            f"{float(r['Requests/s']):.1f} |"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def test_mixed_traffic_has_no_failed_request(
    server: LiveServer, django_db_blocker: Any, tmp_path: Path
) -> None:
    plan = _plan(server, django_db_blocker, tmp_path / "plan.json")
    load_before = "/".join(f"{x:.1f}" for x in os.getloadavg())
    prefix = tmp_path / "locust"
    command = [
        str(Path(sys.executable).parent / "locust"),
        "-f",
        str(ROOT / "bench" / "load" / "locustfile.py"),
        "--headless",
        "--host",
        server.origin,
        "-u",
        str(USERS),
        "-r",
        str(max(1, USERS // 5)),
        "-t",
        f"{SECONDS}s",
        "--csv",
        str(prefix),
        "--only-summary",
        "--stop-timeout",
        "5",
    ]
    rss = _RssSampler(server.process.pid)
    rss.start()
    try:
        result = subprocess.run(
            command,
            env={**os.environ, "NOVATIME_LOAD_PLAN": str(plan)},
            capture_output=True,
            text=True,
            timeout=SECONDS + 180,
        )
    finally:
        rss.stop()
    stats = Path(f"{prefix}_stats.csv")
    assert stats.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    total, rows = _aggregate(stats)
    report = os.environ.get("NOVATIME_LOAD_REPORT")
    if report:
        load = f"{load_before} -> " + "/".join(f"{x:.1f}" for x in os.getloadavg())
        _write_report(
            ROOT / report,
            total,
            rows,
            os.environ.get("NOVATIME_LOAD_COMMAND", "make load-long"),
            load,
            rss.summary(),
        )
    failures = Path(f"{prefix}_failures.csv").read_text()
    assert int(total["Failure Count"]) == 0, failures + server.log_tail(100)
    assert int(total["Request Count"]) > USERS, "the run made almost no requests"
    # Every scenario step was exercised.
    assert {r["Name"] for r in rows} >= {"timer start", "entries list", "task list", "chat post"}
