"""Filtered task list at scale: 5,000 projects, 200,000 tasks in one organization.

    .venv/bin/python -m bench.task_list [--projects 5000 --tasks 200000 --requests 300]

Loads the data with COPY, then drives ``GET /api/v1/tasks/`` (50 rows a page)
through the full Django stack in-process — server time, no network — with a
mix of realistic filters, as a manager (sees every project) and as a member
(visibility filter on private projects). Reports p50/p95 per query shape and
the number of SQL queries per request (must not depend on the page).
Results: stdout and var/bench/task_list.json.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import io
import json
import random
import uuid
from collections.abc import Callable

from bench.common import Timer, prepare_database, summary, write_result

_SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "te", "vo", "zi", "pa", "do", "fe", "gu", "hi"]
#: 2,744 made-up words: a title has 4, so a one-word search matches ~0.15% of
#: tasks (about 290 of 200,000) -- the selectivity of a real search.
VOCABULARY = sorted({a + b + c for a in _SYLLABLES for b in _SYLLABLES for c in _SYLLABLES})
STATUSES = ["backlog", "todo", "in_progress", "in_review", "done", "cancelled"]
PRIORITIES = ["none", "low", "medium", "high", "urgent"]


def _copy(cursor, table: str, columns: list[str], rows: list[tuple]) -> None:
    buf = io.StringIO()
    for row in rows:
        buf.write("\t".join("\\N" if v is None else str(v) for v in row) + "\n")
    buf.seek(0)
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        copy.write(buf.read())


def load(schema: str, n_projects: int, n_tasks: int, member_ids: list[uuid.UUID]) -> dict:
    from django.db import connection

    rnd = random.Random(42)
    now = datetime.datetime.now(datetime.UTC).isoformat()
    today = datetime.date.today()
    raw = connection.connection  # psycopg connection (outside Django's wrapper for COPY)
    with raw.cursor() as cur:
        cur.execute(f'SET search_path = "{schema}", public')
        clients = [uuid.uuid4() for _ in range(200)]
        _copy(
            cur,
            "projects_client",
            [
                "id",
                "created_at",
                "updated_at",
                "name",
                "contact_email",
                "notes",
                "currency",
                "is_archived",
            ],
            [(c, now, now, f"Client {i}", "", "", "", "f") for i, c in enumerate(clients)],
        )
        projects = [uuid.uuid4() for _ in range(n_projects)]
        private = set(rnd.sample(projects, n_projects // 5))
        _copy(
            cur,
            "projects_project",
            [
                "id",
                "created_at",
                "updated_at",
                "name",
                "code",
                "client_id",
                "description",
                "color",
                "status",
                "billable",
                "is_private",
            ],
            [
                (
                    p,
                    now,
                    now,
                    f"Project {i}",
                    f"P{i}",
                    rnd.choice(clients),
                    "",
                    "#4f46e5",
                    rnd.choice(["active"] * 8 + ["planned", "on_hold"]),
                    "t",
                    "t" if p in private else "f",
                )
                for i, p in enumerate(projects)
            ],
        )
        # the member belongs to a few private projects
        member = member_ids[-1]
        _copy(
            cur,
            "projects_projectmember",
            ["id", "project_id", "user_id", "role", "created_at"],
            [(uuid.uuid4(), p, member, "member", now) for p in list(private)[:10]],
        )
        labels = [uuid.uuid4() for _ in range(30)]
        _copy(
            cur,
            "tasks_label",
            ["id", "created_at", "updated_at", "name", "color"],
            [(lab, now, now, f"label-{i}", "#64748b") for i, lab in enumerate(labels)],
        )
        tasks, assignees, task_labels = [], [], []
        words = VOCABULARY
        for i in range(n_tasks):
            t = uuid.uuid4()
            status = rnd.choice(STATUSES)
            due = today + datetime.timedelta(days=rnd.randint(-90, 180))
            tasks.append(
                (
                    t,
                    now,
                    now,
                    rnd.choice(projects),
                    " ".join(rnd.sample(words, 4)),
                    "",
                    status,
                    rnd.choice(PRIORITIES),
                    rnd.choice(member_ids),
                    due,
                    float(i),
                    now if status in ("done", "cancelled") else None,
                )
            )
            for user in rnd.sample(member_ids, rnd.randint(0, 3)):
                assignees.append((uuid.uuid4(), t, user, now))
            for lab in rnd.sample(labels, rnd.randint(0, 2)):
                task_labels.append((t, lab))
        _copy(
            cur,
            "tasks_task",
            [
                "id",
                "created_at",
                "updated_at",
                "project_id",
                "title",
                "description",
                "status",
                "priority",
                "reporter_id",
                "due_date",
                "position",
                "completed_at",
            ],
            tasks,
        )
        _copy(cur, "tasks_taskassignee", ["id", "task_id", "user_id", "created_at"], assignees)
        _copy(cur, "tasks_task_labels", ["task_id", "label_id"], task_labels)
    raw.commit()
    # Settle the tables before measuring: VACUUM sets the visibility map (index-only
    # scans) and keeps autovacuum from starting in the middle of the run.
    previous = raw.autocommit
    raw.autocommit = True
    with raw.cursor() as cur:
        cur.execute(f'SET search_path = "{schema}", public')
        cur.execute("VACUUM ANALYZE")
        cur.execute("CHECKPOINT")  # no write-back storm from the load during the run
    raw.autocommit = previous
    return {
        "projects": projects,
        "labels": labels,
        "clients": clients,
        "private": len(private),
        "assignees": len(assignees),
        "task_labels": len(task_labels),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=5000)
    parser.add_argument("--tasks", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()

    prepare_database("bench_tasks")
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from apps.iam.models import User
    from apps.organizations.models import Membership
    from apps.organizations.services import organization_create

    org = organization_create(slug="big", name="Big Co", owner_email="owner@big.test").tenant
    users = [User.objects.create_user(f"m{i}@big.test", "x") for i in range(50)]
    for i, user in enumerate(users):
        Membership.objects.create(
            user=user, organization=org, role="manager" if i == 0 else "member"
        )
    with Timer() as load_timer:
        data = load(org.schema_name, args.projects, args.tasks, [u.id for u in users])
    rnd = random.Random(7)
    manager, member = users[0], users[-1]
    gc.freeze()  # as config/asgi.py does in every server process

    def shapes() -> dict[str, Callable[[], str]]:
        return {
            "project+status": lambda: f"project={rnd.choice(data['projects'])}&status=todo",
            "assignee+open": lambda: (
                f"assignee={rnd.choice(users).id}&status=todo&status=in_progress"
            ),
            "label+priority": lambda: f"label={rnd.choice(data['labels'])}&priority=high",
            "due_window": lambda: "due_after=2026-12-01&due_before=2026-12-31&ordering=due_date",
            "search": lambda: f"search={rnd.choice(VOCABULARY)}",
            "unfiltered_page_40": lambda: "page=40",
        }

    results = {}
    for who, user in (("manager", manager), ("member", member)):
        client = Client(HTTP_HOST="big.localhost")
        client.force_login(user)
        client.get("/api/v1/tasks/?page_size=50")  # warm caches
        for name, make in shapes().items():
            for _ in range(10):  # warm-up: buffer cache, plan cache, lazy imports
                client.get(f"/api/v1/tasks/?page_size=50&{make()}")
            times, db_times, counts = [], [], set()
            for _ in range(args.requests // len(shapes())):
                with CaptureQueriesContext(connection) as ctx, Timer() as t:
                    response = client.get(f"/api/v1/tasks/?page_size=50&{make()}")
                assert response.status_code == 200, response.content[:500]
                times.append(t.ms)
                db_times.append(sum(float(q["time"]) for q in ctx.captured_queries) * 1000)
                counts.add(len(ctx))
            results[f"{who}:{name}"] = {
                **summary(times),
                "db_ms": summary(db_times),
                "queries_per_request": sorted(counts),
            }
    result = {
        "projects": args.projects,
        "tasks": args.tasks,
        "private_projects": data["private"],
        "assignee_rows": data["assignees"],
        "label_rows": data["task_labels"],
        "load_seconds": round(load_timer.ms / 1000, 1),
        "page_size": 50,
        "shapes": results,
    }
    path = write_result("task_list", result)
    print(json.dumps(result, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
