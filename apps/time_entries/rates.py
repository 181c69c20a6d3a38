"""Rates and amounts of time entries: the rate hierarchy, the amount, the recompute.

The hourly rate of a user on a project is the project-member rate, else the
project's rate, else the member's default rate, else the organization's
default (:func:`rate_expression`, the one definition). Every write snapshots
it on the entry with the amount (:func:`price`), so reports never depend on
today's rates; a change of any of those rates queues
:func:`recompute_amounts_for` after commit (:func:`enqueue_rate_recompute`),
which re-prices the entries that are not locked by a timesheet.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection, transaction
from django.db.models import F, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from apps.common.prepared import PreparedQuery
from apps.organizations.models import Membership, Organization
from apps.projects.models import Project, ProjectMember
from tenants.db import current_schema, current_tenant

from .locking import UserId, locked_ranges, unlocked_span_sql, user_time_lock
from .models import TimeEntry

CENT = Decimal("0.01")
SECONDS_PER_HOUR = Decimal(3600)


def rate_expression(*, user_id: UserId, organization_id: uuid.UUID) -> Coalesce:
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


def resolve_rate(*, user_id: UserId, project: Project) -> Decimal | None:
    """The hourly rate of ``user_id`` on ``project`` (:func:`rate_expression`);
    ``None`` when none is set.

    Read fresh from the database (not the request's cached tenant), so the
    recompute task and the request that changed a rate agree.
    """
    rows = _PROJECT_RATE.run(
        project_id=project.pk, user_id=user_id, organization_id=current_tenant().pk
    )
    return rows[0].rate if rows else None  # type: ignore[attr-defined]


def _project_rate(
    shape: None, *, project_id: uuid.UUID, user_id: uuid.UUID, organization_id: uuid.UUID
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


def price(entry: TimeEntry, *, keep_rate: bool = False) -> None:
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
    *,
    project_id: uuid.UUID | str | None = None,
    user_id: UserId | None = None,
    organization: Organization | None = None,
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
        # The task module imports this one: imported when sent, not at load.
        from .tasks import recompute_amounts

        recompute_amounts.apply_async(kwargs=kwargs, headers={"_schema_name": schema})

    transaction.on_commit(send)


def recompute_amounts_for(
    *, project_id: uuid.UUID | str | None = None, user_id: UserId | None = None
) -> int:
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
    organization = current_tenant()
    for uid in scope.order_by().values_list("user_id", flat=True).distinct():
        with transaction.atomic():
            user_time_lock(uid)
            locked = locked_ranges(organization, uid)
            pairs = scope.filter(user_id=uid).order_by().values_list("project_id").distinct()
            for (pid,) in pairs:
                project = Project.all_objects.get(pk=pid)
                changed += _reprice_user_project(uid, project, locked)
    return changed


def _reprice_user_project(
    user_id: UserId,
    project: Project,
    locked: Sequence[tuple[datetime.datetime, datetime.datetime]],
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
    params: list[uuid.UUID | str | datetime.datetime] = [user_id, project.pk]
    # An entry touching a locked period keeps its snapshot (the lock rule).
    unlocked, unlocked_params = unlocked_span_sql(locked)
    where += unlocked
    params += unlocked_params
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
