"""Writes for time entries: timer, manual entries, bulk edits, rates, idle periods.

Every write path follows the same order, so that the invariants hold under
concurrency and against timesheet approvals:

1. take :func:`apps.time_entries.locks.user_time_lock` for the user whose time
   changes (timesheet transitions take the same lock);
2. re-read the entry with ``SELECT ... FOR UPDATE``;
3. check that the old and the new span are writable
   (:func:`assert_span_writable`, 409 ``entry_locked``; on the timer's hot
   path the same query rides in the INSERT of a start and the UPDATE of a
   stop);
4. validate (400 with ``fields``), price (rate snapshot + amount), save.

PostgreSQL holds the two invariants no Python check can hold across
processes (one running timer per user; no overlapping live entries). The
services check them first for a clear message, and the database refusal of a
request that raced past the check is mapped to the same 409 codes
(``timer_already_running``, ``entry_overlap``) instead of a 500.

Events (``type`` / ``op``), always to the entry's user only:

- ``timer``: started, stopped, forgotten (see :mod:`apps.time_entries.tasks`),
  deleted (the running entry was deleted)
- ``time_entry``: created, updated, deleted, bulk_updated, bulk_deleted
- ``idle``: detected, resolved
"""

from __future__ import annotations

import datetime
import logging
import uuid
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NoReturn

import psycopg
from django.core.cache import cache
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import F, OuterRef, Q, QuerySet, Subquery, TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from apps.common.errors import ApplicationError, ConflictError, field_error
from apps.common.prepared import PreparedQuery, insert_new
from apps.organizations.constants import MembershipStatus
from apps.organizations.models import Membership, Organization
from apps.organizations.permissions import role_has
from apps.projects.models import Project, ProjectMember
from apps.projects.selectors import (
    member_visible_project_filter,
    project_accepts_time,
    sees_all_projects,
    visible_project_filter,
)
from apps.tasks.models import Task
from apps.timesheets.selectors import locking_timesheet, locking_timesheet_sql
from apps.websocket_server.events import send_event_on_commit
from tenants.db import current_schema, current_tenant
from tenants.locks import XACT_LOCK_SQL

from .constants import EntrySource, IdleResolution
from .locks import user_time_lock, user_time_lock_key
from .models import IdlePeriod, TimeEntry

logger = logging.getLogger(__name__)

EVENT_TIMER = "timer"
EVENT_ENTRY = "time_entry"
EVENT_IDLE = "idle"

#: Longer entries need ``confirm_long: true`` (a forgotten timer, a typo in a date).
MAX_ENTRY_WITHOUT_CONFIRMATION = datetime.timedelta(hours=24)
#: Nothing may be longer than this, confirmed or not.
MAX_ENTRY = datetime.timedelta(days=31)
#: Entries may lie this far in the future (planning tomorrow is fine, a wrong year is not).
MAX_FUTURE = datetime.timedelta(days=1)
#: Client clocks run a little ahead; heartbeats this far in the future are clamped to now.
CLOCK_SKEW = datetime.timedelta(minutes=2)
CENT = Decimal("0.01")
SECONDS_PER_HOUR = Decimal(3600)
#: Distinct tags (case-insensitive) per entry, and characters per tag (the
#: column's length): :func:`normalize_tags` enforces both on every write path.
MAX_TAGS = 20
MAX_TAG_LENGTH = 60

#: Fields of an entry that ``entry_update`` may change.
ENTRY_FIELDS = ("project", "task", "description", "started_at", "ended_at", "billable", "tags")
#: Sources a caller may give to ``entry_create`` (the timer writes ``timer``).
CREATE_SOURCES = (EntrySource.MANUAL, EntrySource.IMPORT, EntrySource.SUGGESTION)


# --- errors -------------------------------------------------------------------------


def _timer_running_error() -> ConflictError:
    return ConflictError(
        "A timer is already running for this user: stop it first.", code="timer_already_running"
    )


def _overlap_error(other: TimeEntry | None = None) -> ConflictError:
    extra = {"conflicting_entry": str(other.pk)} if other is not None else {}
    return ConflictError(
        "This time overlaps another entry of the same user.", code="entry_overlap", extra=extra
    )


#: Database constraint name → the error a lost race on it becomes.
_CONSTRAINT_ERRORS: dict[str, Callable[[], ApplicationError]] = {
    "time_entries_one_running_timer": _timer_running_error,
    "time_entries_no_overlap": _overlap_error,
    "time_entries_end_after_start": lambda: field_error(
        "ended_at", "The end is before the start.", code="end_before_start"
    ),
}


def _constraint_name(exc: IntegrityError) -> str:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) or str(exc)


def _save(entry: TimeEntry, **save_kwargs: Any) -> None:
    """Save; a constraint the checks could not see coming (a concurrent
    writer that bypassed the user lock, e.g. a raw import) is mapped to its
    409/400 instead of an IntegrityError 500.

    No savepoint (two round trips on the timer's hot path): the error is
    raised on, so the caller's whole transaction rolls back anyway; a caller
    that caught it and went on writing would get Django's "transaction is
    broken" error, never a silent half-write."""
    with _constraint_errors_mapped():
        entry.save(**save_kwargs)


@contextmanager
def _constraint_errors_mapped() -> Iterator[None]:
    """Run a write; database constraint violations become their 409/400 (see
    :func:`_save`)."""
    try:
        with transaction.atomic(savepoint=False):
            yield
    except IntegrityError as exc:
        name = _constraint_name(exc)
        for constraint, error in _CONSTRAINT_ERRORS.items():
            if constraint in name:
                raise error() from exc
        raise
    except OperationalError as exc:
        # Two overlapping inserts checking the exclusion constraint at once
        # can wait on each other; PostgreSQL then aborts one of them.
        if _is_exclusion_deadlock(exc):
            raise _overlap_error() from exc
        raise


def _is_exclusion_deadlock(exc: OperationalError) -> bool:
    cause = exc.__cause__
    if not isinstance(cause, psycopg.errors.DeadlockDetected):
        return False
    context = getattr(cause.diag, "context", None) or str(cause)
    return "exclusion constraint" in context


# --- organization, permissions ------------------------------------------------------


def _organization() -> Any:
    """The organization whose schema this connection writes to (its settings
    decide overlaps, thresholds, rates visibility)."""
    return current_tenant()


def _require(membership: Any, permission: str) -> None:
    if membership is None or not role_has(membership.role, permission):
        raise ApplicationError(
            "Your role in this organization does not allow this.",
            code="role_required",
            status_code=403,
        )


def _check_may_write_for(membership: Any, user_id: Any) -> None:
    """Members write their own time; ``entries.manage_all`` (managers and
    above) write anyone's in the organization."""
    _require(membership, "time.track")
    if str(user_id) != str(membership.user_id):
        _require(membership, "entries.manage_all")


def _check_active_member(user_id: Any) -> None:
    active = Membership.objects.filter(
        organization_id=_organization().pk, user_id=user_id, status=MembershipStatus.ACTIVE
    ).exists()
    if not active:
        raise field_error("user", "No such member.", code="does_not_exist")


# --- locking ------------------------------------------------------------------------


def assert_span_writable(
    *, user_id: Any, started_at: datetime.datetime, ended_at: datetime.datetime | None
) -> None:
    """409 ``entry_locked`` when a submitted/approved timesheet of ``user_id``
    covers any day of the span. The caller holds ``user_time_lock(user_id)``,
    so the answer stays true until its transaction ends."""
    sheet = locking_timesheet(user_id=user_id, started_at=started_at, ended_at=ended_at)
    if sheet is not None:
        raise ConflictError(
            f"This time is in a {sheet.status} timesheet "
            f"({sheet.period_start}..{sheet.period_end}) and is read-only.",
            code="entry_locked",
            extra={"timesheet": str(sheet.pk)},
        )


def _refused_by_lock(
    *, user_id: Any, started_at: datetime.datetime, ended_at: datetime.datetime | None
) -> NoReturn:
    """A write that checked :func:`locking_timesheet_sql` in its own statement
    wrote nothing: 409 ``entry_locked`` naming the sheet (the user's lock is
    held, so the sheet that refused the write is still there to name)."""
    assert_span_writable(user_id=user_id, started_at=started_at, ended_at=ended_at)
    raise ConflictError("This time is in a locked timesheet.", code="entry_locked")


def _assert_entry_writable(entry: TimeEntry, *, now: datetime.datetime | None = None) -> None:
    """The entry's current span (a running entry up to now) is writable."""
    end = entry.ended_at or max(now or timezone.now(), entry.started_at)
    assert_span_writable(user_id=entry.user_id, started_at=entry.started_at, ended_at=end)


def _lock_entry(entry_id: Any) -> TimeEntry:
    """The live entry, row-locked until commit; 404 when it vanished meanwhile."""
    entry = (
        TimeEntry.objects.select_for_update(of=("self",))
        .select_related("project", "task")
        .filter(pk=entry_id)
        .first()
    )
    if entry is None:
        raise Http404("No such time entry.")
    return entry


def _running_and_later(
    shape: None, *, user_id: Any, at: datetime.datetime, since: datetime.datetime
) -> QuerySet[TimeEntry]:
    return (
        TimeEntry.objects.select_for_update(of=("self",))
        .filter(user_id=user_id)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=at, started_at__gt=since))
        .exclude(ended_at=F("started_at"))  # an empty range overlaps nothing
        .order_by("started_at")
    )


#: Compiled once per process (apps/common/prepared.py).
_RUNNING_AND_LATER = PreparedQuery(
    _running_and_later, user_id=uuid.UUID, at=datetime.datetime, since=datetime.datetime
)


def _running_and_later_locked(
    user_id: Any, at: datetime.datetime
) -> tuple[TimeEntry | None, list[TimeEntry]]:
    """The user's running entry and the finished entries that end after
    ``at`` (a timer started at ``at`` would overlap them), row-locked, in one
    query — the timer start needs both, and they are the same rows' question.

    Finished entries are looked for among those that started within
    ``MAX_ENTRY`` before ``at`` (no valid entry is longer), so the query stays
    on the (user, started_at) index however long the user's history; the
    exclusion constraint remains the backstop for anything else.
    """
    rows = _RUNNING_AND_LATER.run(user_id=user_id, at=at, since=at - MAX_ENTRY)
    running = next((row for row in rows if row.ended_at is None), None)
    return running, [row for row in rows if row.ended_at is not None]


def _running_with_names(shape: None, *, user_id: Any) -> QuerySet[TimeEntry]:
    return (
        TimeEntry.objects.select_for_update(of=("self",))
        .filter(user_id=user_id, ended_at__isnull=True)
        .annotate(
            shown_project_name=F("project__name"),
            shown_project_color=F("project__color"),
            shown_task_title=F("task__title"),
        )[:1]
    )


#: Compiled once per process (apps/common/prepared.py).
_RUNNING_WITH_NAMES = PreparedQuery(_running_with_names, user_id=uuid.UUID)


def _running_locked(user_id: Any) -> TimeEntry | None:
    """The running entry, row-locked, with what the API shows of its project
    and task (name, colour, title) loaded in the same query: the other fields
    of those two are deferred, so code that reads them still gets the
    database's values, one query later."""
    rows = _RUNNING_WITH_NAMES.run(user_id=user_id)
    if not rows:
        return None
    entry = rows[0]
    entry.project = Project.from_db(
        None,
        ["id", "name", "color"],
        [entry.project_id, entry.shown_project_name, entry.shown_project_color],  # type: ignore[attr-defined]
    )
    if entry.task_id is not None:
        entry.task = Task.from_db(None, ["id", "title"], [entry.task_id, entry.shown_task_title])  # type: ignore[attr-defined]
    return entry


# --- rates --------------------------------------------------------------------------


def rate_expression(*, user_id: Any, organization_id: Any) -> Coalesce:
    """The hourly-rate hierarchy of ``user_id`` as one SQL expression on a
    ``Project`` row: the project-member rate, else the project's rate, else
    the member's default rate, else the organization's default (NULL when
    none is set).

    One expression instead of up to three look-ups, so the timer's project
    query brings the rate along; :func:`resolve_rate` uses it too, so there is
    one definition of the hierarchy.
    """
    member_rate = ProjectMember.objects.filter(project_id=OuterRef("pk"), user_id=user_id).values(
        "hourly_rate"
    )[:1]
    default_rate = Membership.objects.filter(
        organization_id=organization_id, user_id=user_id
    ).values("hourly_rate")[:1]
    organization_rate = Organization.objects.filter(pk=organization_id).values(
        "default_hourly_rate"
    )[:1]
    return Coalesce(
        Subquery(member_rate),
        F("hourly_rate"),
        Subquery(default_rate),
        Subquery(organization_rate),
        output_field=Project._meta.get_field("hourly_rate"),
    )


def resolve_rate(*, user_id: Any, project: Project) -> Decimal | None:
    """The hourly rate of ``user_id`` on ``project`` (:func:`rate_expression`);
    ``None`` when none is set.

    Read fresh from the database (not the request's cached tenant), so the
    recompute task and the request that changed a rate agree.
    """
    rows = _PROJECT_RATE.run(
        project_id=project.pk, user_id=user_id, organization_id=_organization().pk
    )
    return rows[0].rate if rows else None  # type: ignore[attr-defined]


def _project_rate(
    shape: None, *, project_id: Any, user_id: Any, organization_id: Any
) -> QuerySet[Project]:
    return Project.all_objects.filter(pk=project_id).annotate(
        rate=rate_expression(user_id=user_id, organization_id=organization_id)
    )


#: Entries, imports and the recompute task price through it: compiling the rate
#: expression costs ten times running it (apps/common/prepared.py).
_PROJECT_RATE = PreparedQuery(
    _project_rate, project_id=uuid.UUID, user_id=uuid.UUID, organization_id=uuid.UUID
)


def compute_amount(
    *, rate: Decimal | None, duration_seconds: int | None, billable: bool
) -> Decimal | None:
    """rate x hours, in cents rounded half up; ``0.00`` for non-billable time;
    ``None`` when there is no rate or the entry still runs."""
    if rate is None or duration_seconds is None:
        return None
    if not billable:
        return Decimal("0.00")
    return (rate * Decimal(duration_seconds) / SECONDS_PER_HOUR).quantize(
        CENT, rounding=ROUND_HALF_UP
    )


def _duration(started_at: datetime.datetime, ended_at: datetime.datetime | None) -> int | None:
    if ended_at is None:
        return None
    return int((ended_at - started_at).total_seconds())


def _price(entry: TimeEntry, *, keep_rate: bool = False) -> None:
    """Snapshot the rate and the amount on the entry (not saved).

    ``keep_rate`` prices with the rate already on the entry: stopping a timer
    keeps the rate snapshotted when it started (the recompute task keeps
    running entries' rates current too), which spares the rate look-ups on
    the timer's hot path.
    """
    entry.duration_seconds = _duration(entry.started_at, entry.ended_at)
    if not keep_rate:
        entry.hourly_rate = resolve_rate(user_id=entry.user_id, project=entry.project)
    entry.amount = compute_amount(
        rate=entry.hourly_rate, duration_seconds=entry.duration_seconds, billable=entry.billable
    )


def enqueue_rate_recompute(
    *, project_id: Any | None = None, user_id: Any | None = None, organization: Any | None = None
) -> None:
    """Queue :func:`apps.time_entries.tasks.recompute_amounts` after commit.

    Called by the services that change a rate (project, project member,
    member default, organization default). The schema is captured now and
    sent explicitly, so the task runs in this organization whatever schema
    the connection is on when the transaction commits.
    """
    schema = organization.schema_name if organization is not None else current_schema()
    kwargs = {
        "project_id": str(project_id) if project_id else None,
        "user_id": str(user_id) if user_id else None,
    }

    def send() -> None:
        from .tasks import recompute_amounts

        recompute_amounts.apply_async(kwargs=kwargs, headers={"_schema_name": schema})

    transaction.on_commit(send)


def _locked_ranges(user_id: Any) -> list[tuple[datetime.datetime, datetime.datetime]]:
    """The instant ranges of ``user_id``'s submitted/approved timesheets."""
    from apps.timesheets.constants import LOCKED_STATUSES
    from apps.timesheets.models import Timesheet
    from apps.timesheets.periods import period_range_utc

    organization = _organization()
    return [
        period_range_utc(organization, start, end)
        for start, end in Timesheet.objects.filter(
            user_id=user_id, status__in=LOCKED_STATUSES
        ).values_list("period_start", "period_end")
    ]


def recompute_amounts_for(*, project_id: Any | None = None, user_id: Any | None = None) -> int:
    """Re-snapshot rate and amount on the entries of a project and/or user
    (every entry of the organization when both are ``None``).

    Idempotent: only rows whose values differ are written. Entries in a
    submitted/approved timesheet keep their snapshot (that is what was
    submitted). One transaction per user, under the user's time lock, so an
    approval never interleaves with the recompute of its entries. Returns the
    number of rows changed.
    """
    scope = TimeEntry.objects.all()
    if project_id is not None:
        scope = scope.filter(project_id=project_id)
    if user_id is not None:
        scope = scope.filter(user_id=user_id)
    changed = 0
    for uid in scope.order_by().values_list("user_id", flat=True).distinct():
        with transaction.atomic():
            user_time_lock(uid)
            locked = _locked_ranges(uid)
            pairs = scope.filter(user_id=uid).order_by().values_list("project_id").distinct()
            for (pid,) in pairs:
                project = Project.all_objects.get(pk=pid)
                changed += _reprice_user_project(uid, project, locked)
    return changed


def _reprice_user_project(
    user_id: Any, project: Project, locked: Sequence[tuple[datetime.datetime, datetime.datetime]]
) -> int:
    """One UPDATE for a (user, project): the rate is the same for all its rows.

    ``round(numeric, 2)`` in PostgreSQL rounds half away from zero, i.e. half
    up for the non-negative amounts here, like :func:`compute_amount`.
    """
    rate = resolve_rate(user_id=user_id, project=project)
    table = TimeEntry._meta.db_table
    where = [
        "user_id = %s",
        "project_id = %s",
        "deleted_at IS NULL",
    ]
    params: list[Any] = [user_id, project.pk]
    for low, high in locked:
        # The entry touches a locked period: keep it (same test as locking_timesheet).
        where.append("NOT (started_at < %s AND coalesce(ended_at, started_at) >= %s)")
        params += [high, low]
    amount = (
        "CASE WHEN %s::numeric IS NULL OR duration_seconds IS NULL THEN NULL"
        " WHEN billable THEN round(%s::numeric * duration_seconds / 3600.0, 2)"
        " ELSE 0.00 END"
    )
    sql = (
        f"UPDATE {table} SET hourly_rate = %s, amount = {amount}, updated_at = now()"
        f" WHERE {' AND '.join(where)}"
        f" AND (hourly_rate IS DISTINCT FROM %s OR amount IS DISTINCT FROM {amount})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [rate, rate, rate, *params, rate, rate, rate])
        return cursor.rowcount


# --- validation ---------------------------------------------------------------------


def _timer_project(
    sees_all: bool,
    *,
    viewer_id: Any,
    project_id: Any,
    user_id: Any,
    organization_id: Any,
    lock_key: str,
) -> QuerySet[Project]:
    """The project ``viewer_id`` may see, with ``user_id``'s hourly rate on it;
    the row also takes ``user_id``'s time lock (``lock_key``)."""
    visible = Q() if sees_all else member_visible_project_filter(viewer_id)
    return Project.all_objects.filter(visible, pk=project_id).annotate(
        user_hourly_rate=rate_expression(user_id=user_id, organization_id=organization_id),
        user_time_locked=RawSQL(XACT_LOCK_SQL, [lock_key], output_field=TextField()),
    )[:1]


#: Compiled once per process and visibility (the timer's hot path: see
#: apps/common/prepared.py for what compiling it every time cost).
_TIMER_PROJECT = PreparedQuery(
    _timer_project,
    viewer_id=uuid.UUID,
    project_id=uuid.UUID,
    user_id=uuid.UUID,
    organization_id=uuid.UUID,
    lock_key=str,
)


def _timer_project_locked(membership: Any, project_id: Any) -> Project:
    """The timer's project (as :func:`_resolve_project` checks it) with the
    member's hourly rate on it as ``project.user_hourly_rate``, and the
    member's :func:`~apps.time_entries.locks.user_time_lock` taken — all in
    one statement, one round trip fewer on the timer's hot path.

    Taking the lock in the statement that reads the project is sound because
    the lock protects none of what it reads (projects and rates are not
    written under it): what needs the lock — the running timer, the entries
    in the way, the timesheets — is read by the statements that follow, each
    with a snapshot taken after the lock was granted. No row (unknown,
    invisible or malformed id) takes no lock, and the request ends in a 400.
    """
    user_id = membership.user_id
    try:
        rows = _TIMER_PROJECT.run(
            sees_all_projects(membership),
            viewer_id=user_id,
            project_id=project_id,
            user_id=user_id,
            organization_id=_organization().pk,
            lock_key=user_time_lock_key(user_id),
        )
    except ValueError:  # not a UUID: as unknown as any other
        rows = []
    return _checked_project(rows[0] if rows else None)


def _resolve_project(membership: Any, value: Any) -> Project:
    """A live project the actor may see that takes time; else 400."""
    project_id = getattr(value, "pk", value)
    project = None
    if project_id is not None:
        query = Project.all_objects.filter(visible_project_filter(membership), pk=project_id)
        project = next(iter(query[:1]), None)
    return _checked_project(project)


def _checked_project(project: Project | None) -> Project:
    if project is None or project.deleted_at is not None:
        raise field_error("project", "No such project.", code="does_not_exist")
    if not project_accepts_time(project):
        raise field_error(
            "project", "This project is archived: it takes no new time.", code="project_archived"
        )
    return project


def _resolve_task(project: Project, value: Any) -> Task | None:
    if value is None:
        return None
    task_id = getattr(value, "pk", value)
    task = Task.objects.filter(pk=task_id).first()
    if task is None:
        raise field_error("task", "No such task.", code="does_not_exist")
    if task.project_id != project.pk:
        raise field_error(
            "task", "This task belongs to another project.", code="task_project_mismatch"
        )
    return task


def normalize_tags(tags: Iterable[str], *, field: str = "tags") -> list[str]:
    """The tag rule of every write path (API serializers, timer, manual and
    bulk edits, CSV import): the tags trimmed, without blanks and
    case-insensitive duplicates (first spelling wins), in order.

    Refused, never cut (400 naming ``field``): a tag longer than
    ``MAX_TAG_LENGTH`` characters after trimming → ``tag_too_long``; more
    than ``MAX_TAGS`` distinct tags (counted case-insensitively, so
    ``["a", "A"]`` is one) → ``too_many_tags``. A list with both problems
    gets ``tag_too_long``.
    """
    seen: dict[str, str] = {}
    for tag in tags:
        clean = str(tag).strip()
        if len(clean) > MAX_TAG_LENGTH:
            raise field_error(
                field,
                f"Tags have at most {MAX_TAG_LENGTH} characters ({len(clean)} given).",
                code="tag_too_long",
            )
        if clean and clean.lower() not in seen:
            seen[clean.lower()] = clean
    if len(seen) > MAX_TAGS:
        raise field_error(field, f"At most {MAX_TAGS} tags.", code="too_many_tags")
    return list(seen.values())


def _validate_span(
    started_at: datetime.datetime,
    ended_at: datetime.datetime | None,
    *,
    confirm_long: bool = False,
    now: datetime.datetime | None = None,
) -> None:
    """Refuse what is surely a mistake (400): naive times, end before start,
    spans over 24 h without ``confirm_long``, dates far in the future."""
    now = now or timezone.now()
    for field, value in (("started_at", started_at), ("ended_at", ended_at)):
        if value is not None and timezone.is_naive(value):
            raise field_error(field, "Give a time zone offset.", code="naive_datetime")
        if value is not None and value > now + MAX_FUTURE:
            raise field_error(
                field, "This is too far in the future (at most one day).", code="entry_in_future"
            )
    if ended_at is None:
        return
    if ended_at < started_at:
        raise field_error("ended_at", "The end is before the start.", code="end_before_start")
    length = ended_at - started_at
    if length > MAX_ENTRY:
        raise field_error(
            "ended_at", "An entry cannot be longer than 31 days.", code="entry_too_long"
        )
    if length > MAX_ENTRY_WITHOUT_CONFIRMATION and not confirm_long:
        raise field_error(
            "ended_at",
            "This entry is longer than 24 hours: send confirm_long=true if that is right.",
            code="entry_too_long",
        )


def _check_overlap(entry: TimeEntry) -> None:
    """409 ``entry_overlap`` naming the entry in the way (the exclusion
    constraint is the backstop; this gives the better message)."""
    if entry.overlap_allowed:
        return
    if entry.ended_at is not None and entry.ended_at == entry.started_at:
        return  # an empty range overlaps nothing (as in PostgreSQL)
    others = TimeEntry.objects.filter(user_id=entry.user_id, overlap_allowed=False).exclude(
        pk=entry.pk
    )
    if entry.ended_at is not None:
        others = others.filter(started_at__lt=entry.ended_at)
    # Others' empty ranges (start == end) overlap nothing either.
    others = others.filter(Q(ended_at__isnull=True) | Q(ended_at__gt=entry.started_at)).exclude(
        ended_at=F("started_at")
    )
    other = others.order_by("started_at").first()
    if other is not None:
        raise _overlap_error(other)


# --- events -------------------------------------------------------------------------


def entry_event_data(entry: TimeEntry) -> dict[str, Any]:
    """What events carry about an entry (no rates: events are not filtered
    by role)."""
    return {
        "id": entry.pk,
        "user": entry.user_id,
        "project": entry.project_id,
        "task": entry.task_id,
        "description": entry.description,
        "started_at": entry.started_at,
        "ended_at": entry.ended_at,
        "duration_seconds": entry.duration_seconds,
        "billable": entry.billable,
        "tags": list(entry.tags),
        "source": entry.source,
        "is_running": entry.ended_at is None,
    }


def _emit(type_: str, op: str, entry: TimeEntry) -> None:
    send_event_on_commit(type=type_, op=op, data=entry_event_data(entry), user_ids=[entry.user_id])


# --- timer --------------------------------------------------------------------------


def _stop(entry: TimeEntry, at: datetime.datetime) -> TimeEntry:
    """Stop a running entry, row-locked under the user's lock, at ``at``;
    409 ``entry_locked`` when the span it would get reaches into a
    submitted/approved timesheet.

    One UPDATE in plain SQL: what ``save(update_fields=...)`` sends, without
    compiling it on every stop (the timer's hot path; TimeEntry has no save
    signals or ``save()`` override to bypass), with the timesheet-lock check
    of the span in its ``WHERE``: a round trip fewer than checking first.
    """
    if at < entry.started_at:
        raise field_error("at", "The timer cannot stop before it started.", code="end_before_start")
    entry.ended_at = at
    _price(entry, keep_rate=True)
    entry.updated_at = timezone.now()
    unless_sql, unless_params = locking_timesheet_sql(
        user_id=entry.user_id, started_at=entry.started_at, ended_at=at
    )
    with _constraint_errors_mapped(), connection.cursor() as cursor:
        cursor.execute(
            f"{_STOP_SQL} AND NOT EXISTS ({unless_sql})",
            [
                entry.ended_at,
                entry.duration_seconds,
                entry.hourly_rate,
                entry.amount,
                entry.updated_at,
                entry.pk,
                *unless_params,
            ],
        )
        written = cursor.rowcount == 1
    if not written:
        _refused_by_lock(user_id=entry.user_id, started_at=entry.started_at, ended_at=at)
    _emit(EVENT_TIMER, "stopped", entry)
    return entry


_STOP_SQL = (
    f"UPDATE {TimeEntry._meta.db_table} SET ended_at = %s, duration_seconds = %s, "
    "hourly_rate = %s, amount = %s, updated_at = %s WHERE id = %s"
)


@transaction.atomic
def timer_start(
    *,
    membership: Any,
    project_id: Any,
    task_id: Any | None = None,
    description: str = "",
    tags: Iterable[str] = (),
    billable: bool | None = None,
    at: datetime.datetime | None = None,
) -> TimeEntry:
    """Start the member's timer; a running one is stopped at the same instant.

    ``at`` (default: now) lets an offline client report when it started; it
    may not be in the future nor before the running timer's start.
    """
    _require(membership, "time.track")
    user_id = membership.user_id
    project = _timer_project_locked(membership, project_id)  # takes user_time_lock
    # "Now" is read under the lock: a start that waited for another one
    # starts after it (and stops it), not before.
    now = timezone.now()
    explicit_at = at
    at = at or now
    if timezone.is_naive(at):
        raise field_error("at", "Give a time zone offset.", code="naive_datetime")
    if at > now + CLOCK_SKEW:
        raise field_error("at", "A timer cannot start in the future.", code="entry_in_future")
    task = _resolve_task(project, task_id)
    tags = normalize_tags(tags)

    running, later = _running_and_later_locked(user_id, at)
    if running is not None:
        if explicit_at is None and running.started_at > at:
            # Newer than "now": a concurrent start won (only a writer that
            # skipped the user lock gets here); not the caller's bad input.
            raise _timer_running_error()
        _stop(running, at)  # checks the stopped span's timesheet lock
    entry = TimeEntry(
        user_id=user_id,
        project=project,
        task=task,
        description=description,
        started_at=at,
        billable=project.billable if billable is None else billable,
        tags=tags,
        source=EntrySource.TIMER,
        overlap_allowed=_organization().allow_overlapping_entries,
        hourly_rate=project.user_hourly_rate,  # type: ignore[attr-defined]
    )
    _price(entry, keep_rate=True)
    # What _check_overlap would ask, answered by the rows locked above (the
    # stopped timer now ends at ``at``: it is not among them).
    in_the_way = [row for row in later if not row.overlap_allowed]
    if in_the_way and not entry.overlap_allowed:
        raise _overlap_error(in_the_way[0])
    # The timesheet lock check rides in the INSERT (one round trip fewer on
    # the hot path): no row is written when a submitted/approved sheet covers
    # the start's day, and the check below then names it (409 entry_locked).
    with _constraint_errors_mapped():
        written = insert_new(
            entry, unless=locking_timesheet_sql(user_id=user_id, started_at=at, ended_at=None)
        )
    if not written:
        _refused_by_lock(user_id=user_id, started_at=at, ended_at=None)
    _emit(EVENT_TIMER, "started", entry)
    return entry


@transaction.atomic
def timer_stop(*, user_id: Any, at: datetime.datetime | None = None) -> TimeEntry:
    """Stop ``user_id``'s running timer at ``at`` (default now).

    409 ``no_running_timer`` when none runs; 409 ``entry_locked`` when the
    span reaches into a submitted/approved timesheet.
    """
    user_time_lock(user_id)
    now = timezone.now()
    at = at or now
    if at > now + CLOCK_SKEW:
        raise field_error("at", "A timer cannot stop in the future.", code="entry_in_future")
    running = _running_locked(user_id)
    if running is None:
        raise ConflictError("No timer is running.", code="no_running_timer")
    return _stop(running, at)  # checks the span's timesheet lock


# --- manual entries -----------------------------------------------------------------


@transaction.atomic
def entry_create(*, membership: Any, data: Mapping[str, Any]) -> TimeEntry:
    """A finished entry ``{project, task?, description?, started_at, ended_at,
    billable?, tags?, confirm_long?, user?, source?, external_id?}``.

    ``user`` (a user id) lets managers and above write for another active
    member; ``source`` is manual (default), import or suggestion. A running
    entry is only made by :func:`timer_start`.
    """
    user_id = data.get("user") or membership.user_id
    _check_may_write_for(membership, user_id)
    if str(user_id) != str(membership.user_id):
        _check_active_member(user_id)
    source = data.get("source") or EntrySource.MANUAL
    if source not in CREATE_SOURCES:
        raise field_error("source", "Not a source an entry can be created with.")
    started_at, ended_at = data.get("started_at"), data.get("ended_at")
    if started_at is None:
        raise field_error("started_at", "This field is required.", code="required")
    if ended_at is None:
        raise field_error(
            "ended_at", "This field is required (use the timer for running time).", code="required"
        )
    _validate_span(started_at, ended_at, confirm_long=bool(data.get("confirm_long")))
    user_time_lock(user_id)
    project = _resolve_project(membership, data.get("project"))
    task = _resolve_task(project, data.get("task"))
    assert_span_writable(user_id=user_id, started_at=started_at, ended_at=ended_at)
    billable = data.get("billable")
    entry = TimeEntry(
        user_id=user_id,
        project=project,
        task=task,
        description=data.get("description") or "",
        started_at=started_at,
        ended_at=ended_at,
        billable=project.billable if billable is None else billable,
        tags=normalize_tags(data.get("tags") or ()),
        source=source,
        external_id=data.get("external_id") or "",
        overlap_allowed=_organization().allow_overlapping_entries,
    )
    _price(entry)
    _check_overlap(entry)
    _save(entry)
    _emit(EVENT_ENTRY, "created", entry)
    return entry


def _apply_changes(membership: Any, entry: TimeEntry, data: Mapping[str, Any]) -> None:
    """Set the given fields on a locked entry and validate the result."""
    if "project" in data and getattr(data["project"], "pk", data["project"]) != entry.project_id:
        entry.project = _resolve_project(membership, data["project"])
        # The old task belongs to the old project: it does not follow.
        if (
            "task" not in data
            and entry.task is not None
            and entry.task.project_id != entry.project.pk
        ):
            entry.task = None
    if "task" in data:
        entry.task = _resolve_task(entry.project, data["task"])
    if "description" in data:
        entry.description = data["description"] or ""
    if "billable" in data and data["billable"] is not None:
        entry.billable = data["billable"]
    if "tags" in data:
        entry.tags = normalize_tags(data["tags"] or ())
    if "started_at" in data:
        entry.started_at = data["started_at"]
    if "ended_at" in data:
        if data["ended_at"] is None and entry.ended_at is not None:
            raise field_error(
                "ended_at",
                "A finished entry cannot run again: use continue.",
                code="cannot_restart",
            )
        entry.ended_at = data["ended_at"]
    if "started_at" in data or "ended_at" in data:
        _validate_span(
            entry.started_at, entry.ended_at, confirm_long=bool(data.get("confirm_long"))
        )


@transaction.atomic
def entry_update(*, membership: Any, entry: TimeEntry, data: Mapping[str, Any]) -> TimeEntry:
    """Change the given fields (a partial update) of an entry the caller may see.

    Both the old and the new span must be writable (409 ``entry_locked``).
    Changing the project drops a task of the old project unless ``task`` is
    given. The rate and amount are re-snapshotted at today's rates.
    """
    _check_may_write_for(membership, entry.user_id)
    user_time_lock(entry.user_id)
    entry = _lock_entry(entry.pk)
    was_running = entry.ended_at is None
    _assert_entry_writable(entry)
    _apply_changes(membership, entry, data)
    _assert_entry_writable(entry)
    _price(entry)
    _check_overlap(entry)
    _save(entry)
    _emit(EVENT_ENTRY, "updated", entry)
    if was_running and entry.ended_at is not None:
        _emit(EVENT_TIMER, "stopped", entry)
    return entry


@transaction.atomic
def entry_delete(*, membership: Any, entry: TimeEntry) -> None:
    """Soft delete (409 ``entry_locked`` in a submitted/approved timesheet)."""
    _check_may_write_for(membership, entry.user_id)
    user_time_lock(entry.user_id)
    entry = _lock_entry(entry.pk)
    _assert_entry_writable(entry)
    entry.soft_delete()
    _emit(EVENT_ENTRY, "deleted", entry)
    if entry.ended_at is None:
        _emit(EVENT_TIMER, "deleted", entry)


@transaction.atomic
def entry_duplicate(
    *,
    membership: Any,
    entry: TimeEntry,
    started_at: datetime.datetime | None = None,
    ended_at: datetime.datetime | None = None,
) -> TimeEntry:
    """A copy of a finished entry, for the same user. By default it is placed
    right after the original (same length), since a copy at the same time
    would overlap it; ``started_at``/``ended_at`` place it elsewhere."""
    if entry.ended_at is None:
        raise field_error("entry", "A running entry cannot be duplicated.", code="entry_running")
    length = entry.ended_at - entry.started_at
    start = started_at or entry.ended_at
    end = ended_at or (start + length)
    return entry_create(
        membership=membership,
        data={
            "user": entry.user_id,
            "project": entry.project_id,
            "task": entry.task_id,
            "description": entry.description,
            "started_at": start,
            "ended_at": end,
            "billable": entry.billable,
            "tags": entry.tags,
            "confirm_long": True,  # the original was already accepted at this length
        },
    )


def entry_continue(*, membership: Any, entry: TimeEntry) -> TimeEntry:
    """Start the caller's timer now with the entry's project, task,
    description, tags and billable flag (Toggl's "continue")."""
    if str(entry.user_id) != str(membership.user_id):
        raise ApplicationError(
            "You can only continue your own entries.", code="not_own_entry", status_code=403
        )
    return timer_start(
        membership=membership,
        project_id=entry.project_id,
        task_id=entry.task_id,
        description=entry.description,
        tags=entry.tags,
        billable=entry.billable,
    )


# --- bulk ---------------------------------------------------------------------------


def _lock_selection(membership: Any, ids: Sequence[Any]) -> list[TimeEntry]:
    """The selected entries the caller may see, row-locked, after taking the
    time lock of every user involved (in a stable order: two bulk edits over
    the same users never deadlock). Unknown or invisible ids → 400."""
    from .selectors import entries_visible_to

    wanted = {str(i) for i in ids}
    if not wanted:
        raise field_error("ids", "Select at least one entry.", code="required")
    visible = entries_visible_to(membership=membership).filter(pk__in=wanted)
    user_ids = sorted({str(u) for u in visible.values_list("user_id", flat=True)})
    for uid in user_ids:
        _check_may_write_for(membership, uid)
        user_time_lock(uid)
    entries = list(
        visible.select_for_update(of=("self",)).select_related("project", "task").order_by("pk")
    )
    missing = wanted - {str(e.pk) for e in entries}
    if missing:
        raise ApplicationError(
            "Some entries do not exist.",
            code="does_not_exist",
            extra={"fields": {"ids": ["Unknown entries."]}, "missing": sorted(missing)},
        )
    locked = []
    for entry in entries:
        try:
            _assert_entry_writable(entry)
        except ConflictError:
            locked.append(str(entry.pk))
    if locked:
        raise ConflictError(
            "Some entries are in a submitted or approved timesheet.",
            code="entry_locked",
            extra={"locked": locked},
        )
    return entries


def _bulk_event(op: str, entries: Sequence[TimeEntry]) -> None:
    by_user: dict[str, list[str]] = {}
    for entry in entries:
        by_user.setdefault(str(entry.user_id), []).append(str(entry.pk))
    for uid, ids in by_user.items():
        send_event_on_commit(type=EVENT_ENTRY, op=op, data={"ids": ids}, user_ids=[uid])


@transaction.atomic
def entry_bulk_update(
    *, membership: Any, ids: Sequence[Any], changes: Mapping[str, Any]
) -> list[TimeEntry]:
    """Apply ``changes`` (``project``, ``task``, ``billable``, ``tags``,
    ``add_tags``, ``remove_tags``) to every selected entry, or to none: any
    unknown id (400), locked entry (409) or invalid result rolls all back."""
    entries = _lock_selection(membership, ids)
    project = _resolve_project(membership, changes["project"]) if "project" in changes else None
    remove = {t.strip().lower() for t in changes.get("remove_tags") or ()}
    for entry in entries:
        data: dict[str, Any] = {}
        if project is not None:
            data["project"] = project
        if "task" in changes:
            data["task"] = changes["task"]
        if "billable" in changes:
            data["billable"] = changes["billable"]
        if "tags" in changes:
            data["tags"] = changes["tags"]
        if "add_tags" in changes or remove:
            base = data.get("tags", entry.tags)
            merged = [*base, *(changes.get("add_tags") or ())]
            data["tags"] = [t for t in merged if t.strip().lower() not in remove]
        if project is not None and project.pk != entry.project_id:
            entry.project = project
            data.pop("project")
            if (
                "task" not in data
                and entry.task is not None
                and entry.task.project_id != project.pk
            ):
                entry.task = None
        _apply_changes(membership, entry, data)
        _price(entry)
        _check_overlap(entry)
        _save(entry)
    _bulk_event("bulk_updated", entries)
    return entries


@transaction.atomic
def entry_bulk_delete(*, membership: Any, ids: Sequence[Any]) -> int:
    """Soft delete every selected entry, or none (same rules as bulk update)."""
    entries = _lock_selection(membership, ids)
    now = timezone.now()
    TimeEntry.objects.filter(pk__in=[e.pk for e in entries]).update(deleted_at=now, updated_at=now)
    _bulk_event("bulk_deleted", entries)
    return len(entries)


# --- idle detection -----------------------------------------------------------------


@dataclass(frozen=True)
class HeartbeatResult:
    """What a heartbeat did: the running entry (if any), its last activity,
    and the idle period it detected (if any)."""

    entry_id: Any | None
    last_activity_at: datetime.datetime | None
    idle_period: IdlePeriod | None


def activity_heartbeat(
    *, user_id: Any, last_input_at: datetime.datetime, now: datetime.datetime | None = None
) -> HeartbeatResult:
    """Record the user's last input on the running entry in one UPDATE.

    The row lock of that UPDATE orders concurrent heartbeats; the previous
    ``last_activity_at`` (or the start) comes back from the same statement,
    and a gap longer than the organization's idle threshold becomes an
    :class:`IdlePeriod` (event ``idle``/``detected`` to the user).
    """
    now = now or timezone.now()
    if timezone.is_naive(last_input_at):
        raise field_error("last_input_at", "Give a time zone offset.", code="naive_datetime")
    if last_input_at > now + CLOCK_SKEW:
        raise field_error("last_input_at", "This is in the future.", code="entry_in_future")
    last_input_at = min(last_input_at, now)
    table = TimeEntry._meta.db_table
    sql = f"""
        UPDATE {table} AS e
           SET last_activity_at = greatest(p.prev, %s)
          FROM (SELECT id, greatest(coalesce(last_activity_at, started_at), started_at) AS prev
                  FROM {table}
                 WHERE user_id = %s AND ended_at IS NULL AND deleted_at IS NULL
                 FOR UPDATE) AS p
         WHERE e.id = p.id
     RETURNING e.id, p.prev, e.last_activity_at
    """
    # No transaction around it: the UPDATE is atomic on its own (its row lock
    # orders concurrent heartbeats), and most heartbeats write nothing else.
    with connection.cursor() as cursor:
        cursor.execute(sql, [last_input_at, user_id])
        row = cursor.fetchone()
    if row is None:
        return HeartbeatResult(entry_id=None, last_activity_at=None, idle_period=None)
    entry_id, previous, current = row
    threshold = datetime.timedelta(minutes=_organization().idle_threshold_minutes)
    idle = None
    if last_input_at - previous > threshold:
        with transaction.atomic():
            idle = IdlePeriod.objects.create(
                entry_id=entry_id, user_id=user_id, started_at=previous, ended_at=last_input_at
            )
            send_event_on_commit(
                type=EVENT_IDLE, op="detected", data=idle_event_data(idle), user_ids=[user_id]
            )
    return HeartbeatResult(entry_id=entry_id, last_activity_at=current, idle_period=idle)


def idle_event_data(idle: IdlePeriod) -> dict[str, Any]:
    return {
        "id": idle.pk,
        "entry": idle.entry_id,
        "started_at": idle.started_at,
        "ended_at": idle.ended_at,
        "idle_seconds": int((idle.ended_at - idle.started_at).total_seconds()),
        "resolution": idle.resolution,
    }


IDLE_ACTIONS = ("keep", "discard", "discard_and_continue")


def _remove_span(
    entry: TimeEntry, low: datetime.datetime, high: datetime.datetime
) -> TimeEntry | None:
    """Cut ``[low, high)`` out of a locked entry: trim its end (a running
    entry stops at ``low``) or split it in two. Returns the split-off second
    part, if one was made."""
    low = max(low, entry.started_at)
    end = entry.ended_at
    if end is not None:
        high = min(high, end)
    if high <= low:
        return None  # the entry was edited since: the idle span is no longer in it
    was_running = end is None
    tail = None
    if end is not None and high < end:
        tail = TimeEntry(
            user_id=entry.user_id,
            project=entry.project,
            task=entry.task,
            description=entry.description,
            started_at=high,
            ended_at=end,
            billable=entry.billable,
            tags=list(entry.tags),
            source=entry.source,
            overlap_allowed=entry.overlap_allowed,
        )
    entry.ended_at = low
    _price(entry)
    _save(entry)
    if tail is not None:
        _price(tail)
        _save(tail)
        _emit(EVENT_ENTRY, "created", tail)
    _emit(EVENT_ENTRY, "updated", entry)
    if was_running:
        _emit(EVENT_TIMER, "stopped", entry)
    return tail


@transaction.atomic
def idle_period_resolve(
    *, membership: Any, idle_period: IdlePeriod, action: str
) -> tuple[IdlePeriod, TimeEntry | None]:
    """The user decides about an idle period: ``keep`` the time, ``discard``
    it (the entry is trimmed at the idle start, or split around the gap), or
    ``discard_and_continue`` (discard, then start a new timer now with the
    same fields). Returns the period and, for continue, the new running entry.

    409 ``idle_already_resolved`` for a second decision; ``entry_locked``
    when the entry is in a submitted/approved timesheet.
    """
    if action not in IDLE_ACTIONS:
        raise field_error("action", f"One of {', '.join(IDLE_ACTIONS)}.")
    _require(membership, "time.track")
    if str(idle_period.user_id) != str(membership.user_id):
        raise Http404("No such idle period.")
    user_time_lock(membership.user_id)
    idle = IdlePeriod.objects.select_for_update().filter(pk=idle_period.pk).first()
    if idle is None:
        raise Http404("No such idle period.")
    if idle.resolution != IdleResolution.PENDING:
        raise ConflictError("This idle period was already resolved.", code="idle_already_resolved")
    entry = (
        TimeEntry.objects.select_for_update(of=("self",))
        .select_related("project", "task")
        .filter(pk=idle.entry_id)
        .first()
    )
    started = None
    if action == "keep":
        idle.resolution = IdleResolution.KEPT
    else:
        if entry is not None:
            _assert_entry_writable(entry)
            _remove_span(entry, idle.started_at, idle.ended_at)
        idle.resolution = IdleResolution.DISCARDED
        if action == "discard_and_continue":
            idle.resolution = IdleResolution.DISCARDED_CONTINUED
            if entry is not None:
                started = timer_start(
                    membership=membership,
                    project_id=entry.project_id,
                    task_id=entry.task_id,
                    description=entry.description,
                    tags=entry.tags,
                    billable=entry.billable,
                )
    idle.resolved_at = timezone.now()
    idle.save(update_fields=["resolution", "resolved_at", "updated_at"])
    send_event_on_commit(
        type=EVENT_IDLE, op="resolved", data=idle_event_data(idle), user_ids=[idle.user_id]
    )
    return idle, started


# --- forgotten timers ---------------------------------------------------------------


def _local_midnight_after(organization: Any, moment: datetime.datetime) -> datetime.datetime:
    tz = zoneinfo.ZoneInfo(organization.timezone)
    day = moment.astimezone(tz).date() + datetime.timedelta(days=1)
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=tz)


def forgotten_stop_time(
    organization: Any, entry: TimeEntry, now: datetime.datetime
) -> datetime.datetime:
    """Where an auto-stopped forgotten timer ends: the last reported activity
    when there is one, else the local midnight after its start (never later
    than now)."""
    if entry.last_activity_at is not None and entry.last_activity_at >= entry.started_at:
        return min(entry.last_activity_at, now)
    return min(_local_midnight_after(organization, entry.started_at), now)


def _first_report(entry: TimeEntry) -> bool:
    """Whether this run is the first to report ``entry`` as forgotten.

    ``cache.add`` is atomic in Redis, so overlapping runs report a timer once;
    the key outlives any timer (31 days). Losing the cache costs at most one
    repeated notification, which is why no column is spent on it.
    """
    key = f"time_entries:forgotten:{current_schema()}:{entry.pk}"
    return bool(cache.add(key, 1, timeout=int(MAX_ENTRY.total_seconds())))


@dataclass(frozen=True)
class ForgottenTimer:
    entry_id: Any
    user_id: Any
    stopped: bool


def forgotten_timers_process(
    *,
    now: datetime.datetime | None = None,
    notify: Callable[[TimeEntry, bool], None] | None = None,
) -> list[ForgottenTimer]:
    """Timers of this organization running longer than
    ``forgotten_timer_hours``: each is reported once (``notify`` decides
    how: the task dedupes and emails) and, with ``auto_stop_timers``, stopped
    at :func:`forgotten_stop_time`. A timer in a locked period is reported
    but left running (stopping it would write into a submitted sheet)."""
    now = now or timezone.now()
    organization = Organization.objects.get(pk=_organization().pk)
    limit = now - datetime.timedelta(hours=organization.forgotten_timer_hours)
    candidates = list(
        TimeEntry.objects.filter(ended_at__isnull=True, started_at__lt=limit)
        .order_by("started_at")
        .values_list("pk", "user_id")
    )
    results = []
    for entry_id, user_id in candidates:
        stopped = False
        with transaction.atomic():
            user_time_lock(user_id)
            entry = (
                TimeEntry.objects.select_for_update(of=("self",))
                .select_related("project", "task")
                .filter(pk=entry_id, ended_at__isnull=True)
                .first()
            )
            if entry is None:
                continue  # stopped meanwhile
            if not _first_report(entry):
                continue  # reported by an earlier run and left running (no auto-stop)
            _emit(EVENT_TIMER, "forgotten", entry)
            if organization.auto_stop_timers:
                at = forgotten_stop_time(organization, entry, now)
                try:
                    _stop(entry, at)
                    stopped = True
                except ConflictError:
                    logger.warning(
                        "forgotten timer %s is in a locked period: left running", entry_id
                    )
            if notify is not None:
                notify(entry, stopped)
        results.append(ForgottenTimer(entry_id=entry_id, user_id=user_id, stopped=stopped))
    return results
