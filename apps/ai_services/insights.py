"""Insights: things in the time data that deserve someone's attention.

Every detector is one or two SQL queries over a bounded window (the last
``days`` days, at most :data:`MAX_PER_KIND` results each), so the endpoint's
cost does not grow with the organization's history. Members see their own
insights; ``scope=team`` (manager+) covers everyone, plus budget forecasts.
Day boundaries are the organization's timezone.
"""

from __future__ import annotations

import datetime
import math
import statistics
import uuid
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import NotRequired, TypedDict

from django.db import connection
from django.db.models import Case, DateField, Q, QuerySet, Sum, Value, When
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.organizations.models import Membership
from apps.organizations.permissions import may, require
from apps.projects.constants import ProjectStatus
from apps.projects.models import Project
from apps.projects.selectors import users_by_id
from apps.time_entries.models import TimeEntry
from apps.time_entries.money import may_view_money, project_currency
from apps.timesheets.constants import TimesheetStatus
from apps.timesheets.models import Timesheet
from apps.timesheets.periods import period_bounds
from tenants.db import current_tenant

from .constants import InsightKind, Severity
from .selectors import time_tracking_members

MAX_PER_KIND = 50
#: A day is "long" from this many hours, or from 1.6 times the user's usual day.
LONG_DAY_HOURS = 10
LONG_DAY_FACTOR = 1.6
#: Burn rate window for budget forecasts.
BURN_WINDOW_DAYS = 28
#: Closed timesheet periods checked for missing submissions.
TIMESHEET_PERIODS_CHECKED = 4
_SEVERITY_RANK = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}


class InsightObject(TypedDict):
    type: str
    id: str


class Insight(TypedDict):
    """One insight as the API answers it (``InsightSerializer``)."""

    kind: str
    severity: str
    message: str
    user: str | None
    objects: list[InsightObject]
    links: list[str]
    data: dict[str, object]
    user_name: NotRequired[str | None]


def _insight(
    kind: str,
    severity: str,
    message: str,
    *,
    user_id: uuid.UUID | None = None,
    objects: list[InsightObject] | None = None,
    links: list[str] | None = None,
    **data: object,
) -> Insight:
    return {
        "kind": kind,
        "severity": severity,
        "message": message,
        "user": str(user_id) if user_id else None,
        "objects": objects or [],
        "links": links or [],
        "data": data,
    }


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


def _entry_link(entry_id: uuid.UUID) -> str:
    return f"/api/v1/time-entries/{entry_id}/"


class InsightContext:
    """Who is asking, about whom, over which window."""

    def __init__(self, *, actor: Membership, team: bool, days: int, now: datetime.datetime) -> None:
        self.actor = actor
        self.organization = current_tenant()
        self.team = team
        self.now = now
        self.tz = zoneinfo.ZoneInfo(self.organization.timezone)
        self.today = now.astimezone(self.tz).date()
        self.first_day = self.today - datetime.timedelta(days=days)
        self.since = datetime.datetime.combine(self.first_day, datetime.time.min, tzinfo=self.tz)
        if team:
            members = list(
                time_tracking_members().only("user_id", "joined_at", "weekly_expected_hours")
            )
        else:
            members = [actor] if may(actor, "time.track") else []
        self.members = {m.user_id: m for m in members}
        self.user_ids = list(self.members)

    def entries(self) -> QuerySet[TimeEntry]:
        return TimeEntry.objects.filter(user_id__in=self.user_ids)


def forgotten_timers(ctx: InsightContext) -> list[Insight]:
    limit = ctx.now - datetime.timedelta(hours=ctx.organization.forgotten_timer_hours)
    rows = (
        ctx.entries()
        .filter(ended_at__isnull=True, started_at__lt=limit)
        .select_related("project")
        .order_by("started_at")[:MAX_PER_KIND]
    )
    out = []
    for entry in rows:
        running = (ctx.now - entry.started_at).total_seconds()
        out.append(
            _insight(
                InsightKind.FORGOTTEN_TIMER,
                Severity.CRITICAL if running > 24 * 3600 else Severity.WARNING,
                f"Timer on {entry.project.name} has been running for {_hours(running)} "
                f"(since {entry.started_at.astimezone(ctx.tz):%a %d %b %H:%M}).",
                user_id=entry.user_id,
                objects=[{"type": "time_entry", "id": str(entry.pk)}],
                links=[_entry_link(entry.pk), "/api/v1/timer/stop/"],
                running_seconds=int(running),
            )
        )
    return out


def overlaps(ctx: InsightContext) -> list[Insight]:
    """Pairs of a user's live entries that overlap (possible only for entries
    written while the organization allowed overlaps)."""
    table = connection.ops.quote_name(TimeEntry._meta.db_table)
    sql = f"""
        SELECT a.id, b.id, a.user_id,
               GREATEST(a.started_at, b.started_at),
               LEAST(COALESCE(a.ended_at, %s), COALESCE(b.ended_at, %s))
        FROM {table} a
        JOIN {table} b
          ON b.user_id = a.user_id AND a.id < b.id
         AND b.deleted_at IS NULL
         AND b.started_at < COALESCE(a.ended_at, 'infinity'::timestamptz)
         AND a.started_at < COALESCE(b.ended_at, 'infinity'::timestamptz)
         AND b.started_at >= %s - interval '1 day'
        WHERE a.deleted_at IS NULL AND a.started_at >= %s AND a.user_id = ANY(%s)
        ORDER BY 4 DESC
        LIMIT %s
    """  # the table name is ours; values go as parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [ctx.now, ctx.now, ctx.since, ctx.since, ctx.user_ids, MAX_PER_KIND])
        rows = cursor.fetchall()
    out = []
    for a, b, user_id, start, end in rows:
        seconds = max(0, int((end - start).total_seconds()))
        out.append(
            _insight(
                InsightKind.OVERLAP,
                Severity.WARNING,
                f"Two entries overlap by {_hours(seconds)} on {start.astimezone(ctx.tz):%a %d %b}.",
                user_id=user_id,
                objects=[
                    {"type": "time_entry", "id": str(a)},
                    {"type": "time_entry", "id": str(b)},
                ],
                links=[_entry_link(a), _entry_link(b)],
                overlap_seconds=seconds,
            )
        )
    return out


def _daily_totals(
    ctx: InsightContext, since: datetime.datetime
) -> dict[uuid.UUID, dict[datetime.date, int]]:
    rows = (
        ctx.entries()
        .filter(started_at__gte=since, ended_at__isnull=False)
        .annotate(day=TruncDate("started_at", tzinfo=ctx.tz))
        .values("user_id", "day")
        .annotate(total=Sum("duration_seconds"))
    )
    totals: dict[uuid.UUID, dict[datetime.date, int]] = defaultdict(dict)
    for row in rows:
        totals[row["user_id"]][row["day"]] = int(row["total"] or 0)
    return totals


def long_days(
    ctx: InsightContext, totals: dict[uuid.UUID, dict[datetime.date, int]]
) -> list[Insight]:
    out = []
    for user_id, per_day in totals.items():
        usual = statistics.median(per_day.values()) if per_day else 0
        threshold = max(LONG_DAY_HOURS * 3600, LONG_DAY_FACTOR * usual)
        for day, total in sorted(per_day.items()):
            if day < ctx.first_day or total < threshold:
                continue
            out.append(
                _insight(
                    InsightKind.LONG_DAY,
                    Severity.CRITICAL if total >= 14 * 3600 else Severity.WARNING,
                    f"{_hours(total)} tracked on {day:%a %d %b} (usual day: {_hours(usual)}).",
                    user_id=user_id,
                    links=[f"/api/v1/time-entries/?user={user_id}&from={day}&to={day}"],
                    day=day.isoformat(),
                    total_seconds=total,
                    usual_seconds=int(usual),
                )
            )
    return out[:MAX_PER_KIND]


def missing_days(
    ctx: InsightContext, totals: dict[uuid.UUID, dict[datetime.date, int]]
) -> list[Insight]:
    """Working days (Mon-Fri) of the window without time, for members who
    are expected to track (``weekly_expected_hours``) or usually do."""
    out = []
    for user_id, member in ctx.members.items():
        expected = member.weekly_expected_hours
        if not (expected and expected > 0) and not totals.get(user_id):
            continue
        joined = member.joined_at.astimezone(ctx.tz).date()
        days = [
            ctx.first_day + datetime.timedelta(days=n)
            for n in range((ctx.today - ctx.first_day).days)
        ]
        missed = [
            d for d in days if d.weekday() < 5 and d >= joined and d not in totals.get(user_id, {})
        ]
        if missed:
            out.append(
                _insight(
                    InsightKind.MISSING_DAY,
                    Severity.WARNING if len(missed) >= 3 else Severity.INFO,
                    f"No time tracked on {len(missed)} working day(s): "
                    + ", ".join(f"{d:%a %d %b}" for d in missed[:5])
                    + ("…" if len(missed) > 5 else "."),
                    user_id=user_id,
                    links=[
                        f"/api/v1/time-entries/?user={user_id}&from={missed[0]}&to={missed[-1]}"
                    ],
                    days=[d.isoformat() for d in missed],
                )
            )
    return out[:MAX_PER_KIND]


def budget_burn(ctx: InsightContext) -> list[Insight]:
    """Projects whose recent burn rate exhausts the budget (hours or amount)
    before their end date, with the projected date; and those already over.

    Amount budgets are money that is not one person's own time: they are
    checked only for callers :func:`~apps.time_entries.money.may_view_money`
    allows with ``owner_ids=None``, and named in the project's currency (the
    client's, else the organization's), the currency its entries' amounts are in.
    """
    with_money = may_view_money(actor=ctx.actor, owner_ids=None, organization=ctx.organization)
    budgeted = Q(budget_hours__isnull=False)
    if with_money:
        budgeted |= Q(budget_amount__isnull=False)
    projects = list(
        Project.objects.filter(budgeted)
        .exclude(status__in=[ProjectStatus.ARCHIVED, ProjectStatus.COMPLETED])
        .select_related("client")
        .order_by("name")[:500]
    )
    if not projects:
        return []
    window_start = ctx.now - datetime.timedelta(days=BURN_WINDOW_DAYS)
    sums = {
        row["project_id"]: row
        for row in TimeEntry.objects.filter(project__in=projects, ended_at__isnull=False)
        .values("project_id")
        .annotate(
            used_seconds=Sum("duration_seconds"),
            used_amount=Sum("amount"),
            recent_seconds=Sum("duration_seconds", filter=Q(started_at__gte=window_start)),
            recent_amount=Sum("amount", filter=Q(started_at__gte=window_start)),
        )
    }
    out = []
    for project in projects:
        row = sums.get(project.pk, {})
        checks = []
        if project.budget_hours is not None:
            checks.append(
                (
                    "hours",
                    Decimal(row.get("used_seconds") or 0) / 3600,
                    Decimal(row.get("recent_seconds") or 0) / 3600,
                    project.budget_hours,
                )
            )
        if with_money and project.budget_amount is not None:
            checks.append(
                (
                    "amount",
                    row.get("used_amount") or Decimal(0),
                    row.get("recent_amount") or Decimal(0),
                    project.budget_amount,
                )
            )
        for measure, used, recent, budget in checks:
            link = [f"/api/v1/projects/{project.pk}/"]
            objects: list[InsightObject] = [{"type": "project", "id": str(project.pk)}]
            unit = (
                "h"
                if measure == "hours"
                else project_currency(project, default=str(ctx.organization.currency))
            )
            if used >= budget:
                out.append(
                    _insight(
                        InsightKind.BUDGET_BURN,
                        Severity.CRITICAL,
                        f"{project.name} is over its {measure} budget: "
                        f"{used:.2f} of {budget:.2f} {unit} used.",
                        objects=objects,
                        links=link,
                        measure=measure,
                        currency=unit if measure == "amount" else None,
                        used=f"{used:.2f}",
                        budget=f"{budget:.2f}",
                        projected_date=None,
                    )
                )
                continue
            daily = recent / BURN_WINDOW_DAYS
            if daily <= 0:
                continue
            days_left = math.ceil((budget - used) / daily)
            projected = ctx.today + datetime.timedelta(days=days_left)
            if project.end_date is None or projected >= project.end_date:
                continue
            out.append(
                _insight(
                    InsightKind.BUDGET_BURN,
                    Severity.WARNING,
                    f"At the last {BURN_WINDOW_DAYS} days' pace, {project.name} uses up its "
                    f"{measure} budget on {projected:%d %b %Y}, before its end date "
                    f"{project.end_date:%d %b %Y} ({used:.2f} of {budget:.2f} {unit} used).",
                    objects=objects,
                    links=link,
                    measure=measure,
                    currency=unit if measure == "amount" else None,
                    used=f"{used:.2f}",
                    budget=f"{budget:.2f}",
                    daily_burn=f"{daily:.2f}",
                    projected_date=projected.isoformat(),
                    end_date=project.end_date.isoformat(),
                )
            )
    return out[:MAX_PER_KIND]


def missing_timesheets(ctx: InsightContext) -> list[Insight]:
    """Closed periods in which a user tracked time but whose sheet is not
    submitted or approved (missing, draft or rejected)."""
    periods = []
    day = ctx.today
    for _ in range(TIMESHEET_PERIODS_CHECKED):
        start, _end = period_bounds(ctx.organization, day)
        previous = period_bounds(ctx.organization, start - datetime.timedelta(days=1))
        periods.append(previous)
        day = previous[0]
    closed_until = datetime.datetime.combine(
        periods[0][1] + datetime.timedelta(days=1), datetime.time.min, tzinfo=ctx.tz
    )
    done = set(
        Timesheet.objects.filter(
            user_id__in=ctx.user_ids,
            period_start__in=[p[0] for p in periods],
            status__in=[TimesheetStatus.SUBMITTED, TimesheetStatus.APPROVED],
        ).values_list("user_id", "period_start")
    )
    # One grouped query for all periods: each entry is labelled with its period.
    bounds = {}
    whens = []
    for start, end in periods:
        low = datetime.datetime.combine(start, datetime.time.min, tzinfo=ctx.tz)
        high = datetime.datetime.combine(
            end + datetime.timedelta(days=1), datetime.time.min, tzinfo=ctx.tz
        )
        bounds[start] = end
        whens.append(When(started_at__gte=low, started_at__lt=high, then=Value(start)))
    oldest = datetime.datetime.combine(periods[-1][0], datetime.time.min, tzinfo=ctx.tz)
    tracked = (
        ctx.entries()
        .filter(started_at__gte=oldest, started_at__lt=closed_until)
        .annotate(period=Case(*whens, output_field=DateField()))
        .values("user_id", "period")
        .annotate(total=Sum("duration_seconds"))
        .order_by("period", "user_id")
    )
    out = []
    for row in tracked:
        start = row["period"]
        if start is None or (row["user_id"], start) in done:
            continue
        end = bounds[start]
        out.append(
            _insight(
                InsightKind.MISSING_TIMESHEET,
                Severity.WARNING,
                f"Timesheet for {start:%d %b} to {end:%d %b} is not submitted "
                f"({_hours(row['total'] or 0)} tracked).",
                user_id=row["user_id"],
                links=[f"/api/v1/timesheets/?user={row['user_id']}&period_start={start}"],
                period_start=start.isoformat(),
                period_end=end.isoformat(),
            )
        )
    return out[:MAX_PER_KIND]


@dataclass(frozen=True)
class InsightList:
    scope: str
    results: list[Insight]


def insight_list(
    *, actor: Membership, scope: str | None, days: int = 14, now: datetime.datetime | None = None
) -> InsightList:
    """The insights ``actor`` asked for: ``scope`` ``me`` (their own) or
    ``team`` (everyone, plus budget forecasts: ``entries.view_all``, else 403
    ``role_required``). Without a scope: ``team`` for those who may see it,
    else ``me``."""
    scope = scope or ("team" if may(actor, "entries.view_all") else "me")
    if scope == "team":
        require(actor, "entries.view_all")
    return InsightList(
        scope=scope, results=insights_for(actor=actor, team=scope == "team", days=days, now=now)
    )


def insights_for(
    *, actor: Membership, team: bool, days: int = 14, now: datetime.datetime | None = None
) -> list[Insight]:
    """Every insight for the member (or the team), most severe first."""
    ctx = InsightContext(actor=actor, team=team, days=days, now=now or timezone.now())
    results: list[Insight] = []
    if ctx.user_ids:
        totals = _daily_totals(
            ctx, ctx.since - datetime.timedelta(days=60 - days if days < 60 else 0)
        )
        results += forgotten_timers(ctx)
        results += overlaps(ctx)
        results += long_days(ctx, totals)
        results += missing_days(ctx, totals)
        results += missing_timesheets(ctx)
    if team:
        results += budget_burn(ctx)
    names = users_by_id(user_ids=[_uuid(r["user"]) for r in results if r["user"]])
    for r in results:
        user = names.get(_uuid(r["user"])) if r["user"] else None
        r["user_name"] = user.full_name if user else None
    results.sort(key=lambda r: (_SEVERITY_RANK[Severity(r["severity"])], r["kind"]))
    return results


def _uuid(value: str) -> uuid.UUID:
    return uuid.UUID(value)
