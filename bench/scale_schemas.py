"""Many tenant schemas in one database: what grows, and by how much.

    .venv/bin/python -m bench.scale_schemas [--tenants 1000] [--parallel 2] [--keep]

On a database of its own (``<DATABASE_URL name>_scale``, dropped at the end
unless ``--keep``), measures at 10 schemas and again at N:

* provisioning rate (template replay, committed, one process), per batch of
  100, to see whether it degrades as the catalog grows;
* catalog size: ``pg_class`` rows, ``pg_attribute`` rows, ``pg_database_size``;
* ``pg_dump -n <one schema>`` wall time (pg_dump reads catalog data for the
  whole database before filtering, so it grows with N);
* request latency through the full Django stack in-process (no network):
  ``GET /api/v1/projects/`` on one hot tenant, and rotating over up to 100
  tenants (each a different schema: relcache / plan cache misses);
* at N only: ``tenants migrate --parallel P`` with one new no-op migration
  (``bench.scale_noop`` added by ``bench.scale_settings``), then once more with
  nothing to do.

Results: stdout and var/bench/scale_schemas.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from typing import Any
from urllib.parse import urlparse, urlunparse

from bench.common import ROOT, Timer, prepare_database, summary, write_result


def _drop_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    admin = urlunparse(parsed._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.path.lstrip("/")}" WITH (FORCE)')


def _catalog() -> dict[str, Any]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM pg_class), (SELECT count(*) FROM pg_attribute),"
            " (SELECT count(*) FROM pg_namespace WHERE nspname LIKE 't\\_%%'),"
            " pg_database_size(current_database())"
        )
        pg_class, pg_attribute, schemas, size = cursor.fetchone()
    return {
        "tenant_schemas": schemas,
        "pg_class_rows": pg_class,
        "pg_attribute_rows": pg_attribute,
        "database_size_mb": round(size / 1024 / 1024, 1),
    }


def _introspection_ms(schema: str, runs: int = 5) -> float:
    """Django's ``introspection.table_names()`` in one tenant schema: the query
    the migration recorder runs (pg_table_is_visible + obj_description over
    the whole pg_class), once or more per migrated schema."""
    from django.db import connection
    from django_tenants.utils import schema_context

    times = []
    with schema_context(schema):
        for _ in range(runs):
            with Timer() as t, connection.cursor() as cursor:
                connection.introspection.table_names(cursor)
            times.append(t.ms)
    return round(statistics.median(times), 1)


_SAMPLE_SCRIPT = """
import json, sys, time
import django
django.setup()
from django.core.management import call_command
from django.db import connection
out = []
for schema in sys.argv[1:]:
    started = time.perf_counter()
    call_command("migrate_schemas", tenant=True, schema_name=schema, interactive=False, verbosity=0)
    connection.set_schema_to_public()
    out.append(round((time.perf_counter() - started) * 1000))
print(json.dumps(out))
"""


def _migrate_sample(schemas: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Apply the new migration to a sample of schemas, one after another in one
    process (start-up excluded): the per-schema cost at this catalog size."""
    proc = subprocess.run(
        [sys.executable, "-c", _SAMPLE_SCRIPT, *schemas],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"migrate sample failed:\n{proc.stderr[-2000:]}")
    times = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"schemas": len(times), "median_ms": statistics.median(times), "max_ms": max(times)}


def _pg_dump_ms(url: str, schema: str, runs: int = 3) -> dict[str, float]:
    times = []
    for _ in range(runs):
        with Timer() as t:
            subprocess.run(
                ["pg_dump", "--schema", schema, "--file", os.devnull, url],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        times.append(t.ms)
    return {"median_ms": round(statistics.median(times)), "runs": runs}


def _latency(user: Any, slugs: list[str], hot: str, requests: int) -> dict[str, Any]:
    from django.db import connection
    from django.test import Client

    client = Client()
    client.force_login(user)
    for slug in {hot, *slugs}:  # warm-up: cache the host resolution, lazy imports
        r = client.get("/api/v1/projects/", HTTP_HOST=f"{slug}.localhost")
        assert r.status_code == 200, (slug, r.status_code, r.content[:300])
    out: dict[str, Any] = {}
    times = []
    for _ in range(requests):
        with Timer() as t:
            r = client.get("/api/v1/projects/", HTTP_HOST=f"{hot}.localhost")
        assert r.status_code == 200
        times.append(t.ms)
    out["hot_tenant"] = summary(times)
    rnd = random.Random(1)
    times = []
    for _ in range(requests):
        slug = rnd.choice(slugs)
        with Timer() as t:
            r = client.get("/api/v1/projects/", HTTP_HOST=f"{slug}.localhost")
        assert r.status_code == 200
        times.append(t.ms)
    out[f"rotating_{len(slugs)}_tenants"] = summary(times)
    # A fresh database session per request (what a new pod or CONN_MAX_AGE=0
    # sees): every relation of the schema is looked up in the catalog again.
    times = []
    for _ in range(max(20, requests // 5)):
        connection.close()
        slug = rnd.choice(slugs)
        with Timer() as t:
            r = client.get("/api/v1/projects/", HTTP_HOST=f"{slug}.localhost")
        assert r.status_code == 200
        times.append(t.ms)
    out["new_connection_each_request"] = summary(times)
    return out


def _provision(start: int, stop: int, batch: int, rates: list[dict[str, Any]]) -> None:
    from tenants.provisioning import provision_tenant

    i = start
    while i < stop:
        end = min(stop, i + batch)
        with Timer() as t:
            for j in range(i, end):
                provision_tenant(slug=f"s-{j:05d}", name=f"Scale {j}", method="template")
        rates.append(
            {
                "from": i,
                "to": end,
                "per_tenant_ms": round(t.ms / (end - i), 1),
                "tenants_per_s": round((end - i) / (t.ms / 1000), 2),
            }
        )
        print(f"provisioned {end} tenants ({rates[-1]['per_tenant_ms']} ms each)", flush=True)
        i = end


def _manage(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Run a manage.py command; returns wall ms and its last output line, and
    prints the CPU seconds it and its forked workers used (load-independent)."""
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with Timer() as t:
        proc = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
    if proc.returncode != 0:
        raise SystemExit(f"{args} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    _manage.cpu_seconds = round(cpu, 1)  # type: ignore[attr-defined]
    return t.ms, proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    parser.add_argument(
        "--migrate-sample",
        type=int,
        default=0,
        help="Instead of migrating every schema, time the new migration on this many "
        "schemas (per-schema cost; the full run is quadratic, see deploy/SCALING.md).",
    )
    args = parser.parse_args()

    os.environ["DJANGO_DEBUG"] = "0"  # no query log: it would grow with every request
    started = time.monotonic()
    url = prepare_database("scale")
    try:
        result = _run(url, args)
        result["total_minutes"] = round((time.monotonic() - started) / 60, 1)
        path = write_result(f"scale_schemas_{args.tenants}", result)
        print(json.dumps(result, indent=2))
        print(f"written to {path}")
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            _drop_database(url)
            print(f"dropped {urlparse(url).path.lstrip('/')}")


def _run(url: str, args: argparse.Namespace) -> dict[str, Any]:
    from django_tenants.utils import tenant_context

    from apps.organizations.models import Membership
    from apps.organizations.services import organization_create
    from apps.projects.models import Project

    hot = organization_create(
        slug="hot", name="Hot", owner_email="owner@scale.test", method="template"
    ).tenant
    user = Membership.objects.get(organization=hot).user
    with tenant_context(hot):
        for i in range(20):
            Project.objects.create(name=f"Project {i}")

    rates: list[dict[str, Any]] = []
    _provision(0, 9, args.batch, rates)
    from django_tenants.utils import get_tenant_model

    def member_of(slugs: list[str]) -> None:
        for org in get_tenant_model().objects.filter(slug__in=slugs):
            Membership.objects.get_or_create(
                user=user, organization=org, defaults={"role": "member"}
            )

    small = [f"s-{j:05d}" for j in range(9)]
    member_of(small)
    at_10 = {
        "catalog": _catalog(),
        "pg_dump_one_schema": _pg_dump_ms(url, hot.schema_name),
        "introspection_table_names_ms": _introspection_ms(hot.schema_name),
        "latency": _latency(user, small, "hot", args.requests),
    }
    from django.db import connections

    connections.close_all()
    sample_env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "bench.scale_settings",
        "NOVATIME_TENANT_POOL_SIZE": "0",
        "LOG_LEVEL": "WARNING",
    }
    small_schemas = list(
        get_tenant_model().objects.filter(slug__in=small[:5]).values_list("schema_name", flat=True)
    )
    at_10["migrate_new_migration_per_schema"] = _migrate_sample(small_schemas, sample_env)
    print("at 10:", json.dumps(at_10), flush=True)

    with Timer() as build:
        _provision(9, args.tenants - 1, args.batch, rates)
    rotating = random.Random(2).sample(
        [f"s-{j:05d}" for j in range(args.tenants - 1)], min(100, args.tenants - 1)
    )
    member_of(rotating)
    at_n = {
        "catalog": _catalog(),
        "pg_dump_one_schema": _pg_dump_ms(url, hot.schema_name),
        "introspection_table_names_ms": _introspection_ms(hot.schema_name),
        "latency": _latency(user, rotating, "hot", args.requests),
    }
    print(f"at {args.tenants}:", json.dumps(at_n), flush=True)

    from django.db import connections

    connections.close_all()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "bench.scale_settings",
        "NOVATIME_TENANT_POOL_SIZE": "0",
        "LOG_LEVEL": "WARNING",
    }
    if args.migrate_sample:
        sample = [
            f"s-{j:05d}"
            for j in range(0, args.tenants - 1, max(1, args.tenants // args.migrate_sample))
        ]
        from django_tenants.utils import get_tenant_model

        schemas = list(
            get_tenant_model().objects.filter(slug__in=sample).values_list("schema_name", flat=True)
        )[: args.migrate_sample]
        connections.close_all()
        at_n["migrate_new_migration_per_schema"] = _migrate_sample(schemas, env)
        migrate_result: dict[str, Any] = {
            "mode": "sample (not every schema)",
            "load_average_1m_at_start": round(os.getloadavg()[0], 1),
            "see": f"at_{args.tenants}.migrate_new_migration_per_schema",
        }
        noop_result: dict[str, Any] = {"skipped": "sample mode"}
    else:
        load_before = os.getloadavg()[0]
        migrate_ms, migrate_summary = _manage(
            ["tenants", "migrate", "--parallel", str(args.parallel)], env
        )
        migrate_cpu = _manage.cpu_seconds  # type: ignore[attr-defined]
        noop_ms, noop_summary = _manage(["tenants", "migrate"], env)
        migrate_result = {
            "mode": "every schema",
            "parallel": args.parallel,
            "seconds": round(migrate_ms / 1000, 1),
            "cpu_seconds_all_processes": migrate_cpu,
            "cpu_ms_per_schema": round(migrate_cpu * 1000 / args.tenants, 1),
            "load_average_1m_at_start": round(load_before, 1),
            "summary": migrate_summary,
        }
        noop_result = {"seconds": round(noop_ms / 1000, 1), "summary": noop_summary}
    total_build_s = build.ms / 1000
    return {
        "tenants": args.tenants,
        "provisioning": {
            "method": "template (DDL replay), one process, committed",
            "overall_tenants_per_s": round((args.tenants - 10) / total_build_s, 2),
            "first_batch": rates[1] if len(rates) > 1 else rates[0],
            "last_batch": rates[-1],
            "batches": rates,
        },
        "at_10": at_10,
        f"at_{args.tenants}": at_n,
        "tenants_migrate_one_new_migration": migrate_result,
        "tenants_migrate_nothing_to_do": noop_result,
    }


if __name__ == "__main__":
    main()
