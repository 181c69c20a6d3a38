"""Tenant resolution cost per request: DB queries (cold vs warm) and latency.

    .venv/bin/python -m bench.resolution [--requests 2000]

Drives the full middleware stack in-process (Django test client) against
``GET /api/v1/meta/`` on an organization host, a view that itself makes no
query, so every query counted is spent on routing. Results: stdout and
var/bench/resolution.json.
"""

from __future__ import annotations

import argparse
import json

from bench.common import (
    Timer,
    prepare_database,
    summary,
    write_result,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()

    prepare_database("bench_resolution")

    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from tenants.provisioning import provision_tenant
    from tenants.resolution import cache_key

    provision_tenant(slug="acme", name="Acme", method="template")
    client = Client(HTTP_HOST="acme.localhost")

    def one(cold: bool) -> tuple[int, int, float]:
        if cold:
            cache.delete(cache_key("acme.localhost"))
        with CaptureQueriesContext(connection) as queries, Timer() as t:
            response = client.get("/api/v1/meta/")
        assert response.status_code == 200, response.content
        lookups = [q for q in queries if not q["sql"].startswith("SET search_path")]
        return len(lookups), len(queries), t.ms

    cold = [one(cold=True) for _ in range(200)]
    warm = [one(cold=False) for _ in range(args.requests)]
    result = {
        "requests": {"cold": len(cold), "warm": len(warm)},
        "resolution_queries_per_request": {
            "cold_max": max(c[0] for c in cold),
            "warm_max": max(w[0] for w in warm),
            "warm_total": sum(w[0] for w in warm),
        },
        "all_queries_per_warm_request_max": max(w[1] for w in warm),
        "latency_cold": summary([c[2] for c in cold]),
        "latency_warm": summary([w[2] for w in warm]),
    }
    path = write_result("resolution", result)
    print(json.dumps(result, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
