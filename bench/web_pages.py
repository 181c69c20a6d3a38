"""Web app pages of an organization host (issue #20): server time and SQL queries per page.

    .venv/bin/python -m bench.web_pages [--members 50 --days 365 --runs 30]

Seeds one organization (``--members`` members, one manager and one admin
among them; clients, projects with tasks in every status, ``--per-day``
entries per member on each working day of the last ``--days`` days, a weekly
timesheet per member and week: approved, last week submitted, this week a
draft; a public chat channel with every member and ``--messages`` messages),
plus a small organization (3 members, one week) to show that query counts do
not grow with the data.

The pages are not listed here: every GET view behind ``member_page`` (the
decorator of the web app) is found by walking the organization host's URL
resolver, exactly like the isolation matrix (tests/isolation/test_pages.py),
so pages merged later are measured without touching this file. Path
parameters are filled with ids of the seeded data the signed-in role may
see (its own entry, a submitted sheet, a project...).

Measured: the Django test client inside this process, through the full stack
(host → tenant, session, ``member_page``, view, template), i.e. server time
without network or HTTP parsing; wall time per request, p50/p95 over
``--runs`` requests after a warm-up, for an admin and for a member. Queries:
the SQL statements of one request (``CaptureQueriesContext``), for the big and
the small organization. Goals: p95 ≤ 30 ms and ≤ 10 queries, and the same
count on both sizes. Results: stdout and var/bench/web_pages.json.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from bench.common import Timer, prepare_database, summary, write_result

P95_GOAL_MS = 30.0
QUERY_GOAL = 10
ROLES = ("admin", "member")  # admin: approves, and sees the settings pages
METHOD = (
    "Django test client in-process (full middleware stack, no network, DEBUG off): "
    "wall time of client.get() per request"
)

DESCRIPTIONS = [
    "Code review",
    "Sprint planning",
    "Customer call",
    "Bug fixing",
    "Writing documentation",
    "Design review",
    "Deployment",
    "Backlog grooming",
    "Pairing session",
    "Support tickets",
    "Research",
    "Team meeting",
]
TASK_STATUSES = ["backlog", "todo", "in_progress", "in_review", "done", "cancelled"]


@dataclass
class Seeded:
    """An organization ready to be measured: who signs in, which ids to use."""

    org: Any
    memberships: dict[str, Any]  # role -> Membership
    ids: dict[str, dict[str, str]] = field(default_factory=dict)  # role -> model -> id
    counts: dict[str, int] = field(default_factory=dict)


def _working_days(last: datetime.date, days: int) -> list[datetime.date]:
    first = last - datetime.timedelta(days=days - 1)
    return [
        first + datetime.timedelta(days=i)
        for i in range(days)
        if (first + datetime.timedelta(days=i)).weekday() < 5
    ]


def seed(
    org: Any,
    *,
    members: int,
    days: int,
    per_day: int = 4,
    projects: int = 30,
    tasks_per_project: int = 8,
    messages: int = 1000,
    seed_value: int = 42,
) -> Seeded:
    """Fill ``org`` (an existing organization) with members and their work.

    Bulk inserts throughout (SQL ``generate_series`` for the entries), so a
    year for 50 members loads in seconds."""
    from django.contrib.auth.hashers import make_password
    from django.db import connection
    from django.utils import timezone
    from django_tenants.utils import tenant_context

    from apps.chat.models import Channel, ChannelMember, Message
    from apps.iam.models import User
    from apps.organizations.models import Membership
    from apps.projects.models import Client, Project, ProjectMember
    from apps.tasks.models import Task, TaskAssignee
    from apps.timesheets.models import Timesheet
    from apps.timesheets.periods import period_bounds

    rnd = random.Random(seed_value)
    password = make_password(None)
    slug = org.slug
    roles = ["manager", "admin"] + ["member"] * max(members - 2, 1)
    users = User.objects.bulk_create(
        [
            User(
                email=f"p{i}@{slug}.bench",
                password=password,
                first_name=f"Person{i}",
                last_name="Bench",
            )
            for i in range(len(roles))
        ]
    )
    memberships = Membership.objects.bulk_create(
        [
            Membership(user=u, organization=org, role=role, weekly_expected_hours=40)
            for u, role in zip(users, roles, strict=True)
        ]
    )
    by_role = {"manager": memberships[0], "admin": memberships[1], "member": memberships[2]}
    for m in memberships:
        m.user = next(u for u in users if u.pk == m.user_id)
    user_ids = [u.pk for u in users]
    now = timezone.now()
    today = timezone.localdate(now)
    counts: dict[str, int] = {"members": len(users)}

    with tenant_context(org):
        clients = Client.objects.bulk_create(
            [Client(name=f"Client {i}") for i in range(max(projects // 5, 1))]
        )
        project_rows = Project.objects.bulk_create(
            [
                Project(
                    name=f"Project {i}",
                    code=f"P{i}",
                    client=clients[i % len(clients)],
                    hourly_rate=80 + (i % 7) * 10,
                    budget_hours=500,
                )
                for i in range(projects)
            ]
        )
        ProjectMember.objects.bulk_create(
            [
                ProjectMember(project=p, user_id=uid, role="lead" if j == 0 else "member")
                for p in project_rows
                for j, uid in enumerate(
                    [user_ids[0], *rnd.sample(user_ids[1:], min(5, len(user_ids) - 1))]
                )
            ]
        )
        tasks = Task.objects.bulk_create(
            [
                Task(
                    project=p,
                    title=f"{rnd.choice(DESCRIPTIONS)} #{k}",
                    status=TASK_STATUSES[(k + i) % len(TASK_STATUSES)],
                    reporter_id=user_ids[0],
                    position=float(k),
                )
                for i, p in enumerate(project_rows)
                for k in range(tasks_per_project)
            ]
        )
        TaskAssignee.objects.bulk_create(
            [TaskAssignee(task=t, user_id=rnd.choice(user_ids)) for t in tasks]
        )
        counts.update(projects=len(project_rows), tasks=len(tasks))

        # Entries: per member, per_day entries on each working day, never in the future.
        first_day = today - datetime.timedelta(days=days - 1)
        with connection.cursor() as cur:
            cur.execute(
                """
                INSERT INTO time_entries_timeentry (
                    id, created_at, updated_at, deleted_at, user_id, project_id, task_id,
                    description, started_at, ended_at, duration_seconds, billable, tags,
                    source, hourly_rate, amount, timesheet_id, last_activity_at,
                    overlap_allowed, external_id)
                SELECT gen_random_uuid(), s.start, s.start, NULL, s.uid, p.id, NULL,
                       (%(descriptions)s::text[])[1 + (hashint4(s.h) & 1023) %% %(nd)s],
                       s.start, s.start + make_interval(secs => s.secs), s.secs,
                       s.billable, '{}'::varchar[], 'timer', p.hourly_rate,
                       CASE WHEN s.billable THEN round(p.hourly_rate * s.secs / 3600.0, 2)
                            ELSE 0 END,
                       NULL, NULL, false, ''
                FROM (
                    SELECT u.uid, d.day, slot,
                           hashint4(slot + extract(doy FROM d.day)::int * 7
                                    + (u.n::int * 7919)) AS h,
                           d.day::timestamp AT TIME ZONE 'UTC' + interval '8 hours'
                               + slot * interval '2 hours' AS start,
                           3600 + (hashint4(slot + u.n::int * 31 + extract(doy FROM d.day)::int)
                                   & 4095) %% 3000 AS secs,
                           (hashint4(slot * 7 + u.n::int) & 1023) %% 10 < 8 AS billable,
                           1 + (hashint4(u.n::int * 13 + extract(week FROM d.day)::int) & 1023)
                               %% %(np)s AS pidx
                    FROM unnest(%(users)s::uuid[]) WITH ORDINALITY AS u(uid, n)
                    CROSS JOIN generate_series(%(first)s::date, %(last)s::date,
                                               interval '1 day') AS d(day)
                    CROSS JOIN generate_series(0, %(per_day)s - 1) AS slot
                    WHERE extract(isodow FROM d.day) < 6
                ) s
                JOIN projects_project p ON p.id = (%(projects)s::uuid[])[s.pidx]
                WHERE s.start + make_interval(secs => s.secs) < now()
                """,
                {
                    "descriptions": DESCRIPTIONS,
                    "nd": len(DESCRIPTIONS),
                    "users": user_ids,
                    "first": first_day,
                    "last": today,
                    "per_day": per_day,
                    "np": len(project_rows),
                    "projects": [p.pk for p in project_rows],
                },
            )
            counts["entries"] = cur.rowcount

        # One sheet per member and period: old ones approved, the last
        # finished one submitted, the current one a draft.
        current = period_bounds(org, today)
        periods = []
        day = current[0]
        while day >= first_day:
            periods.append(period_bounds(org, day))
            day = periods[-1][0] - datetime.timedelta(days=1)
        sheets = []
        for p_index, (start, end) in enumerate(periods):
            status = "draft" if p_index == 0 else "submitted" if p_index == 1 else "approved"
            for uid in user_ids:
                sheets.append(
                    Timesheet(
                        user_id=uid,
                        period_start=start,
                        period_end=end,
                        status=status,
                        submitted_at=now if status != "draft" else None,
                        decided_at=now if status == "approved" else None,
                        decided_by_id=user_ids[0] if status == "approved" else None,
                    )
                )
        Timesheet.objects.bulk_create(sheets, batch_size=2000)
        counts["timesheets"] = len(sheets)

        channel = Channel.objects.create(
            name="general", kind="public", created_by_id=user_ids[0], last_message_at=now
        )
        ChannelMember.objects.bulk_create(
            [ChannelMember(channel=channel, user_id=uid) for uid in user_ids]
        )
        Message.objects.bulk_create(
            [
                Message(
                    channel=channel,
                    author_id=rnd.choice(user_ids),
                    body=f"{rnd.choice(DESCRIPTIONS)}: done for today ({i})",
                    created_at=now - datetime.timedelta(minutes=messages - i),
                )
                for i in range(messages)
            ],
            batch_size=2000,
        )
        counts["messages"] = messages

        with connection.cursor() as cur:  # plans as on a live database
            cur.execute("ANALYZE time_entries_timeentry, timesheets_timesheet, chat_message")
        seeded = Seeded(org=org, memberships=by_role, counts=counts)
        for role, membership in by_role.items():
            ids = _ids_for(membership, manager_id=user_ids[0], member_id=by_role["member"].user_id)
            ids.update(
                project=str(project_rows[0].pk),
                client=str(clients[0].pk),
                task=str(tasks[0].pk),
                channel=str(channel.pk),
                chatchannel=str(channel.pk),
                message=str(Message.objects.filter(channel=channel).values_list("pk")[0][0]),
                membership=str(by_role["member"].pk),
                member=str(by_role["member"].pk),
                user=str(by_role["member"].user_id),
            )
            seeded.ids[role] = ids
    return seeded


def _ids_for(membership: Any, *, manager_id: Any, member_id: Any) -> dict[str, str]:
    """Ids a role would follow a link to: its own latest entry and sheet; for
    an approver, the member's submitted sheet."""
    from apps.time_entries.models import TimeEntry
    from apps.timesheets.models import Timesheet

    entry = TimeEntry.objects.filter(user_id=membership.user_id).order_by("-started_at").first()
    approver = membership.role in ("manager", "admin", "owner")
    sheet = (
        Timesheet.objects.filter(user_id=member_id if approver else membership.user_id)
        .filter(status="submitted")
        .first()
    )
    ids = {"timesheet": str(sheet.pk) if sheet else "", "timeentry": ""}
    if entry is not None:
        ids["timeentry"] = str(entry.pk)
        ids["entry"] = str(entry.pk)
    return {k: v for k, v in ids.items() if v}


def pages() -> list[Any]:
    """Every ``member_page`` view of the organization host (resolver order)."""
    from tests.isolation.endpoints import tenant_endpoints

    return [e for e in tenant_endpoints() if getattr(e.view, "member_page", False)]


def _app_model(page: Any) -> str | None:
    """``apps.timesheets.web.views`` → ``timesheet``: a ``pk`` of an app's page."""
    parts = getattr(page.view, "__module__", "").split(".")
    if len(parts) > 1 and parts[0] == "apps":
        name = parts[1].replace("_", "")
        return name[:-1] if name.endswith("s") else name
    return None


def url_for(page: Any, ids: dict[str, str]) -> str | None:
    """The page's path with its parameters filled from ``ids``; ``None`` when
    a parameter names nothing the seed made (reported as not measured)."""
    from tests.isolation.endpoints import model_candidates

    values = {}
    for name, _converter in page.params:
        candidates = model_candidates(page, name)
        if name in ("pk", "id"):
            app = _app_model(page)
            if app:
                candidates.append(app)
        found = next((ids[c] for c in candidates if c in ids), None)
        for candidate in candidates if found is None else ():
            # approvals → timesheetapproval ⊃ timesheet; chat ⊂ chatchannel
            found = next(
                (
                    v
                    for k, v in sorted(ids.items())
                    if candidate.startswith(k) or k.startswith(candidate)
                ),
                None,
            )
            if found:
                break
        if not found:
            return None
        values[name] = found
    return page.path(values)


def signed_in_client(org: Any, membership: Any) -> Any:
    """A test client with a session signed in on ``org``'s host (what
    ``/signin/`` leaves behind, without paying for the password hash)."""
    from apps.iam.web.access import SESSION_ORGANIZATION_KEY
    from tenants.testing import TenantAPIClient

    client = TenantAPIClient(org, HTTP_ACCEPT="text/html")
    client.force_login(membership.user)
    session = client.session
    session[SESSION_ORGANIZATION_KEY] = str(org.pk)
    session.save()
    client.get("/")  # a session's first request does one-off work: not what a page costs
    return client


def query_count(client: Any, url: str) -> tuple[int, int]:
    """The page's status and SQL statements, without ``SET search_path``:
    whether a request sends that one depends on the schema the connection
    held before (the other organization's, after a request there), not on
    the page (``apps.common.testing.app_queries``, as the tests count)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.common.testing import app_queries

    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    return response.status_code, len(app_queries(queries))


def _timed(client: Any, url: str, runs: int) -> tuple[dict[str, float], dict[str, float]]:
    """Wall and CPU time (ms) of ``runs`` requests."""
    times, cpu = [], []
    for _ in range(runs):
        started_cpu = time.thread_time()
        with Timer() as t:
            client.get(url)
        cpu.append((time.thread_time() - started_cpu) * 1000)
        times.append(t.ms)
    return summary(times), summary(cpu)


def measure(
    big: Seeded, small: Seeded | None, *, runs: int, warmup: int = 3, roles=ROLES
) -> list[dict[str, Any]]:
    rows = []
    clients = {role: signed_in_client(big.org, big.memberships[role]) for role in roles}
    small_clients = (
        {role: signed_in_client(small.org, small.memberships[role]) for role in roles}
        if small is not None
        else {}
    )
    for page in pages():
        for role in roles:
            row: dict[str, Any] = {"page": page.id, "name": page.name, "role": role}
            rows.append(row)
            client = clients[role]
            url = url_for(page, big.ids[role])
            if url is None:
                # A fresh id: a POST-only URL answers 405 before looking anything up.
                fresh = page.path({n: str(uuid.uuid4()) for n, _ in page.params})
                status = client.get(fresh).status_code
                row["skipped"] = (
                    "POST only"
                    if status == 405
                    else f"no seeded object for {', '.join(n for n, _ in page.params)}"
                    f" (HTTP {status} on a fresh id)"
                )
                continue
            status, queries = query_count(client, url)
            row.update(url=url, status=status, queries=queries)
            if status == 405:
                row["skipped"] = "POST only"
                continue
            for _ in range(warmup):
                client.get(url)
            row["server"], row["python_cpu"] = _timed(client, url, runs)
            if small is not None:
                small_url = url_for(page, small.ids[role])
                if small_url:
                    row["small_status"], row["small_queries"] = query_count(
                        small_clients[role], small_url
                    )
                    # the same page on little data: does its CPU grow with the data?
                    row["small_python_cpu"] = _timed(small_clients[role], small_url, runs)[1]
            row["pass"] = (
                row["server"]["p95_ms"] <= P95_GOAL_MS
                and queries <= QUERY_GOAL
                and row.get("small_queries", queries) == queries
            )
    return rows


def _small_cpu(row: dict[str, Any]) -> str:
    return f"{row['small_python_cpu']['p50_ms']:.1f}" if "small_python_cpu" in row else "-"


def print_table(rows: list[dict[str, Any]], out: Any = sys.stdout) -> None:
    print(f"\n{METHOD}; goals: p95 <= {P95_GOAL_MS:g} ms, <= {QUERY_GOAL} queries,", file=out)
    print("the same query count on the small organization. cpu: this process's CPU time", file=out)
    print("per request (Python only; less disturbed by a busy machine than wall time);", file=out)
    print("small: the same figure on the small organization.\n", file=out)
    header = f"{'page':<34} {'role':<8} {'status':>6} {'p50 ms':>7} {'p95 ms':>7}"
    header += f" {'cpu p50':>7} {'small':>5} {'queries':>7} {'small':>5}  result"
    print(header, file=out)
    for row in rows:
        if "skipped" in row:
            print(f"{row['page']:<34} {row['role']:<8} skipped: {row['skipped']}", file=out)
            continue
        s = row["server"]
        print(
            f"{row['page']:<34} {row['role']:<8} {row['status']:>6} {s['p50_ms']:>7.1f}"
            f" {s['p95_ms']:>7.1f} {row['python_cpu']['p50_ms']:>7.1f}"
            f" {_small_cpu(row):>5}"
            f" {row['queries']:>7}"
            f" {row.get('small_queries', '-')!s:>5}"
            f"  {'PASS' if row['pass'] else 'FAIL'}",
            file=out,
        )


def run(
    big_org: Any,
    small_org: Any | None,
    *,
    members: int,
    days: int,
    runs: int,
    messages: int,
    warmup: int = 3,
    projects: int = 30,
) -> dict[str, Any]:
    """Seed both organizations and measure every page (the smoke test calls this)."""
    with Timer() as load:
        big = seed(big_org, members=members, days=days, messages=messages, projects=projects)
        small = (
            seed(small_org, members=3, days=7, messages=10, projects=3, tasks_per_project=3)
            if small_org is not None
            else None
        )
    gc.collect()
    gc.freeze()
    rows = measure(big, small, runs=runs, warmup=warmup)
    return {
        "method": METHOD,
        "goals": {"p95_ms": P95_GOAL_MS, "queries": QUERY_GOAL},
        "data": big.counts,
        "small_data": small.counts if small else None,
        "load_seconds": round(load.ms / 1000, 1),
        "runs": runs,
        "pages": rows,
        "all_pass": all(r.get("pass", True) for r in rows),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_DEBUG", "false")  # as served: no debug query log
    prepare_database("bench_web")
    from apps.organizations.services import organization_create

    big_org = organization_create(
        slug="big", name="Big Co", owner_email="owner@big.bench", timezone="UTC"
    ).tenant
    small_org = organization_create(
        slug="small", name="Small Co", owner_email="owner@small.bench", timezone="UTC"
    ).tenant
    result = run(
        big_org,
        small_org,
        members=args.members,
        days=args.days,
        runs=args.runs,
        messages=args.messages,
    )
    # the machine is shared: how busy it was while measuring
    result["load_average_1_5_15"] = [round(x, 2) for x in os.getloadavg()]
    result["command"] = "python -m bench.web_pages " + " ".join(argv or sys.argv[1:])
    path = write_result("web_pages", result)
    print(f"loaded {result['data']} in {result['load_seconds']} s")
    print_table(result["pages"])
    print(f"\nall pass: {result['all_pass']}")
    print(f"load average (1, 5, 15 min) at the end: {result['load_average_1_5_15']}")
    print(f"written to {path}")
    print(json.dumps({"data": result["data"], "small": result["small_data"]}))


if __name__ == "__main__":
    main()
