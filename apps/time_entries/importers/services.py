"""Import time entries from a Toggl Track or Clockify CSV export.

One function, :func:`time_entries_import`, does both the dry run and the real
run with the same checks, so a dry run that reports no errors predicts the
real run exactly (bar concurrent changes, which the real run re-checks under
locks). The real run is all-or-nothing: any row error → 400
``import_invalid`` with the report, nothing written.

Per row, in order: the file's values (dates, times, billable, duration;
local times through UTC with daylight-saving gaps refused and folds
resolved by the duration or reported as warnings, end and duration
agreeing, see :mod:`.parsing`;
tags by the entries API's own rule,
:func:`apps.time_entries.services.normalize_tags`: more than ``MAX_TAGS``
distinct tags → ``too_many_tags``, a tag over ``MAX_TAG_LENGTH`` characters
→ ``tag_too_long``, never cut), the user (matched by email to an *active
member*; members may import only their own rows,
``entries.manage_all`` anyone's), the project (matched by name and
client, or by name alone when that is unambiguous; created with
``create_missing``; archived/deleted projects take no time), the task (by
title in the project; created with ``create_missing``), the span (end after
start, at most 24 h, not in the future), timesheet locks (a submitted or
approved sheet covering the entry's days → ``entry_locked``), overlaps with
the member's existing entries and with earlier rows of the file (unless the
organization allows overlaps) → ``entry_overlap``.

Entries are written with ``source=import``, the rate resolved by
:func:`apps.time_entries.services.resolve_rate` and the amount by
``compute_amount`` (the same snapshot a manual entry gets).

Locking: the real run takes :func:`apps.time_entries.locks.user_time_lock`
for every imported user (sorted, so two imports cannot deadlock) before it
reads timesheets and existing entries, like every other write path; the
exclusion constraint stays the backstop (a lost race → 409 ``import_conflict``).
"""

from __future__ import annotations

import datetime
import logging
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from apps.billing.limits import check_limit
from apps.common.errors import ApplicationError, ConflictError
from apps.organizations.constants import MembershipStatus
from apps.organizations.models import Membership
from apps.organizations.permissions import role_has
from apps.projects.models import Client, Project
from apps.projects.selectors import project_accepts_time, visible_project_filter
from apps.tasks.models import Task
from apps.time_entries.constants import EntrySource
from apps.time_entries.locks import user_time_lock
from apps.time_entries.models import TimeEntry
from apps.time_entries.services import (
    EVENT_ENTRY,
    MAX_FUTURE,
    compute_amount,
    resolve_rate,
)
from apps.timesheets.constants import LOCKED_STATUSES
from apps.timesheets.models import Timesheet
from apps.timesheets.periods import local_date
from apps.websocket_server.events import send_event_on_commit
from tenants.db import current_tenant

from .parsing import MAX_ENTRY, ParsedRow, RowError, decode, read_rows

logger = logging.getLogger(__name__)

#: Row errors listed in a report (the count is always complete).
MAX_ERRORS_LISTED = 500


@dataclass
class _Plan:
    """What the import would do, built row by row."""

    errors: list[RowError] = field(default_factory=list)
    users: dict[str, Any] = field(default_factory=dict)  # email → user_id
    clients_create: dict[str, str] = field(default_factory=dict)  # lower → name
    clients_match: dict[str, Client] = field(default_factory=dict)
    projects_create: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    projects_match: dict[Any, Project] = field(default_factory=dict)
    tasks_create: dict[tuple[Any, str], tuple[Any, str]] = field(default_factory=dict)
    tasks_match: dict[Any, Task] = field(default_factory=dict)
    rows: list[tuple[ParsedRow, Any, Any, Any]] = field(default_factory=list)
    # (row, user_id, project key or Project, task key or Task / None)


def time_entries_import(
    *,
    membership: Any,
    source: str,
    content: bytes,
    dry_run: bool = True,
    create_missing: bool = False,
    tz_name: str | None = None,
    day_first: bool = False,
) -> dict[str, Any]:
    """Check (and unless ``dry_run``, write) the entries of an export file.

    Returns the report; raises 400 for an unreadable file, 400
    ``import_invalid`` (with the report) when a real run has row errors, 409
    ``import_conflict`` when a concurrent write wins a race.
    """
    organization = current_tenant()
    tz = zoneinfo.ZoneInfo(tz_name or organization.timezone)
    rows, parse_errors = read_rows(source=source, text=decode(content), tz=tz, day_first=day_first)
    if not rows and not parse_errors:
        raise ApplicationError("The file has a header but no entries.", code="import_empty")

    if dry_run:
        plan = _plan(membership, organization, rows, parse_errors, create_missing)
        return _report(source, True, rows, parse_errors, plan)

    try:
        with transaction.atomic():
            for user_id in sorted({str(uid) for uid in _user_ids_by_email(rows).values()}):
                user_time_lock(user_id)
            plan = _plan(membership, organization, rows, parse_errors, create_missing)
            report = _report(source, False, rows, parse_errors, plan)
            if plan.errors:
                raise ApplicationError(
                    f"{len(plan.errors)} row(s) cannot be imported; nothing was written.",
                    code="import_invalid",
                    extra={"report": report},
                )
            report["created"] = _write(plan, organization, membership)
    except IntegrityError as exc:
        logger.info("import lost a race: %s", exc)
        raise ConflictError(
            "Someone changed these members' time during the import; nothing was written. "
            "Run it again.",
            code="import_conflict",
        ) from exc
    logger.info(
        "imported %s entries from %s for %s user(s)",
        report["created"]["entries"],
        source,
        len(plan.users),
    )
    return report


# --- planning -------------------------------------------------------------------------


def _user_ids_by_email(rows: Iterable[ParsedRow]) -> dict[str, Any]:
    emails = {row.email for row in rows}
    return {
        email.lower(): user_id
        for user_id, email in Membership.objects.filter(
            organization_id=current_tenant().pk,
            status=MembershipStatus.ACTIVE,
            user__email__in=emails,
        ).values_list("user_id", "user__email")
    }


def _plan(
    membership: Any,
    organization: Any,
    rows: list[ParsedRow],
    parse_errors: list[RowError],
    create_missing: bool,
) -> _Plan:
    plan = _Plan(errors=list(parse_errors))
    plan.users = _user_ids_by_email(rows)
    may_import_others = role_has(membership.role, "entries.manage_all")
    now = timezone.now()

    names = {row.project.lower() for row in rows}
    projects = list(
        Project.all_objects.annotate(lname=Lower("name"))
        .filter(lname__in=names)
        .filter(visible_project_filter(membership))  # a private project is unknown to others
        .select_related("client")
        .order_by("deleted_at", "created_at")  # live before deleted
    )
    by_name: dict[str, list[Project]] = defaultdict(list)
    for project in projects:
        by_name[project.name.lower()].append(project)
    client_names = {row.client.lower() for row in rows if row.client}
    clients = {
        c.name.lower(): c
        for c in Client.objects.annotate(lname=Lower("name")).filter(lname__in=client_names)
    }
    tasks_by_project: dict[Any, dict[str, Task]] = defaultdict(dict)
    for task in Task.objects.filter(project__in=[p.pk for p in projects]).order_by("created_at"):
        tasks_by_project[task.project_id].setdefault(task.title.lower(), task)

    for row in rows:
        user_id = plan.users.get(row.email)
        if user_id is None:
            plan.errors.append(
                RowError(row.line, "unknown_user", f"{row.email} is not an active member.", "Email")
            )
            continue
        if str(user_id) != str(membership.user_id) and not may_import_others:
            plan.errors.append(
                RowError(
                    row.line,
                    "not_allowed",
                    "You may import only your own time.",
                    "Email",
                )
            )
            continue
        problem = _span_problem(row, now)
        if problem:
            plan.errors.append(problem)
            continue
        project_ref = _match_project(plan, row, by_name, clients, create_missing)
        if project_ref is None:
            continue
        task_ref = _match_task(plan, row, project_ref, tasks_by_project, create_missing)
        if task_ref is False:
            continue
        plan.rows.append((row, user_id, project_ref, task_ref))

    _check_locks_and_overlaps(plan, organization)
    plan.errors.sort(key=lambda e: e.line)
    return plan


def _span_problem(row: ParsedRow, now: datetime.datetime) -> RowError | None:
    if row.ended_at < row.started_at:
        return RowError(row.line, "end_before_start", "The end is before the start.", "End time")
    if row.ended_at - row.started_at > MAX_ENTRY:
        return RowError(
            row.line, "entry_too_long", "Entries longer than 24 hours are not imported.", "Duration"
        )
    if row.ended_at > now + MAX_FUTURE:
        return RowError(row.line, "entry_in_future", "This entry lies in the future.", "Start date")
    return None


def _match_project(
    plan: _Plan,
    row: ParsedRow,
    by_name: dict[str, list[Project]],
    clients: dict[str, Client],
    create_missing: bool,
) -> Any:
    """The Project, a key of a project to create, or ``None`` (row error added)."""
    live = [p for p in by_name.get(row.project.lower(), []) if p.deleted_at is None]
    client_key = row.client.lower()
    exact = [p for p in live if (p.client.name.lower() if p.client else "") == client_key]
    # Name and client; else the name alone when exactly one live project has it.
    found = exact[0] if exact else (live[0] if len(live) == 1 else None)
    if found is not None:
        if not project_accepts_time(found):
            plan.errors.append(
                RowError(
                    row.line, "project_archived", f"Project {found.name!r} is archived.", "Project"
                )
            )
            return None
        plan.projects_match[found.pk] = found
        if found.client is not None:
            plan.clients_match[found.client.name.lower()] = found.client
        return found
    if not create_missing:
        plan.errors.append(
            RowError(
                row.line,
                "unknown_project",
                f"No project {row.project!r}"
                + (f" of client {row.client!r}" if row.client else "")
                + " (send create_missing=true to create it).",
                "Project",
            )
        )
        return None
    if row.client:
        if client_key in clients:
            plan.clients_match[client_key] = clients[client_key]
        else:
            plan.clients_create.setdefault(client_key, row.client)
    key = (row.project.lower(), client_key)
    plan.projects_create.setdefault(key, (row.project, row.client))
    return key


def _match_task(
    plan: _Plan,
    row: ParsedRow,
    project_ref: Any,
    tasks_by_project: dict[Any, dict[str, Task]],
    create_missing: bool,
) -> Any:
    """The Task, a key of a task to create, ``None`` (no task) or ``False`` (error)."""
    if not row.task:
        return None
    if isinstance(project_ref, Project):
        task = tasks_by_project.get(project_ref.pk, {}).get(row.task.lower())
        if task is not None:
            plan.tasks_match[task.pk] = task
            return task
    if not create_missing:
        plan.errors.append(
            RowError(row.line, "unknown_task", f"No task {row.task!r} in this project.", "Task")
        )
        return False
    key = (project_ref.pk if isinstance(project_ref, Project) else project_ref, row.task.lower())
    plan.tasks_create.setdefault(key, (project_ref, row.task))
    return key


def _check_locks_and_overlaps(plan: _Plan, organization: Any) -> None:
    """Timesheet locks and overlaps for all rows: two queries, then in memory."""
    if not plan.rows:
        return
    user_ids = {user_id for _, user_id, _, _ in plan.rows}
    first = min(row.started_at for row, *_ in plan.rows)
    last = max(row.ended_at for row, *_ in plan.rows)
    sheets: dict[Any, list[Timesheet]] = defaultdict(list)
    for locked in Timesheet.objects.filter(
        user_id__in=user_ids,
        status__in=LOCKED_STATUSES,
        period_start__lte=local_date(organization, last),
        period_end__gte=local_date(organization, first),
    ):
        sheets[locked.user_id].append(locked)

    check_overlaps = not organization.allow_overlapping_entries
    existing: dict[Any, list[tuple[datetime.datetime, datetime.datetime, Any]]] = defaultdict(list)
    if check_overlaps:
        far = datetime.datetime.max.replace(tzinfo=datetime.UTC)
        for user_id, start, end, pk in TimeEntry.objects.filter(
            Q(ended_at__isnull=True) | Q(ended_at__gt=first),
            user_id__in=user_ids,
            overlap_allowed=False,
            started_at__lt=last,
        ).values_list("user_id", "started_at", "ended_at", "pk"):
            existing[user_id].append((start, end or far, pk))

    kept: list[tuple[ParsedRow, Any, Any, Any]] = []
    accepted: dict[Any, list[tuple[datetime.datetime, datetime.datetime, int]]] = defaultdict(list)
    for item in sorted(plan.rows, key=lambda r: (r[0].started_at, r[0].line)):
        row, user_id = item[0], item[1]
        start_day, end_day = (
            local_date(organization, row.started_at),
            local_date(organization, row.ended_at),
        )
        sheet = next(
            (s for s in sheets[user_id] if s.period_start <= end_day and s.period_end >= start_day),
            None,
        )
        if sheet is not None:
            plan.errors.append(
                RowError(
                    row.line,
                    "entry_locked",
                    f"This time is in a {sheet.status} timesheet "
                    f"({sheet.period_start}..{sheet.period_end}).",
                    "Start date",
                )
            )
            continue
        if check_overlaps and row.ended_at > row.started_at:
            clash = next(
                (
                    pk
                    for s, e, pk in existing[user_id]
                    if s < row.ended_at and e > row.started_at and e > s
                ),
                None,
            )
            if clash is not None:
                plan.errors.append(
                    RowError(
                        row.line,
                        "entry_overlap",
                        f"Overlaps the existing entry {clash}.",
                        "Start time",
                    )
                )
                continue
            earlier = next(
                (
                    line
                    for s, e, line in accepted[user_id]
                    if s < row.ended_at and e > row.started_at
                ),
                None,
            )
            if earlier is not None:
                plan.errors.append(
                    RowError(
                        row.line,
                        "entry_overlap",
                        f"Overlaps line {earlier} of this file.",
                        "Start time",
                    )
                )
                continue
            accepted[user_id].append((row.started_at, row.ended_at, row.line))
        kept.append(item)
    plan.rows = kept


# --- report and write -----------------------------------------------------------------


def _report(
    source: str, dry_run: bool, rows: list[ParsedRow], parse_errors: list[RowError], plan: _Plan
) -> dict[str, Any]:
    tags = sorted({tag for row, *_ in plan.rows for tag in row.tags}, key=str.lower)
    known = _existing_tags(tags)
    # Choices the file did not settle (ambiguous local times), for every row
    # read, so a dry run shows them before anything is written.
    warnings = sorted((w for row in rows for w in row.warnings), key=lambda w: w.line)
    return {
        "source": source,
        "dry_run": dry_run,
        "rows": len(rows) + len(parse_errors),
        "error_count": len(plan.errors),
        "errors": [e.as_dict() for e in plan.errors[:MAX_ERRORS_LISTED]],
        "warning_count": len(warnings),
        "warnings": [w.as_dict() for w in warnings[:MAX_ERRORS_LISTED]],
        "entries": {
            "create": len(plan.rows),
            "total_seconds": sum(
                int((row.ended_at - row.started_at).total_seconds()) for row, *_ in plan.rows
            ),
        },
        "users": {"match": sorted(plan.users)},
        "clients": {
            "create": sorted(plan.clients_create.values(), key=str.lower),
            "match": sorted((c.name for c in plan.clients_match.values()), key=str.lower),
        },
        "projects": {
            "create": [
                {"name": name, "client": client or None}
                for name, client in sorted(
                    plan.projects_create.values(), key=lambda v: v[0].lower()
                )
            ],
            "match": [
                {"id": str(p.pk), "name": p.name, "client": p.client.name if p.client else None}
                for p in sorted(plan.projects_match.values(), key=lambda p: p.name.lower())
            ],
        },
        "tasks": {
            "create": sorted(name for _, name in plan.tasks_create.values()),
            "match": sorted(t.title for t in plan.tasks_match.values()),
        },
        "tags": {
            "create": [t for t in tags if t.lower() not in known],
            "match": [t for t in tags if t.lower() in known],
        },
    }


def _existing_tags(tags: list[str]) -> set[str]:
    if not tags:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT lower(tag) FROM time_entries_timeentry, unnest(tags) AS tag "
            "WHERE deleted_at IS NULL AND lower(tag) = ANY(%s)",
            [[t.lower() for t in tags]],
        )
        return {row[0] for row in cursor.fetchall()}


def _write(plan: _Plan, organization: Any, membership: Any) -> dict[str, int]:
    clients = dict(plan.clients_match)
    for client_key, name in plan.clients_create.items():
        clients[client_key] = Client.objects.create(name=name)
    projects: dict[Any, Project] = {}
    if plan.projects_create:  # imports obey the plan's project limit like the API
        check_limit(
            organization_id=organization.pk,
            limit="projects",
            count=Project.objects.count,
            adding=len(plan.projects_create),
        )
    for project_key, (name, client_name) in plan.projects_create.items():
        projects[project_key] = Project.objects.create(
            name=name,
            client=clients.get(client_name.lower()) if client_name else None,
            created_by_id=membership.user_id,
        )
    tasks: dict[Any, Task] = {}
    for task_key, (project_ref, title) in plan.tasks_create.items():
        project = project_ref if isinstance(project_ref, Project) else projects[project_ref]
        tasks[task_key] = Task.objects.create(
            project=project, title=title, reporter_id=membership.user_id
        )

    rates: dict[tuple[Any, Any], Decimal | None] = {}
    entries = []
    for row, user_id, project_ref, task_ref in plan.rows:
        project = project_ref if isinstance(project_ref, Project) else projects[project_ref]
        task = task_ref if isinstance(task_ref, Task) or task_ref is None else tasks[task_ref]
        if (user_id, project.pk) not in rates:
            rates[(user_id, project.pk)] = resolve_rate(user_id=user_id, project=project)
        rate = rates[(user_id, project.pk)]
        seconds = int((row.ended_at - row.started_at).total_seconds())
        entries.append(
            TimeEntry(
                user_id=user_id,
                project=project,
                task=task,
                description=row.description,
                started_at=row.started_at,
                ended_at=row.ended_at,
                duration_seconds=seconds,
                billable=row.billable,
                tags=row.tags,  # normalized by the parser (services.normalize_tags)
                source=EntrySource.IMPORT,
                hourly_rate=rate,
                amount=compute_amount(rate=rate, duration_seconds=seconds, billable=row.billable),
                overlap_allowed=bool(organization.allow_overlapping_entries),
            )
        )
    TimeEntry.objects.bulk_create(entries, batch_size=1000)
    per_user: dict[Any, int] = defaultdict(int)
    for entry in entries:
        per_user[entry.user_id] += 1
    for user_id, count in per_user.items():
        send_event_on_commit(
            type=EVENT_ENTRY, op="imported", data={"count": count}, user_ids=[user_id]
        )
    return {
        "entries": len(entries),
        "clients": len(plan.clients_create),
        "projects": len(plan.projects_create),
        "tasks": len(plan.tasks_create),
    }
