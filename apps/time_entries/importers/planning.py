"""The checks of an import, row by row: what it would create and what it refuses.

:func:`plan_import` builds a :class:`Plan` from the parsed rows (users, clients,
projects, tasks to match or create; row errors), then checks every kept row
against the timesheet lock rule (:mod:`apps.time_entries.locking`, one query
for all rows) and the overlap rule (one query, then in memory). The dry run
reports the plan; the real run writes it (:mod:`.services`).
"""

from __future__ import annotations

import datetime
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from apps.organizations.constants import MembershipStatus
from apps.organizations.models import Membership, Organization
from apps.organizations.permissions import may
from apps.projects.models import Client, Project
from apps.projects.selectors import project_accepts_time, visible_project_filter
from apps.tasks.models import Task
from apps.time_entries.locking import locked_sheets
from apps.time_entries.models import TimeEntry
from apps.time_entries.services.validation import MAX_FUTURE
from tenants.db import current_tenant

from .parsing import ParsedRow, RowError
from .times import MAX_ENTRY

#: A project to create: (name, client name) in lower case.
ProjectKey = tuple[str, str]
#: A task to create: (project id or :data:`ProjectKey`, title) in lower case.
TaskKey = tuple[uuid.UUID | ProjectKey, str]
ProjectRef = Project | ProjectKey
TaskRef = Task | TaskKey | None
#: A row to write: the row, its user, its project and task (found or to create).
PlannedRow = tuple[ParsedRow, uuid.UUID, ProjectRef, TaskRef]


@dataclass
class Plan:
    """What the import would do, built row by row."""

    errors: list[RowError] = field(default_factory=list)
    users: dict[str, uuid.UUID] = field(default_factory=dict)  # email → user_id
    clients_create: dict[str, str] = field(default_factory=dict)  # lower → name
    clients_match: dict[str, Client] = field(default_factory=dict)
    projects_create: dict[ProjectKey, tuple[str, str]] = field(default_factory=dict)
    projects_match: dict[uuid.UUID, Project] = field(default_factory=dict)
    tasks_create: dict[TaskKey, tuple[ProjectRef, str]] = field(default_factory=dict)
    tasks_match: dict[uuid.UUID, Task] = field(default_factory=dict)
    rows: list[PlannedRow] = field(default_factory=list)


def user_ids_by_email(rows: Iterable[ParsedRow]) -> dict[str, uuid.UUID]:
    emails = {row.email for row in rows}
    return {
        email.lower(): user_id
        for user_id, email in Membership.objects.filter(
            organization_id=current_tenant().pk,
            status=MembershipStatus.ACTIVE,
            user__email__in=emails,
        ).values_list("user_id", "user__email")
    }


def plan_import(
    actor: Membership,
    organization: Organization,
    rows: list[ParsedRow],
    parse_errors: list[RowError],
    create_missing: bool,
) -> Plan:
    plan = Plan(errors=list(parse_errors))
    plan.users = user_ids_by_email(rows)
    may_import_others = may(actor, "entries.manage_all")
    now = timezone.now()

    names = {row.project.lower() for row in rows}
    projects = list(
        Project.all_objects.annotate(lname=Lower("name"))
        .filter(lname__in=names)
        .filter(visible_project_filter(actor))  # a private project is unknown to others
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
    tasks_by_project: dict[uuid.UUID, dict[str, Task]] = defaultdict(dict)
    for task in Task.objects.filter(project__in=[p.pk for p in projects]).order_by("created_at"):
        tasks_by_project[task.project_id].setdefault(task.title.lower(), task)

    for row in rows:
        user_id = plan.users.get(row.email)
        if user_id is None:
            plan.errors.append(
                RowError(row.line, "unknown_user", f"{row.email} is not an active member.", "Email")
            )
            continue
        if str(user_id) != str(actor.user_id) and not may_import_others:
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
    plan: Plan,
    row: ParsedRow,
    by_name: dict[str, list[Project]],
    clients: dict[str, Client],
    create_missing: bool,
) -> ProjectRef | None:
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
    plan: Plan,
    row: ParsedRow,
    project_ref: ProjectRef,
    tasks_by_project: dict[uuid.UUID, dict[str, Task]],
    create_missing: bool,
) -> TaskRef | Literal[False]:
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


def _check_locks_and_overlaps(plan: Plan, organization: Organization) -> None:
    """Timesheet locks and overlaps for all rows: two queries, then in memory."""
    if not plan.rows:
        return
    user_ids = {user_id for _, user_id, _, _ in plan.rows}
    first = min(row.started_at for row, *_ in plan.rows)
    last = max(row.ended_at for row, *_ in plan.rows)
    # The lock rule, loaded once for every row's user and day.
    sheets = locked_sheets(
        organization=organization, user_ids=user_ids, started_at=first, ended_at=last
    )

    check_overlaps = not organization.allow_overlapping_entries
    existing: dict[uuid.UUID, list[tuple[datetime.datetime, datetime.datetime, uuid.UUID]]]
    existing = defaultdict(list)
    if check_overlaps:
        far = datetime.datetime.max.replace(tzinfo=datetime.UTC)
        for user_id, start, end, pk in TimeEntry.objects.filter(
            Q(ended_at__isnull=True) | Q(ended_at__gt=first),
            user_id__in=user_ids,
            overlap_allowed=False,
            started_at__lt=last,
        ).values_list("user_id", "started_at", "ended_at", "pk"):
            existing[user_id].append((start, end or far, pk))

    kept: list[PlannedRow] = []
    accepted: dict[uuid.UUID, list[tuple[datetime.datetime, datetime.datetime, int]]]
    accepted = defaultdict(list)
    for item in sorted(plan.rows, key=lambda r: (r[0].started_at, r[0].line)):
        row, user_id = item[0], item[1]
        sheet = sheets.covering(user_id=user_id, started_at=row.started_at, ended_at=row.ended_at)
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
