"""Reads for projects, with the visibility rules of the role table.

Managers and above see every project; members and viewers see public projects
and the private ones they belong to. Everything that lists or fetches projects
(or things inside them, like tasks) goes through these functions.
"""

from __future__ import annotations

import datetime
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from uuid import UUID

from django.contrib.postgres.aggregates import ArrayAgg
from django.db import connection
from django.db.models import (
    BooleanField,
    Exists,
    Expression,
    ExpressionWrapper,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.http import Http404

from apps.iam.models import User
from apps.organizations.models import Membership
from apps.organizations.permissions import may
from apps.time_entries.models import TimeEntry

from .constants import ProjectStatus
from .models import Client, Milestone, Project, ProjectDependency, ProjectMember


def sees_all_projects(actor: Membership) -> bool:
    return may(actor, "projects.manage")


def visible_project_filter(actor: Membership, prefix: str = "") -> Q:
    """A ``Q`` on ``<prefix>`` (e.g. ``"project__"`` for tasks) that keeps only
    projects ``actor`` may see. Built with ``EXISTS`` so it never
    multiplies rows in list queries."""
    if sees_all_projects(actor):
        return Q()
    return member_visible_project_filter(actor.user_id, prefix)


def member_visible_project_filter(user_id: UUID, prefix: str = "") -> Q:
    """:func:`visible_project_filter` for a role that does not see every
    project: public projects and the private ones ``user_id`` belongs to."""
    is_member = Exists(
        ProjectMember.objects.filter(
            project_id=OuterRef(f"{prefix}id" if prefix else "id"), user_id=user_id
        )
    )
    return Q(**{f"{prefix}is_private": False}) | Q(is_member)


def projects_visible_to(*, actor: Membership) -> QuerySet[Project]:
    return Project.objects.filter(visible_project_filter(actor))


def project_get_for_member(*, actor: Membership, project_id: UUID) -> Project:
    """The project if it exists (alive) and ``actor`` may see it; else 404
    (another organization's or a hidden project look the same: unknown)."""
    project = projects_visible_to(actor=actor).filter(pk=project_id).first()
    if project is None:
        raise Http404("No such project.")
    return project


# --- projects: lists, trash, time -------------------------------------------------


def project_list(*, actor: Membership, with_deleted: bool = False) -> QuerySet[Project]:
    """Projects ``actor`` may see, ready for serializing (client joined).

    ``with_deleted`` also yields soft-deleted rows, for the list's trash filter
    (``?deleted=true``); the filter set narrows to live rows by default, every
    other caller gets live rows only. The ``id`` tie-breaker keeps pages stable
    when many projects share a name or a date.
    """
    manager = Project.all_objects if with_deleted else Project.objects
    return (
        manager.filter(visible_project_filter(actor))
        .select_related("client")
        .order_by("name", "id")
    )


@dataclass(frozen=True)
class BudgetSpent:
    """What a project's budget has used: ``seconds`` of time and ``amount``
    (in the project's currency: every entry of a project is in its currency)."""

    seconds: int = 0
    amount: Decimal = Decimal("0.00")

    @property
    def hours(self) -> Decimal:
        """Hours with two decimals, rounded half up (exact: no float)."""
        return (Decimal(self.seconds) / 3600).quantize(Decimal("0.01"), ROUND_HALF_UP)


def project_budget_spent(*, project_ids: Iterable[UUID]) -> dict[UUID, BudgetSpent]:
    """Budget consumption of the given projects in ONE grouped query.

    Counted: live (not soft-deleted) *finished* entries, billable or not for
    the hours; the amount is the sum of the billable entries' snapshotted
    amounts (as in reports; entries without a rate add nothing).
    Running timers are left out, like in reports and budget insights: their
    length and amount are not known until they stop (a stop then shows up on
    the next read). Durations are raw, not rounded by the organization's
    report rounding. Projects without entries are absent from the result.
    """
    ids = list(dict.fromkeys(project_ids))
    if not ids:
        return {}
    rows = (
        TimeEntry.objects.filter(project_id__in=ids, ended_at__isnull=False)
        .order_by()
        .values("project_id")
        .annotate(seconds=Sum("duration_seconds"), amount=Sum("amount", filter=Q(billable=True)))
    )
    return {
        row["project_id"]: BudgetSpent(
            seconds=int(row["seconds"] or 0), amount=row["amount"] or Decimal("0.00")
        )
        for row in rows
    }


class BudgetSpentLookup:
    """Budget consumption for one response: a page of projects is fetched with
    one :func:`project_budget_spent` query (:meth:`prefetch`); a project not
    prefetched (detail, create, update) is fetched alone when first asked for.
    The list and the detail read the same function, so they show the same numbers."""

    def __init__(self) -> None:
        self._spent: dict[UUID, BudgetSpent] = {}
        self._known: set[UUID] = set()

    def prefetch(self, projects: Iterable[Project]) -> None:
        missing = [p.pk for p in projects if p.pk not in self._known]
        if missing:
            self._spent.update(project_budget_spent(project_ids=missing))
            self._known.update(missing)

    def get(self, project: Project) -> BudgetSpent:
        self.prefetch([project])
        return self._spent.get(project.pk, BudgetSpent())


def project_get_for_restore(*, actor: Membership, project_id: UUID) -> Project:
    """A project ``actor`` may see, in the trash or not (restoring a live
    project is a harmless no-op, so a repeated restore is not an error).
    Unknown → 404."""
    project = (
        Project.all_objects.filter(visible_project_filter(actor), pk=project_id)
        .select_related("client")
        .first()
    )
    if project is None:
        raise Http404("No such project.")
    return project


def project_accepts_time(project: Project) -> bool:
    """Whether time may be tracked on ``project`` (time entries ask this).

    Archived and soft-deleted projects keep their past time but take no new
    time; planned, active, on-hold and completed projects still do (late
    corrections on a completed project are normal).
    """
    return project.deleted_at is None and project.status != ProjectStatus.ARCHIVED


def projects_accepting_time(*, actor: Membership) -> QuerySet[Project]:
    """The visible projects that take new time (:func:`project_accepts_time`
    as a filter: alive and not archived), by name: the timer's choices."""
    return projects_visible_to(actor=actor).exclude(status=ProjectStatus.ARCHIVED).order_by("name")


def project_name_taken(
    *, name: str, client_id: UUID | None, exclude_id: UUID | None = None
) -> bool:
    """Whether a live project with this name (any case) exists for the same client.

    The database enforces this for projects *with* a client; for projects
    without one (``NULL`` never equals ``NULL`` in a unique index) only this
    check does, so the services always call it.
    """
    query = Project.objects.filter(name__iexact=name)
    if client_id is None:
        query = query.filter(client__isnull=True)
    else:
        query = query.filter(client_id=client_id)
    if exclude_id is not None:
        query = query.exclude(pk=exclude_id)
    return query.exists()


# --- clients ------------------------------------------------------------------------


def client_list(*, with_deleted: bool = False) -> QuerySet[Client]:
    """Clients of the organization (every member may read them: they are the
    labels projects are grouped by, not confidential data)."""
    manager = Client.all_objects if with_deleted else Client.objects
    return manager.order_by("name", "id")


def client_get(*, client_id: UUID, with_deleted: bool = False) -> Client:
    client = client_list(with_deleted=with_deleted).filter(pk=client_id).first()
    if client is None:
        raise Http404("No such client.")
    return client


def client_name_taken(*, name: str, exclude_id: UUID | None = None) -> bool:
    query = Client.objects.filter(name__iexact=name)
    if exclude_id is not None:
        query = query.exclude(pk=exclude_id)
    return query.exists()


# --- members, milestones, dependencies ------------------------------------------------


def project_member_list(*, project: Project) -> QuerySet[ProjectMember]:
    return ProjectMember.objects.filter(project=project).order_by("created_at", "id")


def project_member_get(*, project: Project, member_id: UUID) -> ProjectMember:
    member = project_member_list(project=project).filter(pk=member_id).first()
    if member is None:
        raise Http404("No such project member.")
    return member


def users_by_id(*, user_ids: Iterable[UUID | None]) -> dict[UUID, User]:
    """Users (public schema) for a page of tenant rows that hold ``user_id``s,
    in one query: tenant tables cannot join users, so lists look them up here."""
    ids = {uid for uid in user_ids if uid is not None}
    if not ids:
        return {}
    return {u.pk: u for u in User.objects.filter(pk__in=ids)}


def milestone_list(*, project: Project) -> QuerySet[Milestone]:
    return Milestone.objects.filter(project=project).order_by("due_date", "name", "id")


def milestone_get(*, project: Project, milestone_id: UUID) -> Milestone:
    milestone = milestone_list(project=project).filter(pk=milestone_id).first()
    if milestone is None:
        raise Http404("No such milestone.")
    return milestone


def project_dependency_list(*, project: Project) -> QuerySet[ProjectDependency]:
    """What ``project`` waits for (its finish-to-start predecessors)."""
    return (
        ProjectDependency.objects.filter(project=project)
        .select_related("depends_on")
        .order_by("created_at", "id")
    )


def project_dependency_get(*, project: Project, dependency_id: UUID) -> ProjectDependency:
    dependency = project_dependency_list(project=project).filter(pk=dependency_id).first()
    if dependency is None:
        raise Http404("No such dependency.")
    return dependency


def project_dependency_would_cycle(*, project_id: UUID, depends_on_id: UUID) -> bool:
    """Whether adding "``project`` depends on ``depends_on``" closes a cycle,
    i.e. ``depends_on`` already waits for ``project``, directly or transitively.

    One recursive query, whatever the depth. ``UNION`` (not ``UNION ALL``)
    keeps each project once, so the walk ends even on a (corrupt) cyclic graph.
    Soft-deleted projects' links count: they come back on restore.
    """
    table = connection.ops.quote_name(ProjectDependency._meta.db_table)
    sql = f"""
        WITH RECURSIVE upstream(id) AS (
            SELECT depends_on_id FROM {table} WHERE project_id = %s
            UNION
            SELECT d.depends_on_id FROM {table} d JOIN upstream u ON d.project_id = u.id
        )
        SELECT EXISTS (SELECT 1 FROM upstream WHERE id = %s)
    """  # the table name is ours; values go as parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [depends_on_id, project_id])
        return bool(cursor.fetchone()[0])


# --- timeline -----------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineRow:
    """One project on the timeline.

    ``earliest_start`` is the latest (earliest) finish among the project's
    predecessors, ``None`` when nothing constrains it; ``blocked`` says the
    planned ``start_date`` is before that.
    """

    id: UUID
    name: str
    status: str
    start_date: datetime.date | None
    end_date: datetime.date | None
    earliest_start: datetime.date | None
    earliest_finish: datetime.date | None
    depends_on: list[UUID]
    blocked: bool


def _earliest_finish(
    start: datetime.date | None, end: datetime.date | None, earliest_start: datetime.date | None
) -> datetime.date | None:
    """When a project can finish at the earliest, given when it can start.

    A project pushed back by its predecessors keeps its planned duration; one
    without a duration (no start date) cannot end before it may start; one
    without an end date only passes its earliest start on.
    """
    if earliest_start is None:
        return end
    if end is None:
        return earliest_start
    if start is not None and earliest_start > start:
        return end + (earliest_start - start)
    return max(end, earliest_start)


def project_timeline(*, actor: Membership) -> list[TimelineRow]:
    """The visible live projects with the earliest start their dependencies imply.

    One query loads every live project of the organization with the ids of its
    live predecessors (``ARRAY_AGG``) and whether ``actor`` may see it;
    a topological pass (Kahn) then computes, in dependency order,
    ``earliest_start = max(earliest_finish(predecessor))`` transitively.

    Predecessors the caller may not see still constrain the dates (the schedule
    is the same for everyone) but are not listed in ``depends_on``. Soft-deleted
    projects take no part. A successor may start on the day its predecessor
    ends (end dates are the hand-over day).
    """
    visible: Expression = (
        Value(True)
        if sees_all_projects(actor)
        else ExpressionWrapper(visible_project_filter(actor), output_field=BooleanField())
    )
    rows = list(
        Project.objects.annotate(
            visible=visible,
            predecessor_ids=ArrayAgg(
                "dependencies__depends_on_id",
                filter=Q(
                    dependencies__isnull=False,
                    dependencies__depends_on__deleted_at__isnull=True,
                ),
            ),
        ).values("id", "name", "status", "start_date", "end_date", "visible", "predecessor_ids")
    )
    by_id = {row["id"]: row for row in rows}
    predecessors = {
        row["id"]: [p for p in (row["predecessor_ids"] or []) if p in by_id] for row in rows
    }
    successors: dict[UUID, list[UUID]] = defaultdict(list)
    waiting = {pid: len(preds) for pid, preds in predecessors.items()}
    for pid, preds in predecessors.items():
        for pred in preds:
            successors[pred].append(pid)

    earliest_start: dict[UUID, datetime.date | None] = {}
    earliest_finish: dict[UUID, datetime.date | None] = {}
    ready = deque(pid for pid, count in waiting.items() if count == 0)
    order: list[UUID] = []
    while ready:
        pid = ready.popleft()
        order.append(pid)
        for succ in successors[pid]:
            waiting[succ] -= 1
            if waiting[succ] == 0:
                ready.append(succ)
    # Cycles are refused on write; should one exist anyway, its projects are
    # computed last from whatever predecessors are known, instead of failing.
    order += [pid for pid, count in waiting.items() if count > 0]

    for pid in order:
        row = by_id[pid]
        finishes = [earliest_finish.get(p) for p in predecessors[pid]]
        known = [d for d in finishes if d is not None]
        earliest_start[pid] = max(known) if known else None
        earliest_finish[pid] = _earliest_finish(
            row["start_date"], row["end_date"], earliest_start[pid]
        )

    visible_ids = {row["id"] for row in rows if row["visible"]}
    result = [
        TimelineRow(
            id=row["id"],
            name=row["name"],
            status=row["status"],
            start_date=row["start_date"],
            end_date=row["end_date"],
            earliest_start=earliest_start[row["id"]],
            earliest_finish=earliest_finish[row["id"]],
            depends_on=sorted((p for p in predecessors[row["id"]] if p in visible_ids), key=str),
            blocked=(
                row["start_date"] is not None
                and earliest_start[row["id"]] is not None
                and row["start_date"] < earliest_start[row["id"]]
            ),
        )
        for row in rows
        if row["visible"]
    ]
    result.sort(key=lambda r: (r.start_date is None, r.start_date or datetime.date.min, r.name))
    return result
