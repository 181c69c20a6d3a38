"""Provisioning latency: pool claim vs template replay vs django-tenants' migrate.

    .venv/bin/python -m bench.provisioning [--tenants 50]

Each sample is one ``provision_tenant`` call (row + schema + domain, committed)
in a warm process, the three methods interleaved so they share conditions.
Results: stdout and var/bench/provisioning.json.
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
    parser.add_argument("--tenants", type=int, default=50)
    args = parser.parse_args()

    prepare_database()

    from django.db import connection

    from tenants.provisioning import fill_pool, provision_tenant

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s",
            ["tpl_novatime"],
        )
        tables = cursor.fetchone()[0]

    # Warm-up: first calls load the migration graph and the snapshot.
    for method in ("template", "migrate"):
        provision_tenant(slug=f"warm-{method}", name="warm", method=method)

    fill_pool(size=args.tenants)

    samples: dict[str, list[float]] = {"pool": [], "template": [], "migrate": []}
    for i in range(args.tenants):
        for method in ("pool", "template", "migrate"):
            with Timer() as t:
                result = provision_tenant(slug=f"b-{method[:3]}-{i}", name="Bench", method=method)
            assert result.method == method, (result.method, method)
            samples[method].append(t.ms)

    stats = {m: summary(v) for m, v in samples.items()}
    speedup = {
        "template_vs_migrate_p50": round(
            stats["migrate"]["p50_ms"] / stats["template"]["p50_ms"], 1
        ),
        "pool_vs_migrate_p50": round(stats["migrate"]["p50_ms"] / stats["pool"]["p50_ms"], 1),
    }
    result = {
        "tenant_tables": tables,
        "tenants_per_method": args.tenants,
        "stats": stats,
        "speedup": speedup,
    }
    path = write_result("provisioning", result)
    print(json.dumps(result, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
