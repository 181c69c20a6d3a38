"""Timesheet figures of issue #6:

* approving a submitted sheet with 500 entries (goal <= 100 ms at the server);
* the team overview of a period for 500 members (goal <= 200 ms, constant
  query count).

    .venv/bin/python -m bench.timesheets_approve [--members 500 --entries 500
        --per-member 20 --requests 30]

One organization: ``--members`` active members, each with a weekly sheet
(mixed states) and ``--per-member`` entries in the measured week; one of them
has ``--entries`` entries in that week. Requests go through the full Django
stack in-process (server time, no network) as a manager. Each approval
sample is a freshly re-submitted sheet (reopen + submit are not timed).
``db_mean_ms`` is the time Django waited on PostgreSQL; ``python_cpu_mean_ms``
the CPU time of the request in this process (less sensitive to a busy
machine than wall time). Results: stdout and var/bench/timesheets_approve.json.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import random
import time

from bench.common import Timer, prepare_database, summary, write_result

MONDAY = datetime.date(2026, 11, 2)
UTC = datetime.UTC


def load(org, n_members: int, per_member: int, big_entries: int) -> dict:
    from django.contrib.auth.hashers import make_password
    from django_tenants.utils import tenant_context

    from apps.iam.models import User
    from apps.organizations.models import Membership
    from apps.projects.models import Project, ProjectMember
    from apps.time_entries.models import TimeEntry
    from apps.timesheets.models import Timesheet

    rnd = random.Random(42)
    password = make_password(None)
    users = User.objects.bulk_create(
        [User(email=f"m{i}@ts.test", password=password) for i in range(n_members + 1)]
    )
    Membership.objects.bulk_create(
        [
            Membership(
                user=u,
                organization=org,
                role="manager" if i == 0 else "member",
                weekly_expected_hours=40,
            )
            for i, u in enumerate(users)
        ]
    )
    manager, members = users[0], users[1:]
    big = members[0]
    start = datetime.datetime.combine(MONDAY, datetime.time(0), tzinfo=UTC)
    with tenant_context(org):
        projects = Project.objects.bulk_create(
            [Project(name=f"Project {i}", hourly_rate=100) for i in range(20)]
        )
        ProjectMember.objects.bulk_create(
            [ProjectMember(project=rnd.choice(projects), user_id=u.pk) for u in members]
        )
        entries = []
        for user in members:
            count = big_entries if user is big else per_member
            step = datetime.timedelta(minutes=(7 * 24 * 60) // count)
            for j in range(count):
                began = start + j * step
                entries.append(
                    TimeEntry(
                        user_id=user.pk,
                        project=rnd.choice(projects),
                        started_at=began,
                        ended_at=began + datetime.timedelta(minutes=10),
                        duration_seconds=600,
                        billable=rnd.random() < 0.8,
                        hourly_rate=100,
                        amount="16.67",
                    )
                )
        TimeEntry.objects.bulk_create(entries, batch_size=5000)
        states = ["draft", "submitted", "approved", "rejected"]
        Timesheet.objects.bulk_create(
            [
                Timesheet(
                    user_id=u.pk,
                    period_start=MONDAY,
                    period_end=MONDAY + datetime.timedelta(days=6),
                    status="submitted" if u is big else rnd.choice(states),
                )
                for i, u in enumerate(members)
                if u is big or i % 10  # every tenth member has no sheet: "missing"
            ]
        )
        big_sheet = Timesheet.objects.get(user_id=big.pk)
        from django.db import connection

        with connection.cursor() as cur:  # settle statistics before measuring
            cur.execute("ANALYZE")
    return {
        "manager": manager,
        "big": big,
        "big_sheet": big_sheet,
        "entries": len(entries),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=500)
    parser.add_argument("--entries", type=int, default=500)
    parser.add_argument("--per-member", type=int, default=20)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()

    prepare_database("bench_timesheets")
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django_tenants.utils import tenant_context

    from apps.organizations.models import Membership
    from apps.organizations.services import organization_create
    from apps.timesheets import services
    from apps.timesheets.models import Timesheet

    org = organization_create(slug="sheets", name="Sheets Co", owner_email="owner@ts.test").tenant
    with Timer() as load_timer:
        data = load(org, args.members, args.per_member, args.entries)
    owner = Membership.objects.get(organization=org, role="owner")
    big_membership = Membership.objects.get(organization=org, user=data["big"])
    gc.freeze()  # as config/asgi.py does in every server process

    client = Client(HTTP_HOST="sheets.localhost")
    client.force_login(data["manager"])
    sheet_id = data["big_sheet"].pk

    def resubmit() -> None:
        with tenant_context(org):
            sheet = Timesheet.objects.get(pk=sheet_id)
            if sheet.status == "approved":
                services.timesheet_reopen(timesheet=sheet, actor=owner, reason="bench")
            if sheet.status != "submitted":
                services.timesheet_submit(timesheet=sheet, actor=big_membership)

    approve_times, approve_db, approve_counts, approve_cpu = [], [], set(), []
    for i in range(args.requests + 5):
        resubmit()
        cpu = time.process_time()
        with CaptureQueriesContext(connection) as ctx, Timer() as t:
            response = client.post(f"/api/v1/timesheets/{sheet_id}/approve/")
        cpu = (time.process_time() - cpu) * 1000
        assert response.status_code == 200, response.content[:500]
        assert response.json()["approved_total_seconds"] == args.entries * 600
        if i >= 5:  # warm-up
            approve_times.append(t.ms)
            approve_cpu.append(cpu)
            approve_db.append(sum(float(q["time"]) for q in ctx.captured_queries) * 1000)
            approve_counts.add(len(ctx))

    if os.environ.get("BENCH_SHOW_QUERIES"):
        resubmit()
        with CaptureQueriesContext(connection) as ctx:
            client.post(f"/api/v1/timesheets/{sheet_id}/approve/")
        for q in ctx.captured_queries:
            print(f"{float(q['time']) * 1000:7.2f} ms  {q['sql'][:110]}")

    overview_times, overview_db, overview_counts, overview_cpu = [], [], set(), []
    url = f"/api/v1/timesheets/overview/?period_start={MONDAY.isoformat()}&page_size=500"
    rows = 0
    for i in range(args.requests + 5):
        cpu = time.process_time()
        with CaptureQueriesContext(connection) as ctx, Timer() as t:
            response = client.get(url)
        cpu = (time.process_time() - cpu) * 1000
        assert response.status_code == 200, response.content[:500]
        rows = len(response.json()["results"])
        if i >= 5:
            overview_times.append(t.ms)
            overview_cpu.append(cpu)
            overview_db.append(sum(float(q["time"]) for q in ctx.captured_queries) * 1000)
            overview_counts.add(len(ctx))
    # Query count at a smaller page: must be the same.
    with CaptureQueriesContext(connection) as small:
        client.get(url.replace("page_size=500", "page_size=10"))

    result = {
        "members": args.members,
        "entries_in_approved_sheet": args.entries,
        "entries_total": data["entries"],
        "load_seconds": round(load_timer.ms / 1000, 1),
        "load_average_before": os.getloadavg()[0],
        "approve": {
            **summary(approve_times),
            "db_mean_ms": round(sum(approve_db) / len(approve_db), 2),
            "python_cpu_mean_ms": round(sum(approve_cpu) / len(approve_cpu), 2),
            "queries": sorted(approve_counts),
        },
        "overview": {
            **summary(overview_times),
            "db_mean_ms": round(sum(overview_db) / len(overview_db), 2),
            "python_cpu_mean_ms": round(sum(overview_cpu) / len(overview_cpu), 2),
            "rows": rows,
            "queries": sorted(overview_counts),
            "queries_page_size_10": len(small),
        },
    }
    path = write_result("timesheets_approve", result)
    print(json.dumps(result, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
