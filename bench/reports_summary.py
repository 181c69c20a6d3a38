"""Summary report at scale: 1,000,000 time entries (50 users, 3 years) in one organization.

    .venv/bin/python -m bench.reports_summary [--entries 1000000 --users 50 --runs 15]

Loads the entries with one ``INSERT ... SELECT generate_series`` per user into
the organization's schema (real table, real indexes and exclusion constraint),
then measures, in the same run and alternating:

* **server**: ``GET /api/v1/reports/summary/?from=..&to=..&group_by=project,user``
  for one calendar year through the full Django stack in-process (host
  resolution, auth, membership, validation, the GROUPING SETS query, label
  lookups, serialization) — server time, no network;
* **bare SQL**: the plain ``GROUP BY project_id, user_id`` aggregate over the
  same rows on the same connection, the least any implementation must do;

and checks that both give the same numbers per (project, user). Shapes: no
rounding, and rounding to the nearest 15 minutes (the bare query then rounds
per entry too). Results: stdout and var/bench/reports_summary.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
from decimal import Decimal
from typing import Any

from bench.common import (
    Timer,
    bench_database_url,
    prepare_database,
    setup_django,
    summary,
    write_result,
)

YEAR = ("2025-01-01", "2025-12-31")
FIRST_DAY = "2023-01-01"


def build_org(slug: str, n_users: int) -> tuple[Any, list[Any]]:
    from apps.iam.models import User
    from apps.organizations.models import Membership
    from apps.organizations.services import organization_create

    org = organization_create(slug=slug, name="Big Co", owner_email=f"owner@{slug}.test").tenant
    users = [
        User.objects.create_user(f"m{i}@{slug}.test", "x", first_name=f"User{i}", last_name="Bench")
        for i in range(n_users)
    ]
    for i, user in enumerate(users):
        Membership.objects.create(
            user=user, organization=org, role="manager" if i == 0 else "member"
        )
    return org, users


def load_entries(
    schema: str, user_ids: list[Any], n_entries: int, n_projects: int = 200
) -> dict[str, Any]:
    """Clients, projects and ``n_entries`` entries spread evenly over the users,
    ~19 a day each from ``FIRST_DAY`` (3 years at 1M/50), never overlapping."""
    from django.db import connection

    raw = connection.connection
    per_user = n_entries // len(user_ids)
    with raw.cursor() as cur:
        cur.execute(f'SET search_path = "{schema}", public')
        cur.execute(
            "INSERT INTO projects_client (id, created_at, updated_at, name, contact_email, notes,"
            " currency, is_archived) SELECT gen_random_uuid(), now(), now(), 'Client ' || g, '',"
            " '', '', false FROM generate_series(1, 40) g"
        )
        cur.execute(
            "INSERT INTO projects_project (id, created_at, updated_at, name, code, client_id,"
            " description, color, status, hourly_rate, billable, is_private)"
            " SELECT gen_random_uuid(), now(), now(), 'Project ' || g, 'P' || g,"
            " (SELECT id FROM projects_client ORDER BY name OFFSET (g %% 40) LIMIT 1), '',"
            " '#4f46e5', 'active', 50 + (g %% 7) * 10, true, false"
            " FROM generate_series(1, %s) g",
            [n_projects],
        )
        cur.execute(
            "SELECT array_agg(id ORDER BY name), array_agg(hourly_rate ORDER BY name)"
            " FROM projects_project"
        )
        project_ids, _ = cur.fetchone()
        for user_id in user_ids:
            # entry i of a user: day i / 19, slot i % 19 (45-minute slots from 06:00),
            # 10..44 minutes long, 80% billable, a project and tags picked by hash.
            cur.execute(
                """
                INSERT INTO time_entries_timeentry (
                    id, created_at, updated_at, deleted_at, user_id, project_id, task_id,
                    description, started_at, ended_at, duration_seconds, billable, tags,
                    source, hourly_rate, amount, timesheet_id, last_activity_at,
                    overlap_allowed, external_id)
                SELECT gen_random_uuid(), now(), now(), NULL, %(user)s, p.id, NULL, '',
                       s.start, s.start + make_interval(secs => s.secs), s.secs,
                       s.billable, s.tags, 'timer', p.hourly_rate,
                       CASE WHEN s.billable THEN round(p.hourly_rate * s.secs / 3600.0, 2)
                            ELSE 0 END,
                       NULL, NULL, false, ''
                FROM (
                    SELECT g,
                           %(first)s::timestamptz + (g / 19) * interval '1 day'
                               + interval '6 hours' + (g %% 19) * interval '45 minutes' AS start,
                           600 + (hashint4(g + %(seed)s) & 2047) %% 2041 AS secs,
                           (hashint4(g * 7 + %(seed)s) & 1023) %% 10 < 8 AS billable,
                           CASE hashint4(g * 13 + %(seed)s) & 3
                               WHEN 0 THEN '{}'::varchar[] WHEN 1 THEN '{dev}'::varchar[]
                               WHEN 2 THEN '{meeting}'::varchar[]
                               ELSE '{dev,urgent}'::varchar[] END AS tags,
                           1 + (hashint4(g * 31 + %(seed)s) & 1023) %% %(np)s AS pidx
                    FROM generate_series(0, %(n)s - 1) g
                ) s
                JOIN LATERAL (SELECT (%(projects)s::uuid[])[s.pidx] AS id) pid ON true
                JOIN projects_project p ON p.id = pid.id
                """,
                {
                    "user": user_id,
                    "first": FIRST_DAY,
                    "seed": user_id.int & 0xFFFF,
                    "n": per_user,
                    "np": len(project_ids),
                    "projects": project_ids,
                },
            )
        cur.execute("SELECT count(*), min(started_at), max(started_at) FROM time_entries_timeentry")
        count, first, last = cur.fetchone()
    raw.commit()
    previous = raw.autocommit
    raw.autocommit = True
    with raw.cursor() as cur:
        cur.execute(f'SET search_path = "{schema}", public')
        cur.execute("VACUUM ANALYZE")
        cur.execute("CHECKPOINT")
    raw.autocommit = previous
    return {"entries": count, "first": first.isoformat(), "last": last.isoformat()}


def bare_sql(rounding_sql: str, amount_sql: str) -> str:
    return f"""
        SELECT project_id, user_id, SUM({rounding_sql})::bigint,
               SUM(CASE WHEN billable THEN {rounding_sql} ELSE 0 END)::bigint,
               SUM(CASE WHEN billable THEN {amount_sql} ELSE 0 END)
        FROM time_entries_timeentry
        WHERE deleted_at IS NULL AND ended_at IS NOT NULL
          AND started_at >= %s AND started_at < %s
        GROUP BY project_id, user_id
    """


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--reuse", action="store_true", help="keep the loaded database")
    args = parser.parse_args()

    if args.reuse:  # measure again on the data of a previous run
        setup_django(bench_database_url("bench_reports"))
    else:
        prepare_database("bench_reports")
    from django.db import connection
    from django.test import Client
    from django_tenants.utils import tenant_context

    from apps.iam.models import User
    from apps.organizations.models import Organization
    from apps.time_entries.reports.rounding import Rounding
    from apps.timesheets.periods import period_range_utc

    with Timer() as load_timer:
        if args.reuse:
            org = Organization.objects.get(slug="big")
            users = list(
                User.objects.filter(
                    email__endswith="@big.test", first_name__startswith="User"
                ).order_by("date_joined")
            )
            with tenant_context(org), connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*), min(started_at), max(started_at) FROM time_entries_timeentry"
                )
                count, first, last = cursor.fetchone()
            data = {"entries": count, "first": first.isoformat(), "last": last.isoformat()}
        else:
            org, users = build_org("big", args.users)
            data = load_entries(org.schema_name, [u.id for u in users], args.entries)
    print(f"loaded {data} in {load_timer.ms / 1000:.1f} s", flush=True)
    gc.freeze()

    client = Client(HTTP_HOST="big.localhost")
    client.force_login(users[0])
    url = f"/api/v1/reports/summary/?from={YEAR[0]}&to={YEAR[1]}&group_by=project,user"
    import datetime

    low, high = period_range_utc(
        org, datetime.date.fromisoformat(YEAR[0]), datetime.date.fromisoformat(YEAR[1])
    )
    results: dict[str, Any] = {}
    for mode, minutes in (("none", 15), ("nearest", 15)):
        org.rounding_mode, org.rounding_minutes = mode, minutes
        org.save(update_fields=["rounding_mode", "rounding_minutes"])
        rule = Rounding(mode=mode, minutes=minutes)
        sql = bare_sql(
            rule.seconds_sql("duration_seconds"),
            rule.amount_sql(
                seconds_column="duration_seconds", rate_column="hourly_rate", amount_column="amount"
            ),
        )

        def run_server() -> dict[str, Any]:
            response = client.get(url)
            assert response.status_code == 200, response.content[:500]
            return response.json()

        def run_bare(sql: str = sql) -> list[tuple[Any, ...]]:
            with tenant_context(org), connection.cursor() as cursor:
                cursor.execute(sql, [low, high])
                return cursor.fetchall()

        for _ in range(3):  # warm-up: buffer cache, plans, lazy imports
            report, rows = run_server(), run_bare()
        # same numbers, leaf by leaf
        leaves = {
            (g["key"], s["key"]): (
                s["total_seconds"],
                s["billable_seconds"],
                Decimal(s["billable_amount"]),
            )
            for g in report["groups"]
            for s in g["groups"]
        }
        bare = {(str(p), str(u)): (t, b, a.quantize(Decimal("0.01"))) for p, u, t, b, a in rows}
        assert leaves == bare, "server and bare SQL disagree"
        assert report["total_seconds"] == sum(v[0] for v in bare.values())

        server_ms, bare_ms = [], []
        for _ in range(args.runs):
            with Timer() as t:
                run_server()
            server_ms.append(t.ms)
            with Timer() as t:
                run_bare()
            bare_ms.append(t.ms)
        ratio = statistics.median(server_ms) / statistics.median(bare_ms)
        results[f"rounding={mode}/{minutes}"] = {
            "server": summary(server_ms),
            "bare_sql": summary(bare_ms),
            "median_ratio": round(ratio, 2),
            # the machine is shared: the best of each series is the least disturbed
            "min_ratio": round(min(server_ms) / min(bare_ms), 2),
            "groups": len(report["groups"]),
            "leaves": len(leaves),
        }
        print(json.dumps({mode: results[f"rounding={mode}/{minutes}"]}, indent=2), flush=True)

    with tenant_context(org), connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM time_entries_timeentry"
            " WHERE started_at >= %s AND started_at < %s",
            [low, high],
        )
        in_year = cursor.fetchone()[0]
    result = {
        "entries": data,
        "users": args.users,
        "entries_in_year": in_year,
        "load_seconds": None if args.reuse else round(load_timer.ms / 1000, 1),
        "query": url,
        "results": results,
    }
    path = write_result("reports_summary", result)
    print(json.dumps(result, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
