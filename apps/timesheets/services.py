"""Writes of timesheets: creation, the state machine and approvals. Who may
decide a sheet is in ``approvers.py``, reminders and auto-submission in
``reminders.py``.

State machine (issue #6)::

    draft ──submit──▶ submitted ──approve──▶ approved ──reopen (admin+)──▶ draft
      ▲                 │  │
      └────withdraw─────┘  └──reject (comment)──▶ rejected ──submit──▶ submitted

Every transition runs in one transaction that first takes
:func:`apps.time_entries.locking.user_time_lock` of the sheet's user — the lock
every time-entry write path holds while it asks
:func:`apps.time_entries.locking.locking_timesheet` whether it may write — and
then locks the sheet row. So an edit racing a submission or approval is
serialised with it: the edit either committed before (and is part of the
approval snapshot, computed in SQL under the lock) or it waits and then sees
the sheet locked. Each transition writes one immutable
:class:`~apps.timesheets.models.TimesheetEvent` (the audit trail) and queues
one realtime event ``timesheet`` for after the commit:

- ``submitted`` / ``withdrawn`` → the sheet's possible approvers;
- ``approved`` / ``rejected`` / ``reopened`` → the sheet's owner;
- ``reminder`` → the owner (period closed, sheet not submitted);
- ``approval_reminder`` → approvers with pending sheets.

Refusals raise :class:`ApplicationError` and write nothing: 409
``invalid_transition`` (wrong state), 409 ``timer_running``, 409
``period_overlaps``, 400 ``comment_required`` / ``reason_required`` /
``period_not_aligned``, 403 ``role_required`` (``require``, naming the
permission), ``self_approval`` / ``not_sheet_approver`` / ``not_sheet_owner``
(:class:`PermissionDeniedError`).
"""

from __future__ import annotations

import datetime
import logging
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, NotRequired, TypedDict

from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.http import Http404
from django.utils import timezone

from apps.common.errors import (
    ApplicationError,
    ConflictError,
    PermissionDeniedError,
    RoleRequiredError,
    field_error,
)
from apps.organizations.constants import MembershipStatus
from apps.organizations.models import Membership, Organization
from apps.organizations.permissions import require
from apps.time_entries.locking import user_time_lock
from apps.time_entries.models import TimeEntry
from apps.time_entries.money import currency_totals, entry_currency_expression, single_amount
from apps.websocket_server.events import send_event_on_commit
from tenants.db import current_tenant

from . import periods
from .approvers import check_may_decide, timesheet_approver_ids
from .constants import TimesheetStatus
from .models import Timesheet, TimesheetEvent

logger = logging.getLogger(__name__)

EVENT_TIMESHEET = "timesheet"


# --- helpers ------------------------------------------------------------------------


def _organization() -> Organization:
    """The organization whose schema this connection is on (never an argument:
    a sheet can then only ever be checked against its own organization)."""
    return current_tenant()


def event_data(
    sheet: Timesheet, *, actor_id: uuid.UUID | None, comment: str = ""
) -> dict[str, Any]:
    """The payload of a ``timesheet`` event about ``sheet`` (``actor_id``
    ``None``: automation)."""
    return {
        "id": sheet.pk,
        "user": sheet.user_id,
        "period_start": sheet.period_start,
        "period_end": sheet.period_end,
        "status": sheet.status,
        "actor": actor_id,
        "comment": comment,
    }


def period_entries_filter(sheet: Timesheet, organization: Organization | None = None) -> Q:
    """Live entries of the sheet's user whose start falls in the period
    (period days are the organization's local days)."""
    low, high = periods.period_range_utc(
        organization or _organization(), sheet.period_start, sheet.period_end
    )
    return Q(
        user_id=sheet.user_id,
        deleted_at__isnull=True,
        started_at__gte=low,
        started_at__lt=high,
    )


def _transition(
    *,
    timesheet: Timesheet,
    allowed_from: Iterable[str],
    to: str,
    actor_id: uuid.UUID | None,
    comment: str = "",
    check: Callable[[Timesheet], None] | None = None,
    apply: Callable[[Timesheet], list[str]] | None = None,
) -> Timesheet:
    """Move ``timesheet`` to ``to`` under the user's time lock and the row lock.

    ``check(sheet)`` runs on the freshly locked row before anything is
    written (it raises to refuse); ``apply(sheet)`` sets extra fields and
    returns their names. The caller's instance is updated in place.
    """
    with transaction.atomic():
        user_time_lock(timesheet.user_id)
        sheet = Timesheet.objects.select_for_update().filter(pk=timesheet.pk).first()
        if sheet is None:
            raise Http404("No such timesheet.")
        if sheet.status not in set(allowed_from):
            raise ConflictError(
                f"A {sheet.status} timesheet cannot become {to}.",
                code="invalid_transition",
                extra={"status": sheet.status},
            )
        if check is not None:
            check(sheet)
        from_status = sheet.status
        fields = ["status", "reminded_at", "updated_at"]
        sheet.status = to
        sheet.reminded_at = None  # reminders are about the current state
        if apply is not None:
            fields += apply(sheet)
        sheet.save(update_fields=fields)
        TimesheetEvent.objects.create(
            timesheet=sheet,
            actor_id=actor_id,
            from_status=from_status,
            to_status=to,
            comment=comment,
        )
    for name in {f.attname for f in Timesheet._meta.concrete_fields}:
        setattr(timesheet, name, getattr(sheet, name))
    return timesheet


def _link_entries(sheet: Timesheet) -> None:
    """Point the period's entries at ``sheet`` (and only those): entries moved
    out of the period while the sheet was a draft lose the link."""
    TimeEntry.all_objects.filter(timesheet=sheet).exclude(period_entries_filter(sheet)).update(
        timesheet=None
    )
    TimeEntry.all_objects.filter(period_entries_filter(sheet)).exclude(timesheet=sheet).update(
        timesheet=sheet
    )


# --- creation -----------------------------------------------------------------------


def timesheet_get_or_create(
    *, user_id: uuid.UUID | str, period_start: datetime.date
) -> tuple[Timesheet, bool]:
    """The sheet of ``user_id`` for the period starting ``period_start``,
    created as a draft when missing: ``(sheet, created)``.

    ``period_start`` must be the first day of one of the organization's
    periods (400 ``period_not_aligned`` otherwise). Concurrent callers get
    the same row (the unique constraint decides, not a check-then-insert).
    """
    start, end = periods.aligned_period(_organization(), period_start)
    existing = Timesheet.objects.filter(user_id=user_id, period_start=start).first()
    if existing is not None:
        return existing, False
    _check_no_overlap(user_id=user_id, start=start, end=end)
    try:
        with transaction.atomic():
            sheet = Timesheet.objects.create(user_id=user_id, period_start=start, period_end=end)
        return sheet, True
    except IntegrityError:  # a concurrent call created this (or an overlapping) sheet
        existing = Timesheet.objects.filter(user_id=user_id, period_start=start).first()
        if existing is not None:
            return existing, False
        _check_no_overlap(user_id=user_id, start=start, end=end)
        raise


def _check_no_overlap(
    *, user_id: uuid.UUID | str, start: datetime.date, end: datetime.date
) -> None:
    """409 ``period_overlaps`` when another sheet of the user covers one of the
    days (left behind by a change of the organization's period kind; the
    database refuses it too: ``timesheets_no_overlapping_periods``)."""
    other = (
        Timesheet.objects.filter(user_id=user_id, period_start__lte=end, period_end__gte=start)
        .order_by("period_start")
        .first()
    )
    if other is not None:
        raise ConflictError(
            f"Your timesheet {other.period_start.isoformat()}..{other.period_end.isoformat()} "
            "already covers part of this period.",
            code="period_overlaps",
            extra={"timesheet": str(other.pk)},
        )


def timesheet_for_day(*, user_id: uuid.UUID | str, day: datetime.date) -> tuple[Timesheet, bool]:
    """The sheet of the period that contains ``day`` (created if missing)."""
    start, _ = periods.period_bounds(_organization(), day)
    return timesheet_get_or_create(user_id=user_id, period_start=start)


# --- transitions --------------------------------------------------------------------


def timesheet_submit(
    *, timesheet: Timesheet, actor: Membership | None = None, comment: str = ""
) -> Timesheet:
    """draft|rejected → submitted, by the owner (403 ``not_sheet_owner``) or
    by automation (``actor`` ``None``).

    Refused with 409 ``timer_running`` while the user has a timer running
    that started before the period's end (its time would belong to the sheet).
    Links the period's entries to the sheet.
    """
    org = _organization()
    actor_id = actor.user_id if actor is not None else None

    def check(sheet: Timesheet) -> None:
        if actor_id is not None and str(actor_id) != str(sheet.user_id):
            raise PermissionDeniedError(
                "Only the owner submits a timesheet.", code="not_sheet_owner"
            )
        _, high = periods.period_range_utc(org, sheet.period_start, sheet.period_end)
        if TimeEntry.objects.filter(
            user_id=sheet.user_id, ended_at__isnull=True, started_at__lt=high
        ).exists():
            raise ConflictError(
                "Stop the running timer before submitting this timesheet.", code="timer_running"
            )

    def apply(sheet: Timesheet) -> list[str]:
        sheet.submitted_at = timezone.now()
        sheet.decided_at = None
        sheet.decided_by_id = None
        _link_entries(sheet)
        return ["submitted_at", "decided_at", "decided_by_id"]

    sheet = _transition(
        timesheet=timesheet,
        allowed_from=(TimesheetStatus.DRAFT, TimesheetStatus.REJECTED),
        to=TimesheetStatus.SUBMITTED,
        actor_id=actor_id,
        comment=comment,
        check=check,
        apply=apply,
    )
    send_event_on_commit(
        type=EVENT_TIMESHEET,
        op="submitted",
        data=event_data(sheet, actor_id=actor_id, comment=comment),
        user_ids=timesheet_approver_ids(user_id=sheet.user_id, organization=org),
    )
    return sheet


def timesheet_withdraw(*, timesheet: Timesheet, actor: Membership, comment: str = "") -> Timesheet:
    """submitted → draft, by the sheet's owner only (403 ``not_sheet_owner``)."""
    actor_id = actor.user_id

    def check(sheet: Timesheet) -> None:
        if str(actor_id) != str(sheet.user_id):
            raise PermissionDeniedError(
                "Only the owner withdraws a timesheet.", code="not_sheet_owner"
            )

    def apply(sheet: Timesheet) -> list[str]:
        sheet.submitted_at = None
        return ["submitted_at"]

    sheet = _transition(
        timesheet=timesheet,
        allowed_from=(TimesheetStatus.SUBMITTED,),
        to=TimesheetStatus.DRAFT,
        actor_id=actor_id,
        comment=comment,
        check=check,
        apply=apply,
    )
    send_event_on_commit(
        type=EVENT_TIMESHEET,
        op="withdrawn",
        data=event_data(sheet, actor_id=actor_id, comment=comment),
        user_ids=timesheet_approver_ids(user_id=sheet.user_id),
    )
    return sheet


def _snapshot(sheet: Timesheet) -> dict[str, Any]:
    """Approved totals, aggregated by PostgreSQL over the period's entries
    (read under the user's time lock, so no entry write can interleave).

    Amounts are per currency (an entry's amount is in its project's currency,
    apps/time_entries/money.py), never added across currencies:
    ``approved_billable_amounts`` lists them; ``approved_billable_amount``
    keeps the single amount when there is one currency (0 with none) and is
    ``None`` when several are mixed."""
    billable = Q(billable=True)
    entries = TimeEntry.objects.filter(period_entries_filter(sheet))
    totals = entries.aggregate(
        total=Sum("duration_seconds"),
        billable_seconds=Sum("duration_seconds", filter=billable),
    )
    per_currency = (
        entries.filter(billable)
        .annotate(entry_currency=entry_currency_expression(_organization()))
        .order_by()
        .values("entry_currency")
        .annotate(amount=Sum("amount"))
    )
    amounts = currency_totals(
        {row["entry_currency"]: row["amount"] or Decimal(0) for row in per_currency}
    )
    single = single_amount(amounts)
    return {
        "approved_total_seconds": totals["total"] or 0,
        "approved_billable_seconds": totals["billable_seconds"] or 0,
        "approved_billable_amount": Decimal(single) if single is not None else None,
        "approved_billable_amounts": amounts,
    }


def timesheet_approve(*, timesheet: Timesheet, actor: Membership, comment: str = "") -> Timesheet:
    """submitted → approved, snapshotting the totals (see module docs)."""

    def check(sheet: Timesheet) -> None:
        check_may_decide(sheet=sheet, actor=actor)

    def apply(sheet: Timesheet) -> list[str]:
        _link_entries(sheet)
        for name, value in _snapshot(sheet).items():
            setattr(sheet, name, value)
        sheet.decided_at = timezone.now()
        sheet.decided_by_id = actor.user_id
        return [
            "approved_total_seconds",
            "approved_billable_seconds",
            "approved_billable_amount",
            "approved_billable_amounts",
            "decided_at",
            "decided_by_id",
        ]

    sheet = _transition(
        timesheet=timesheet,
        allowed_from=(TimesheetStatus.SUBMITTED,),
        to=TimesheetStatus.APPROVED,
        actor_id=actor.user_id,
        comment=comment,
        check=check,
        apply=apply,
    )
    _notify_owner(sheet, op="approved", actor_id=actor.user_id, comment=comment)
    return sheet


def timesheet_reject(*, timesheet: Timesheet, actor: Membership, comment: str) -> Timesheet:
    """submitted → rejected; the comment (why) is required (400 ``comment_required``)."""
    comment = (comment or "").strip()
    if not comment:
        raise field_error("comment", "Say why the timesheet is rejected.", code="comment_required")

    def check(sheet: Timesheet) -> None:
        check_may_decide(sheet=sheet, actor=actor)

    def apply(sheet: Timesheet) -> list[str]:
        sheet.decided_at = timezone.now()
        sheet.decided_by_id = actor.user_id
        return ["decided_at", "decided_by_id"]

    sheet = _transition(
        timesheet=timesheet,
        allowed_from=(TimesheetStatus.SUBMITTED,),
        to=TimesheetStatus.REJECTED,
        actor_id=actor.user_id,
        comment=comment,
        check=check,
        apply=apply,
    )
    _notify_owner(sheet, op="rejected", actor_id=actor.user_id, comment=comment)
    return sheet


def timesheet_reopen(*, timesheet: Timesheet, actor: Membership, reason: str) -> Timesheet:
    """approved → draft, by ``timesheets.reopen`` (admin+, 403
    ``role_required``) with a reason (400 ``reason_required``); the snapshot
    is cleared and the entries become editable again."""
    if actor.organization_id != _organization().pk or actor.status != MembershipStatus.ACTIVE:
        raise RoleRequiredError("timesheets.reopen")
    require(actor, "timesheets.reopen")
    reason = (reason or "").strip()
    if not reason:
        raise field_error("reason", "Say why the timesheet is reopened.", code="reason_required")

    def apply(sheet: Timesheet) -> list[str]:
        sheet.approved_total_seconds = None
        sheet.approved_billable_seconds = None
        sheet.approved_billable_amount = None
        sheet.approved_billable_amounts = None
        sheet.submitted_at = None
        sheet.decided_at = None
        sheet.decided_by_id = None
        return [
            "approved_total_seconds",
            "approved_billable_seconds",
            "approved_billable_amount",
            "approved_billable_amounts",
            "submitted_at",
            "decided_at",
            "decided_by_id",
        ]

    sheet = _transition(
        timesheet=timesheet,
        allowed_from=(TimesheetStatus.APPROVED,),
        to=TimesheetStatus.DRAFT,
        actor_id=actor.user_id,
        comment=reason,
        apply=apply,
    )
    _notify_owner(sheet, op="reopened", actor_id=actor.user_id, comment=reason)
    return sheet


def _notify_owner(sheet: Timesheet, *, op: str, actor_id: uuid.UUID, comment: str) -> None:
    send_event_on_commit(
        type=EVENT_TIMESHEET,
        op=op,
        data=event_data(sheet, actor_id=actor_id, comment=comment),
        user_ids=[sheet.user_id],
    )


class BulkResult(TypedDict):
    """One sheet's outcome in a bulk approval: ``status`` when approved,
    ``code`` and ``message`` when refused."""

    id: str
    ok: bool
    status: NotRequired[str]
    code: NotRequired[str]
    message: NotRequired[str]


def timesheet_bulk_approve(
    *, timesheet_ids: Iterable[uuid.UUID | str], actor: Membership, comment: str = ""
) -> list[BulkResult]:
    """Approve each sheet on its own (one transaction each): one refusal does
    not undo or block the others. Returns ``{id, ok, status?, code?, message?}``
    per id, in input order; unknown ids (other tenants' included) → ``not_found``."""
    ids = list(dict.fromkeys(str(i) for i in timesheet_ids))
    sheets = {str(s.pk): s for s in Timesheet.objects.filter(pk__in=ids)}
    results: list[BulkResult] = []
    for sheet_id in ids:
        sheet = sheets.get(sheet_id)
        if sheet is None:
            results.append(
                {"id": sheet_id, "ok": False, "code": "not_found", "message": "No such timesheet."}
            )
            continue
        try:
            timesheet_approve(timesheet=sheet, actor=actor, comment=comment)
        except ApplicationError as exc:
            results.append({"id": sheet_id, "ok": False, "code": exc.code, "message": exc.message})
        except Http404:
            results.append(
                {"id": sheet_id, "ok": False, "code": "not_found", "message": "No such timesheet."}
            )
        else:
            results.append({"id": sheet_id, "ok": True, "status": sheet.status})
    return results
