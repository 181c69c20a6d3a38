"""AI evaluation: suggestion accuracy, parse accuracy and suggestion latency.

    .venv/bin/python -m bench.ai_eval [--users 12 --days 180 --holdout-days 14 --sample 400]

Builds four organizations with different vocabularies (a software agency, a
law firm, a marketing agency, an architecture office; two project names
collide across them) and ~6 months of synthetic but habit-shaped history per
organization: each member works on 2-4 projects with personal weights,
describes work with task-specific phrases varied by prefixes, suffixes, case
and typos, and ~15% of entries are generic ("emails", "planning call") that
only the member's habits can place.

Suggestions: the newest ``--holdout-days`` of every organization are held
out; the model is trained (the real ``suggestion_model_train``) on the rest;
each held-out entry's description is sent through ``suggest()`` as its
author; top-1/top-3 accuracy is counted on the exact (project, task) label and
on the project alone. The same is measured for the cold-start frequency rules
before training. Isolation: no suggestion may name another organization's
project id.

Latency: warm ``POST /api/v1/ai/suggestions/`` through the whole Django
stack in-process (auth, tenant middleware, permission, plan check, model
lookup, visibility queries), and ``suggest()`` alone.

Parse: generated sentences with known truth (date forms, duration and range
forms, project names with and without typos, tags) through
``entry_draft_from_text``; per-field accuracy. The generator and the parser
were written by the same team: the figures show the parser handles the forms
it documents, not that it understands every sentence people write.

Results: stdout and var/bench/ai_eval.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
import uuid
import zoneinfo
from collections import defaultdict
from typing import Any

from bench.ai_eval_data import MONTHS, ORGS, PREFIXES, SUFFIXES, WEEKDAYS
from bench.common import Timer, prepare_database, summary, write_result


def typo(rnd: random.Random, text: str) -> str:
    letters = [i for i, c in enumerate(text) if c.isalpha()]
    if len(letters) < 4:
        return text
    i = rnd.choice(letters[1:-1])
    if rnd.random() < 0.5:
        return text[:i] + text[i + 1 :]  # dropped letter
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]  # swapped letters


def vary(rnd: random.Random, phrase: str) -> str:
    text = rnd.choice(PREFIXES) + phrase + rnd.choice(SUFFIXES)
    if rnd.random() < 0.12:
        text = typo(rnd, text)
    if rnd.random() < 0.3:
        text = text.capitalize()
    return text


def build_org(slug: str, spec: dict[str, Any], users: int, days: int, rnd: random.Random) -> dict:
    """Create the organization, members, projects, tasks; return the history
    (not inserted) and the objects."""
    from django_tenants.utils import tenant_context

    from apps.iam.models import User
    from apps.organizations.models import Membership
    from apps.organizations.services import organization_create
    from apps.projects.models import Project
    from apps.tasks.models import Task

    org = organization_create(slug=slug, name=slug.title(), owner_email=f"owner@{slug}.test").tenant
    org.timezone = spec["timezone"]
    org.save(update_fields=["timezone"])
    people = []
    for i in range(users):
        user = User.objects.create_user(f"m{i}@{slug}.test", "x")
        people.append(Membership.objects.create(user=user, organization=org, role="member"))
    labels: list[tuple[Any, Any, list[str], str | None]] = []
    with tenant_context(org):
        for name, tasks in spec["projects"].items():
            project = Project.objects.create(name=name)
            for title, (phrases, tag) in tasks.items():
                task = Task.objects.create(project=project, title=title)
                labels.append((project, task, phrases, tag))
    projects = sorted({lbl[0] for lbl in labels}, key=lambda p: p.name)
    habits = {}
    for m in people:
        mine = rnd.sample(projects, rnd.randint(2, min(4, len(projects))))
        weights = sorted((rnd.random() + 0.2 for _ in mine), reverse=True)
        habits[m.user_id] = (mine, weights)
    tz = zoneinfo.ZoneInfo(spec["timezone"])
    today = datetime.datetime.now(tz).date()
    history = []
    for m in people:
        mine, weights = habits[m.user_id]
        for d in range(days, 0, -1):
            day = today - datetime.timedelta(days=d)
            if day.weekday() >= 5:
                continue
            clock = datetime.datetime.combine(day, datetime.time(9, 0), tzinfo=tz)
            for _ in range(rnd.randint(2, 4)):
                project = rnd.choices(mine, weights)[0]
                if rnd.random() < 0.15:
                    description, task, tags = rnd.choice(spec["generic"]), None, []
                    if rnd.random() < 0.3:
                        description = vary(rnd, description)
                else:
                    choices = [lbl for lbl in labels if lbl[0] is project]
                    _, task, phrases, tag = rnd.choice(choices)
                    description = vary(rnd, rnd.choice(phrases))
                    tags = [tag] if tag and rnd.random() < 0.6 else []
                seconds = rnd.choice([1800, 2700, 3600, 5400, 7200])
                history.append(
                    {
                        "user_id": m.user_id,
                        "project": project,
                        "task": task,
                        "description": description,
                        "tags": tags,
                        "started_at": clock,
                        "ended_at": clock + datetime.timedelta(seconds=seconds),
                    }
                )
                clock += datetime.timedelta(seconds=seconds + 600)
    return {"org": org, "people": people, "labels": labels, "history": history, "tz": tz}


def insert(org: Any, rows: list[dict]) -> None:
    from django_tenants.utils import tenant_context

    from apps.time_entries.models import TimeEntry

    with tenant_context(org):
        TimeEntry.objects.bulk_create(
            [
                TimeEntry(
                    user_id=r["user_id"],
                    project=r["project"],
                    task=r["task"],
                    description=r["description"],
                    tags=r["tags"],
                    started_at=r["started_at"],
                    ended_at=r["ended_at"],
                    duration_seconds=int((r["ended_at"] - r["started_at"]).total_seconds()),
                )
                for r in rows
            ],
            batch_size=2000,
        )


def evaluate_suggestions(data: dict, test: list[dict], all_project_ids: set[str]) -> dict:
    from django_tenants.utils import tenant_context

    from apps.ai_services.suggestions import suggest

    members = {m.user_id: m for m in data["people"]}
    own = {str(lbl[0].pk) for lbl in data["labels"]}
    foreign = all_project_ids - own
    counts = defaultdict(int)
    times = []
    with tenant_context(data["org"]):
        for row in test:
            with Timer() as t:
                found, meta = suggest(row["description"], actor=members[row["user_id"]], limit=3)
            times.append(t.ms)
            truth = (str(row["project"].pk), str(row["task"].pk) if row["task"] else None)
            labels = [(s.project_id, s.task_id) for s in found]
            projects = [s.project_id for s in found]
            assert not set(projects) & foreign, "a suggestion named another organization's project"
            counts["n"] += 1
            counts["top1"] += labels[:1] == [truth]
            counts["top3"] += truth in labels
            counts["project_top1"] += projects[:1] == [truth[0]]
            counts["project_top3"] += truth[0] in projects
            if row["tags"]:
                counts["tagged"] += 1
                counts["tags_top1"] += bool(found) and found[0].tags == row["tags"]
    n = counts["n"] or 1
    return {
        "n": counts["n"],
        "source": meta["source"],
        "top1": round(counts["top1"] / n, 4),
        "top3": round(counts["top3"] / n, 4),
        "project_top1": round(counts["project_top1"] / n, 4),
        "project_top3": round(counts["project_top3"] / n, 4),
        "tags_exact_top1": round(counts["tags_top1"] / max(1, counts["tagged"]), 4),
        "suggest_ms": summary(times),
    }


def parse_cases(data: dict, n: int, rnd: random.Random) -> list[dict]:
    """Sentences with known truth (in the organization's timezone: members
    keep the default user timezone)."""
    tz = data["tz"]
    today = datetime.datetime.now(tz).date()
    cases = []
    for _ in range(n):
        # date
        kind = rnd.choice(["none", "yesterday", "today", "weekday", "last", "iso", "month", "ago"])
        back = rnd.randint(0, 20)
        if kind == "none":
            date_text, day = "", today
        elif kind == "yesterday":
            date_text, day = "yesterday", today - datetime.timedelta(days=1)
        elif kind == "today":
            date_text, day = "today", today
        elif kind in ("weekday", "last"):
            wd = rnd.randrange(7)
            delta = (today.weekday() - wd) % 7
            if kind == "last" and delta == 0:
                delta = 7
            day = today - datetime.timedelta(days=delta)
            name = WEEKDAYS[wd] if rnd.random() < 0.6 else WEEKDAYS[wd][:3]
            date_text = ("last " if kind == "last" else rnd.choice(["", "on "])) + name
        elif kind == "iso":
            day = today - datetime.timedelta(days=back)
            date_text = day.isoformat()
        elif kind == "month":
            day = today - datetime.timedelta(days=back)
            date_text = f"{MONTHS[day.month - 1]} {day.day}"
        else:
            back = rnd.randint(2, 9)
            day = today - datetime.timedelta(days=back)
            date_text = f"{back} days ago"
        # duration or range
        form = rnd.choice(["hm", "m", "dec", "minutes", "words", "range", "range_ampm", "colon"])
        start = None
        if form == "hm":
            h, m = rnd.randint(1, 6), rnd.choice([15, 30, 45])
            dur_text, seconds = f"{h}h{m}", h * 3600 + m * 60
        elif form == "m":
            m = rnd.choice([15, 20, 30, 45, 50])
            dur_text, seconds = f"{m}m", m * 60
        elif form == "dec":
            h = rnd.choice([0.5, 1, 1.5, 2, 2.5, 3, 7.5])
            dur_text, seconds = f"{h}h", int(h * 3600)
        elif form == "minutes":
            m = rnd.choice([20, 40, 90, 120])
            dur_text, seconds = f"{m} minutes", m * 60
        elif form == "words":
            h, m = rnd.randint(1, 4), rnd.choice([10, 15, 30])
            dur_text, seconds = f"{h} hours {m} minutes", h * 3600 + m * 60
        elif form == "colon":
            h, m = rnd.randint(0, 3), rnd.choice([15, 30, 45])
            dur_text, seconds = f"{h}:{m:02d}h", h * 3600 + m * 60
        else:
            sh, sm = rnd.randint(7, 15), rnd.choice([0, 15, 30])
            length = rnd.choice([30, 60, 90, 150, 180]) * 60
            start = datetime.time(sh, sm)
            end_dt = datetime.datetime.combine(today, start) + datetime.timedelta(seconds=length)
            seconds = length
            if form == "range":
                fmt = lambda t: f"{t.hour}" if t.minute == 0 else f"{t.hour}:{t.minute:02d}"  # noqa: E731
                dur_text = f"{fmt(start)}-{fmt(end_dt.time())}"
            else:
                fmt = lambda t: (  # noqa: E731
                    f"{(t.hour - 1) % 12 + 1}"
                    + (f":{t.minute:02d}" if t.minute else "")
                    + ("pm" if t.hour >= 12 else "am")
                )
                dur_text = f"from {fmt(start)} to {fmt(end_dt.time())}"
        project, _task, phrases, tag = rnd.choice(data["labels"])
        name = project.name
        if rnd.random() < 0.25:
            name = typo(rnd, name)
        if rnd.random() < 0.3:
            name = name.lower()
        description = rnd.choice(phrases)
        tags = sorted({tag} if tag and rnd.random() < 0.5 else set())
        tag_text = " ".join(f"#{t}" for t in tags)
        template = rnd.choice(
            [
                "{dur} {date} on {project}: {desc} {tags}",
                "{date} {dur} {desc} for {project} {tags}",
                "{project}: {desc} {dur} {date} {tags}",
                "{dur} {desc} on {project} {date} {tags}",
            ]
        )
        text = " ".join(
            template.format(
                dur=dur_text, date=date_text, project=name, desc=description, tags=tag_text
            ).split()
        )
        cases.append(
            {
                "text": text,
                "date": day,
                "seconds": seconds,
                "start": start,
                "project": str(project.pk),
                "description": description,
                "tags": tags,
            }
        )
    return cases


def evaluate_parse(data: dict, cases: list[dict]) -> dict:
    from django_tenants.utils import tenant_context

    from apps.ai_services.selectors import entry_draft_from_text

    member = data["people"][0]
    hits = defaultdict(int)
    failures: list[dict] = []
    times = []
    with tenant_context(data["org"]):
        for case in cases:
            with Timer() as t:
                draft = entry_draft_from_text(text=case["text"], actor=member, user=member.user)
            times.append(t.ms)
            ok = {
                "date": draft["date"] == case["date"],
                "duration": draft["duration_seconds"] == case["seconds"],
                "start": case["start"] is None
                or (
                    draft["started_at"] is not None and draft["started_at"].time() == case["start"]
                ),
                "project": draft["project"] == case["project"],
                "tags": draft["tags"] == case["tags"],
                "description": draft["description"].lower() == case["description"].lower(),
            }
            for field, good in ok.items():
                hits[field] += good
            if not all(ok.values()) and len(failures) < 8:
                failures.append(
                    {
                        "text": case["text"],
                        "wrong": [f for f, g in ok.items() if not g],
                        "got": {
                            k: str(draft[k])
                            for k in (
                                "date",
                                "duration_seconds",
                                "project_name",
                                "description",
                                "tags",
                            )
                        },
                    }
                )
    n = len(cases) or 1
    return {
        "n": len(cases),
        **{
            f"{field}_accuracy": round(hits[field] / n, 4)
            for field in ("date", "duration", "start", "project", "tags", "description")
        },
        "parse_ms": summary(times),
        "examples_of_misses": failures,
    }


def http_latency(data: dict, test: list[dict], requests: int) -> dict:
    import gc
    import os
    import time

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    member = data["people"][0]
    client = Client(HTTP_HOST=f"{data['org'].slug}.localhost")
    client.force_login(member.user)
    descriptions = [r["description"] for r in test]
    for d in descriptions[:20]:  # warm-up: model load, plan cache, lazy imports
        client.post("/api/v1/ai/suggestions/", {"description": d}, content_type="application/json")
    gc.freeze()
    times, cpu, queries = [], [], set()
    load_before = os.getloadavg()[0]
    for i in range(requests):
        cpu_start = time.process_time()
        with CaptureQueriesContext(connection) as ctx, Timer() as t:
            response = client.post(
                "/api/v1/ai/suggestions/",
                {"description": descriptions[i % len(descriptions)]},
                content_type="application/json",
            )
        cpu.append((time.process_time() - cpu_start) * 1000)
        assert response.status_code == 200, response.content[:300]
        times.append(t.ms)
        queries.add(len(ctx))
    return {
        **summary(times),
        "process_cpu_ms": summary(cpu),
        "queries_per_request": sorted(queries),
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=12)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--holdout-days", type=int, default=14)
    parser.add_argument("--sample", type=int, default=400, help="held-out entries per org")
    parser.add_argument("--parse-cases", type=int, default=500, help="sentences per org")
    parser.add_argument("--requests", type=int, default=300, help="HTTP requests per org")
    args = parser.parse_args()

    prepare_database("bench_ai")
    from django_tenants.utils import tenant_context

    from apps.ai_services.services import suggestion_model_train

    rnd = random.Random(20261126)
    built = {slug: build_org(slug, spec, args.users, args.days, rnd) for slug, spec in ORGS.items()}
    all_project_ids = {str(lbl[0].pk) for d in built.values() for lbl in d["labels"]}
    results: dict[str, Any] = {"organizations": {}}
    for slug, data in built.items():
        cutoff = datetime.datetime.now(data["tz"]) - datetime.timedelta(days=args.holdout_days)
        train = [r for r in data["history"] if r["started_at"] < cutoff]
        held = [r for r in data["history"] if r["started_at"] >= cutoff]
        test = rnd.sample(held, min(args.sample, len(held)))
        insert(data["org"], train)
        cold = evaluate_suggestions(data, test[:200], all_project_ids)
        with tenant_context(data["org"]), Timer() as train_timer:
            row = suggestion_model_train()
        warm = evaluate_suggestions(data, test, all_project_ids)
        parse = evaluate_parse(data, parse_cases(data, args.parse_cases, rnd))
        results["organizations"][slug] = {
            "entries_trained": len(train),
            "held_out_entries": len(held),
            "projects": len({lbl[0].pk for lbl in data["labels"]}),
            "tasks": len(data["labels"]),
            "train_seconds": round(train_timer.ms / 1000, 2),
            "model": row.stats | {"version": row.version},
            "cold_start": cold,
            "model_suggestions": warm,
            "http_suggestions_ms": http_latency(data, test, args.requests),
            "parse": parse,
        }
        print(slug, json.dumps(results["organizations"][slug], default=str)[:600], flush=True)

    orgs = results["organizations"].values()

    def mean(path: tuple[str, str]) -> float:
        return round(sum(o[path[0]][path[1]] for o in orgs) / len(results["organizations"]), 4)

    results["overall"] = {
        "top1": mean(("model_suggestions", "top1")),
        "top3": mean(("model_suggestions", "top3")),
        "project_top1": mean(("model_suggestions", "project_top1")),
        "project_top3": mean(("model_suggestions", "project_top3")),
        "cold_top1": mean(("cold_start", "top1")),
        "cold_top3": mean(("cold_start", "top3")),
        "parse_date": mean(("parse", "date_accuracy")),
        "parse_duration": mean(("parse", "duration_accuracy")),
        "parse_start": mean(("parse", "start_accuracy")),
        "parse_project": mean(("parse", "project_accuracy")),
        "parse_tags": mean(("parse", "tags_accuracy")),
        "parse_description": mean(("parse", "description_accuracy")),
        "http_p95_ms_worst_org": max(o["http_suggestions_ms"]["p95_ms"] for o in orgs),
        "suggest_p95_ms_worst_org": max(
            o["model_suggestions"]["suggest_ms"]["p95_ms"] for o in orgs
        ),
    }
    results["params"] = vars(args)
    results["run_id"] = str(uuid.uuid4())
    path = write_result("ai_eval", results)
    print(json.dumps(results["overall"], indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
