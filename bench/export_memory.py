"""CSV export of 200,000 time entries: does it stream in constant memory?

    .venv/bin/python -m bench.export_memory [--entries 200000 --users 20]

Loads the entries with SQL (``bench.reports_summary.load_entries``: no Python
objects), then downloads ``GET /api/v1/reports/export/?format=csv`` for the
whole range through the full Django stack in-process and reads the body chunk
by chunk, sampling the process's resident set size (``VmRSS``) after every
chunk. Reported: peak RSS growth over the RSS just before the request, bytes
and rows produced, time. Two paths:

* ``wsgi``: Django's test ``Client`` (a sync streaming iterator, as under
  gunicorn's sync workers);
* ``asgi``: Django's ``AsyncClient`` (the async iterator the view hands to an
  ASGI server, pulling one chunk at a time on the request's thread).

As a control (to show the measurement would catch buffering), the same rows
are also materialised with ``list(queryset.values())``. Results: stdout and
var/bench/export_memory.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
from typing import Any

from bench.common import Timer, prepare_database, write_result
from bench.reports_summary import build_org, load_entries

RANGE = ("2023-01-01", "2025-12-31")
#: Not "big": the tenant host cache (Redis) is shared with bench.reports_summary.
SLUG = "exportco"


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_sync(client: Any, url: str) -> dict[str, Any]:
    gc.collect()
    start_rss, start_max = rss_mb(), max_rss_mb()
    peak = start_rss
    size = lines = chunks = 0
    with Timer() as t:
        response = client.get(url)
        assert response.status_code == 200, response.content[:300]
        assert response.streaming
        for chunk in response.streaming_content:
            size += len(chunk)
            lines += chunk.count(b"\n")
            chunks += 1
            peak = max(peak, rss_mb())
        response.close()
    return {
        "seconds": round(t.ms / 1000, 2),
        "bytes": size,
        "rows": lines - 1,
        "chunks": chunks,
        "rss_before_mb": round(start_rss, 1),
        "peak_rss_growth_mb": round(peak - start_rss, 1),
        "ru_maxrss_growth_mb": round(max_rss_mb() - start_max, 1),
    }


def measure_async(url: str, user: Any) -> dict[str, Any]:
    from asgiref.sync import sync_to_async
    from django.test import AsyncClient

    async def run() -> dict[str, Any]:
        class HostClient(AsyncClient):
            # AsyncClient always sends "host: testserver" first; replace it.
            def _base_scope(self, **request: Any) -> dict[str, Any]:
                scope = super()._base_scope(**request)
                others = [(k, v) for k, v in scope["headers"] if k != b"host"]
                scope["headers"] = [(b"host", f"{SLUG}.localhost".encode()), *others]
                return scope

        client = HostClient()
        await sync_to_async(client.force_login)(user)
        gc.collect()
        start_rss = rss_mb()
        peak = start_rss
        size = lines = chunks = 0
        with Timer() as t:
            response = await client.get(url)
            assert response.status_code == 200, response.content[:300]
            assert response.is_async, "the view must hand an async iterator to ASGI"
            async for chunk in response.streaming_content:
                size += len(chunk)
                lines += chunk.count(b"\n")
                chunks += 1
                peak = max(peak, rss_mb())
        return {
            "seconds": round(t.ms / 1000, 2),
            "bytes": size,
            "rows": lines - 1,
            "chunks": chunks,
            "rss_before_mb": round(start_rss, 1),
            "peak_rss_growth_mb": round(peak - start_rss, 1),
        }

    return asyncio.run(run())


def measure_control(org: Any) -> dict[str, Any]:
    import datetime

    from django_tenants.utils import tenant_context

    from apps.time_entries.models import TimeEntry
    from apps.timesheets.periods import period_range_utc

    low, high = period_range_utc(
        org, datetime.date.fromisoformat(RANGE[0]), datetime.date.fromisoformat(RANGE[1])
    )
    gc.collect()
    start = rss_mb()
    with tenant_context(org):
        rows = list(TimeEntry.objects.filter(started_at__gte=low, started_at__lt=high).values())
    grown = rss_mb() - start
    count = len(rows)
    del rows
    return {"rows": count, "rss_growth_mb": round(grown, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--users", type=int, default=20)
    args = parser.parse_args()

    prepare_database("bench_export")
    from django.test import Client

    org, users = build_org(SLUG, args.users)
    with Timer() as load_timer:
        data = load_entries(org.schema_name, [u.id for u in users], args.entries)
    print(f"loaded {data} in {load_timer.ms / 1000:.1f} s", flush=True)

    client = Client(HTTP_HOST=f"{SLUG}.localhost")
    client.force_login(users[0])
    url = f"/api/v1/reports/export/?format=csv&from={RANGE[0]}&to={RANGE[1]}"
    # warm-up: imports, caches, first allocations of every code path
    warm = client.get(f"/api/v1/reports/export/?format=csv&from={RANGE[0]}&to={RANGE[0]}")
    b"".join(warm.streaming_content)
    gc.freeze()

    results = {"wsgi": measure_sync(client, url)}
    print(json.dumps(results, indent=2), flush=True)
    results["asgi"] = measure_async(url, users[0])
    print(json.dumps(results["asgi"], indent=2), flush=True)
    results["control_list_of_rows"] = measure_control(org)
    result = {
        "entries": data,
        "users": args.users,
        "load_seconds": round(load_timer.ms / 1000, 1),
        "query": url,
        "results": results,
    }
    path = write_result("export_memory", result)
    print(json.dumps(result, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
