"""Reads of timesheets: lists, the sheet detail (entries, totals, flags, audit
trail), the team overview and the payroll export. The lock rule other apps
call lives with the time it locks: :mod:`apps.time_entries.locking`.

Visibility: members and viewers see their own sheets; managers and above
(``timesheets.approve``) see everybody's. Another organization's sheet, or
one the caller may not see, is a 404 like an unknown id.

Period days are the organization's local days: an entry belongs to the
period its start falls in, in the organization's timezone.
"""

from __future__ import annotations

import datetime
import uuid
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import (
    BigIntegerField,
    Count,
    DateField,
    DateTimeField,
    ExpressionWrapper,
    F,
    Field,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.expressions import Combinable
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from apps.organizations.constants import MembershipStatus
from apps.organizations.models import Membership
from apps.organizations.permissions import may
from apps.time_entries.money import (
    currency_totals,
    entry_currency_expression,
    project_currency,
    single_amount,
)
from tenants.db import current_tenant

from .constants import TimesheetStatus
from .models import Timesheet, TimesheetEvent
from .periods import local_date, period_bounds, period_range_utc

if TYPE_CHECKING:
    from apps.time_entries.models import TimeEntry

#: Working days for the gap / missing-day flags (Monday=0 … Friday=4).
WORKING_WEEKDAYS = frozenset(range(5))


# --- SQL building blocks ------------------------------------------------------------


class LocalDayStart(Func):
    """``(<date>)::timestamp AT TIME ZONE <tz>``: the instant a local day begins.

    Lets one query compare entries with the period of each row (list,
    overview) instead of computing bounds row by row in Python.
    """

    template = "((%(expressions)s))"
    arg_joiner = "::timestamp AT TIME ZONE "
    output_field = DateTimeField()


def _day_after(expression: Combinable) -> ExpressionWrapper:
    return ExpressionWrapper(expression + Value(1), output_field=DateField())


def _entries_model() -> Any:
    from apps.time_entries.models import TimeEntry

    return TimeEntry


def _period_entries(
    *, user_ref: Combinable, start_ref: Combinable, end_ref: Combinable, tz: str
) -> QuerySet[TimeEntry]:
    """Live entries of ``user_ref`` starting in [start_ref, end_ref] (local days)."""
    return _entries_model().objects.filter(
        user_id=user_ref,
        started_at__gte=LocalDayStart(start_ref, Value(tz)),
        started_at__lt=LocalDayStart(_day_after(end_ref), Value(tz)),
    )


def _sum_subquery(
    entries: QuerySet[TimeEntry], column: str, output: Field, **filters: object
) -> Subquery:
    """``SUM(column)`` over ``entries`` (one row: grouped by a constant)."""
    rows = (
        entries.filter(**filters)
        .order_by()
        .annotate(_one=Value(1))
        .values("_one")
        .annotate(total=Sum(column))
        .values("total")
    )
    return Subquery(rows, output_field=output)


# --- lists and access ---------------------------------------------------------------


def sees_all_timesheets(actor: Membership) -> bool:
    return may(actor, "timesheets.approve")


def timesheet_list(*, actor: Membership) -> QuerySet[Timesheet]:
    """Sheets ``actor`` may see, with ``total_seconds`` (the approved
    snapshot once approved, else the live sum of the period's entries)."""
    tz = current_tenant().timezone
    live = _period_entries(
        user_ref=OuterRef("user_id"),
        start_ref=OuterRef("period_start"),
        end_ref=OuterRef("period_end"),
        tz=tz,
    )
    queryset = Timesheet.objects.annotate(
        total_seconds=Coalesce(
            F("approved_total_seconds"),
            _sum_subquery(live, "duration_seconds", BigIntegerField()),
            Value(0),
            output_field=BigIntegerField(),
        )
    )
    if not sees_all_timesheets(actor):
        queryset = queryset.filter(user_id=actor.user_id)
    return queryset.order_by("-period_start", "user_id", "id")


def timesheet_get_for_member(*, actor: Membership, timesheet_id: uuid.UUID | str) -> Timesheet:
    """The sheet if ``actor`` may see it; else 404."""
    sheet = timesheet_list(actor=actor).filter(pk=timesheet_id).first()
    if sheet is None:
        raise Http404("No such timesheet.")
    return sheet


# --- detail -------------------------------------------------------------------------


@dataclass
class TimesheetDetail:
    """Everything ``GET /timesheets/{id}/`` shows besides the sheet's own fields."""

    sheet: Timesheet
    entries: list[Any]
    events: list[TimesheetEvent]
    total_seconds: int = 0
    billable_seconds: int = 0
    #: ``{currency: amount}`` of the billable entries (never added across currencies).
    billable_amounts: dict[str, Decimal] = field(default_factory=dict)
    daily_totals: list[dict[str, Any]] = field(default_factory=list)
    project_totals: list[dict[str, Any]] = field(default_factory=list)
    flags: dict[str, Any] = field(default_factory=dict)


def _expected_seconds_per_day(user_id: uuid.UUID) -> int | None:
    hours = (
        Membership.objects.filter(
            organization_id=current_tenant().pk, user_id=user_id, status=MembershipStatus.ACTIVE
        )
        .values_list("weekly_expected_hours", flat=True)
        .first()
    )
    if hours is None:
        return None
    return int(hours * 3600 / 5)


def _overlaps(entries: list[Any]) -> list[list[str]]:
    """Pairs of entries whose spans intersect (allowed when the organization
    permits overlaps, but worth a look before approving)."""
    far = datetime.datetime.max.replace(tzinfo=datetime.UTC)
    ordered = sorted(entries, key=lambda e: e.started_at)
    pairs: list[list[str]] = []
    for i, entry in enumerate(ordered):
        end = entry.ended_at or far
        for other in ordered[i + 1 :]:
            if other.started_at >= end:
                break
            pairs.append([str(entry.pk), str(other.pk)])
    return pairs


def timesheet_detail(*, sheet: Timesheet, today: datetime.date | None = None) -> TimesheetDetail:
    """Entries, totals and flags of ``sheet`` (three queries: entries with
    their project and task, events, expected hours).

    Flags (only for working days up to today; future days are not missing):
    ``gaps`` — days without time; ``missing_days`` — days below the user's
    weekly expected hours / 5 (when set); ``overlaps`` — intersecting
    entries; ``timer_running`` — a running entry in the period.
    """
    org = current_tenant()
    tz = zoneinfo.ZoneInfo(org.timezone)
    low, high = period_range_utc(org, sheet.period_start, sheet.period_end)
    entries = list(
        _entries_model()
        .objects.filter(user_id=sheet.user_id, started_at__gte=low, started_at__lt=high)
        .select_related("project__client", "task")
        .order_by("started_at", "id")
    )
    default_currency = str(org.currency)
    events = list(TimesheetEvent.objects.filter(timesheet=sheet).order_by("created_at", "id"))
    detail = TimesheetDetail(sheet=sheet, entries=entries, events=events)

    per_day: dict[datetime.date, int] = defaultdict(int)
    per_day_billable: dict[datetime.date, int] = defaultdict(int)
    projects: dict[Any, dict[str, Any]] = {}
    for entry in entries:
        seconds = entry.duration_seconds or 0
        day = entry.started_at.astimezone(tz).date()
        per_day[day] += seconds
        currency = project_currency(entry.project, default=default_currency)
        entry.currency = currency  # shown next to the entry's amount
        row = projects.setdefault(
            entry.project_id,
            {
                "project": entry.project_id,
                "name": entry.project.name,
                "total_seconds": 0,
                "billable_seconds": 0,
                "billable_amount": Decimal("0.00"),
                "currency": currency,
            },
        )
        row["total_seconds"] += seconds
        detail.total_seconds += seconds
        if entry.billable:
            per_day_billable[day] += seconds
            row["billable_seconds"] += seconds
            row["billable_amount"] += entry.amount or 0
            detail.billable_seconds += seconds
            detail.billable_amounts[currency] = detail.billable_amounts.get(
                currency, Decimal("0.00")
            ) + (entry.amount or 0)

    today = today or local_date(org, timezone.now())
    expected = _expected_seconds_per_day(sheet.user_id)
    gaps, missing = [], []
    day = sheet.period_start
    while day <= sheet.period_end:
        detail.daily_totals.append(
            {
                "date": day,
                "total_seconds": per_day[day],
                "billable_seconds": per_day_billable[day],
            }
        )
        if day.weekday() in WORKING_WEEKDAYS and day <= today:
            if per_day[day] == 0:
                gaps.append(day)
            if expected and per_day[day] < expected:
                missing.append(
                    {"date": day, "expected_seconds": expected, "actual_seconds": per_day[day]}
                )
        day += datetime.timedelta(days=1)
    detail.project_totals = sorted(
        projects.values(), key=lambda r: (-r["total_seconds"], r["name"])
    )
    detail.flags = {
        "gaps": gaps,
        "missing_days": missing,
        "overlaps": _overlaps(entries),
        "timer_running": any(e.ended_at is None for e in entries),
        "expected_seconds_per_day": expected,
    }
    return detail


# --- manager views ------------------------------------------------------------------


#: Overview ``status`` filter value for members without a sheet.
MISSING = "missing"


def timesheet_overview(
    *,
    period_start: datetime.date,
    status: str | None = None,
    user_id: uuid.UUID | None = None,
    project_id: uuid.UUID | None = None,
) -> QuerySet[Membership]:
    """Active members of the organization for one period, filtered, ready to
    page (the user joined). Complete a page with :func:`overview_page`.

    Memberships live in the public schema and sheets in the tenant's; the
    connection's search path holds both, so the ``status`` filter is one
    correlated subquery in the same statement. ``project_id`` keeps members
    of that project; ``status`` ``missing`` keeps members without a sheet.
    """
    from apps.projects.models import ProjectMember

    org = current_tenant()
    start, _ = period_bounds(org, period_start)
    queryset = (
        Membership.objects.filter(organization_id=org.pk, status=MembershipStatus.ACTIVE)
        .select_related("user")
        .order_by("user__email", "id")
    )
    if status:
        sheets = Timesheet.objects.filter(user_id=OuterRef("user_id"), period_start=start)
        queryset = queryset.annotate(sheet_status=Subquery(sheets.values("status")[:1]))
        if status == MISSING:
            queryset = queryset.filter(sheet_status__isnull=True)
        else:
            queryset = queryset.filter(sheet_status=status)
    if user_id:
        queryset = queryset.filter(user_id=user_id)
    if project_id:
        queryset = queryset.filter(
            user_id__in=ProjectMember.objects.filter(project_id=project_id).values("user_id")
        )
    return queryset


def overview_page(*, memberships: list[Any], period_start: datetime.date) -> list[Any]:
    """Attach each member's sheet and period totals to a page of memberships:
    two queries whatever the page size (sheets by user id; entry sums grouped
    by user over the period's instant range, using the user/start index)."""
    org = current_tenant()
    start, end = period_bounds(org, period_start)
    low, high = period_range_utc(org, start, end)
    user_ids = [m.user_id for m in memberships]
    sheets = {
        s.user_id: s for s in Timesheet.objects.filter(user_id__in=user_ids, period_start=start)
    }
    billable = Q(billable=True)
    # One row per user and currency of their entries' amounts (amounts in
    # different currencies are never added): seconds add up, amounts stay apart.
    totals: dict[Any, dict[str, Any]] = {}
    for row in (
        _entries_model()
        .objects.filter(user_id__in=user_ids, started_at__gte=low, started_at__lt=high)
        .annotate(entry_currency=entry_currency_expression(org))
        .order_by()
        .values("user_id", "entry_currency")
        .annotate(
            total=Sum("duration_seconds"),
            billable_seconds=Sum("duration_seconds", filter=billable),
            billable_amount=Sum("amount", filter=billable),
            billable_count=Count("id", filter=billable),
        )
    ):
        user = totals.setdefault(row["user_id"], {"total": 0, "billable_seconds": 0, "money": {}})
        user["total"] += row["total"] or 0
        user["billable_seconds"] += row["billable_seconds"] or 0
        if row["billable_count"]:
            user["money"][row["entry_currency"]] = row["billable_amount"] or Decimal("0.00")
    for membership in memberships:
        sheet = sheets.get(membership.user_id)
        row = totals.get(membership.user_id, {})
        membership.sheet = sheet
        membership.sheet_id = sheet.pk if sheet else None
        membership.sheet_status = sheet.status if sheet else None
        membership.submitted_at = sheet.submitted_at if sheet else None
        membership.decided_at = sheet.decided_at if sheet else None
        membership.total_seconds = row.get("total") or 0
        membership.billable_seconds = row.get("billable_seconds") or 0
        membership.billable_amounts = currency_totals(row.get("money") or {})
        membership.billable_amount = single_amount(membership.billable_amounts)
    return memberships


def timesheet_export_entries(*, period_start: datetime.date) -> QuerySet[TimeEntry]:
    """Entries of the approved sheets of one period, for payroll/invoicing
    (locked, so they match the sheets' approval snapshots)."""
    return (
        _entries_model()
        .objects.filter(
            timesheet__period_start=period_start, timesheet__status=TimesheetStatus.APPROVED
        )
        .select_related("project__client", "task")
        .order_by("user_id", "started_at", "id")
    )


__all__ = [
    "MISSING",
    "TimesheetDetail",
    "overview_page",
    "timesheet_detail",
    "timesheet_export_entries",
    "timesheet_get_for_member",
    "timesheet_list",
    "timesheet_overview",
]
