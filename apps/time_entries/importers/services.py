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
:func:`apps.time_entries.services.validation.normalize_tags`: more than ``MAX_TAGS``
distinct tags → ``too_many_tags``, a tag over ``MAX_TAG_LENGTH`` characters
→ ``tag_too_long``, never cut), the user (matched by email to an *active
member*; members may import only their own rows,
``entries.manage_all`` anyone's), the project (matched by name and
client, or by name alone when that is unambiguous; created with
``create_missing``; archived/deleted projects take no time), the task (by
title in the project; created with ``create_missing``), the span (end after
start, at most 24 h, not in the future), timesheet locks (a submitted or
approved sheet covering the entry's days → ``entry_locked``: the one lock
rule, :func:`apps.time_entries.locking.locked_sheets`), overlaps with
the member's existing entries and with earlier rows of the file (unless the
organization allows overlaps) → ``entry_overlap``. The row checks are
:mod:`.planning`; this module runs them, reports and writes.

Entries are written with ``source=import``, the rate resolved by
:func:`apps.time_entries.rates.resolve_rate` and the amount by
``compute_amount`` (the same snapshot a manual entry gets).

Locking: the real run takes :func:`apps.time_entries.locking.user_time_lock`
for every imported user (sorted, so two imports cannot deadlock) before it
reads timesheets and existing entries, like every other write path; the
exclusion constraint stays the backstop (a lost race → 409 ``import_conflict``).
"""

from __future__ import annotations

import logging
import uuid
import zoneinfo
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction

from apps.billing.limits import check_limit
from apps.common.errors import ApplicationError, ConflictError
from apps.organizations.models import Membership, Organization
from apps.organizations.permissions import require
from apps.projects.models import Client, Project
from apps.tasks.models import Task
from apps.time_entries.constants import EntrySource
from apps.time_entries.locking import user_time_lock
from apps.time_entries.models import TimeEntry
from apps.time_entries.rates import compute_amount, resolve_rate
from apps.time_entries.services.events import EVENT_ENTRY
from apps.websocket_server.events import send_event_on_commit
from tenants.db import current_tenant

from .parsing import MAX_FILE_BYTES, ParsedRow, RowError, decode, file_error, read_rows
from .planning import Plan, ProjectKey, TaskKey, plan_import, user_ids_by_email

logger = logging.getLogger(__name__)

#: Row errors listed in a report (the count is always complete).
MAX_ERRORS_LISTED = 500


def time_entries_import(
    *,
    actor: Membership,
    source: str,
    upload: UploadedFile,
    dry_run: bool = True,
    create_missing: bool = False,
    tz_name: str | None = None,
    day_first: bool = False,
) -> dict[str, Any]:
    """Check (and unless ``dry_run``, write) the entries of an export file.

    Members import their own time, ``entries.manage_all`` anyone's;
    ``create_missing`` needs ``projects.manage`` (403 ``role_required``,
    before the file is read). Returns the report; raises 400 for an
    unreadable file (``import_too_large`` before reading it), 400
    ``import_invalid`` (with the report) when a real run has row errors, 409
    ``import_conflict`` when a concurrent write wins a race.
    """
    if create_missing:
        require(actor, "projects.manage")
    if upload.size is not None and upload.size > MAX_FILE_BYTES:
        raise file_error(
            f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB: "
            "export a shorter date range.",
            code="import_too_large",
        )
    content = upload.read(MAX_FILE_BYTES + 1)
    organization = current_tenant()
    tz = zoneinfo.ZoneInfo(tz_name or organization.timezone)
    rows, parse_errors = read_rows(source=source, text=decode(content), tz=tz, day_first=day_first)
    if not rows and not parse_errors:
        raise ApplicationError("The file has a header but no entries.", code="import_empty")

    if dry_run:
        plan = plan_import(actor, organization, rows, parse_errors, create_missing)
        return _report(source, True, rows, parse_errors, plan)

    try:
        with transaction.atomic():
            for user_id in sorted({str(uid) for uid in user_ids_by_email(rows).values()}):
                user_time_lock(user_id)
            plan = plan_import(actor, organization, rows, parse_errors, create_missing)
            report = _report(source, False, rows, parse_errors, plan)
            if plan.errors:
                raise ApplicationError(
                    f"{len(plan.errors)} row(s) cannot be imported; nothing was written.",
                    code="import_invalid",
                    extra={"report": report},
                )
            report["created"] = _write(plan, organization, actor)
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


# --- report and write -----------------------------------------------------------------


def _report(
    source: str, dry_run: bool, rows: list[ParsedRow], parse_errors: list[RowError], plan: Plan
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


def _write(plan: Plan, organization: Organization, actor: Membership) -> dict[str, int]:
    clients = dict(plan.clients_match)
    for client_key, name in plan.clients_create.items():
        clients[client_key] = Client.objects.create(name=name)
    projects: dict[ProjectKey, Project] = {}
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
            created_by_id=actor.user_id,
        )
    tasks: dict[TaskKey, Task] = {}
    for task_key, (project_ref, title) in plan.tasks_create.items():
        project = project_ref if isinstance(project_ref, Project) else projects[project_ref]
        tasks[task_key] = Task.objects.create(
            project=project, title=title, reporter_id=actor.user_id
        )

    rates: dict[tuple[uuid.UUID, uuid.UUID], Decimal | None] = {}
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
    per_user: dict[uuid.UUID, int] = defaultdict(int)
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
