"""Writes of timesheets: creation, the state machine, approvals and reminders.

State machine (issue #6)::

    draft ──submit──▶ submitted ──approve──▶ approved ──reopen (admin+)──▶ draft
      ▲                 │  │
      └────withdraw─────┘  └──reject (comment)──▶ rejected ──submit──▶ submitted

Every transition runs in one transaction that first takes
:func:`apps.time_entries.locks.user_time_lock` of the sheet's user — the lock
every time-entry write path holds while it asks
:func:`apps.timesheets.selectors.locking_timesheet` whether it may write — and
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
``invalid_transition`` (wrong state), 409 ``timer_running``, 400
``comment_required`` / ``reason_required`` / ``period_not_aligned``, 403
``self_approval`` / ``not_sheet_approver`` / ``role_required``.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.http import Http404
from django.utils import timezone

from apps.common.errors import ApplicationError, ConflictError, field_error
from apps.organizations.constants import MembershipStatus, Role
from apps.organizations.models import Membership
from apps.organizations.permissions import role_has
from apps.projects.constants import ProjectRole
from apps.projects.models import ProjectMember
from apps.time_entries.locks import user_time_lock
from apps.time_entries.money import currency_totals, entry_currency_expression, single_amount
from apps.websocket_server.events import send_event_on_commit
from tenants.db import current_tenant

from . import periods
from .constants import TimesheetStatus
from .models import Timesheet, TimesheetEvent

logger = logging.getLogger(__name__)

EVENT_TIMESHEET = "timesheet"

#: Roles that approve (``timesheets.approve`` in the permission table).
APPROVER_ROLES = tuple(role for role in Role if role_has(role, "timesheets.approve"))


# --- helpers ------------------------------------------------------------------------


def _organization() -> Any:
    """The organization whose schema this connection is on (never an argument:
    a sheet can then only ever be checked against its own organization)."""
    return current_tenant()


def _forbidden(message: str, *, code: str) -> ApplicationError:
    return ApplicationError(message, code=code, status_code=403)


def _event_data(sheet: Timesheet, *, actor_id: Any, comment: str = "") -> dict[str, Any]:
    return {
        "id": sheet.pk,
        "user": sheet.user_id,
        "period_start": sheet.period_start,
        "period_end": sheet.period_end,
        "status": sheet.status,
        "actor": actor_id,
        "comment": comment,
    }


def period_entries_filter(sheet: Timesheet, organization: Any | None = None) -> Q:
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


def _entries_model() -> Any:
    from apps.time_entries.models import TimeEntry

    return TimeEntry


def _approver_memberships(org: Any) -> list[tuple[Any, str]]:
    """``(user_id, role)`` of the organization's active manager+ members."""
    return list(
        Membership.objects.filter(
            organization_id=org.pk, status=MembershipStatus.ACTIVE, role__in=APPROVER_ROLES
        ).values_list("user_id", "role")
    )


def _project_leads(user_ids: Iterable[Any]) -> dict[str, set[Any]]:
    """The leads of each user's live projects, keyed by ``str(user_id)``, in
    one query for any number of users (a user in no project has no key).

    The join is the one ``check_may_decide`` asks: a lead of a project the
    sheet's user is a member of."""
    leads: dict[str, set[Any]] = {}
    rows = ProjectMember.objects.filter(
        role=ProjectRole.LEAD,
        project__deleted_at__isnull=True,
        project__members__user_id__in=list(user_ids),
    ).values_list("project__members__user_id", "user_id")
    for member_id, lead_id in rows:
        leads.setdefault(str(member_id), set()).add(lead_id)
    return leads


def timesheet_approver_ids(
    *,
    user_id: Any,
    organization: Any | None = None,
    memberships: list[tuple[Any, str]] | None = None,
    project_leads: dict[str, set[Any]] | None = None,
) -> list[str]:
    """Who may decide ``user_id``'s sheets: active manager+ members, minus the
    owner of the sheet (unless owners may self-approve and they are an owner),
    and — when the organization limits approvers — managers only for members
    of projects they lead (admins and owners are never limited).

    ``memberships`` (from ``_approver_memberships``) and ``project_leads``
    (from ``_project_leads``, covering ``user_id``) let a caller asking for
    many users load the approvers and the project leads once."""
    org = organization or _organization()
    if memberships is None:
        memberships = _approver_memberships(org)
    leads: set[Any] | None = None
    if org.approvers_limited_to_managed_projects:
        if project_leads is None:
            project_leads = _project_leads([user_id])
        leads = project_leads.get(str(user_id), set())
    result = []
    for member_id, role in memberships:
        if str(member_id) == str(user_id) and not (org.allow_self_approval and role == Role.OWNER):
            continue
        if leads is not None and role == Role.MANAGER and member_id not in leads:
            continue
        result.append(str(member_id))
    return sorted(result)


def check_may_decide(*, sheet: Timesheet, approver_membership: Membership) -> None:
    """Refuse (403) an approver who may not approve or reject ``sheet``."""
    org = approver_membership.organization
    if (
        approver_membership.organization_id != _organization().pk
        or approver_membership.status != MembershipStatus.ACTIVE
        or not role_has(approver_membership.role, "timesheets.approve")
    ):
        raise _forbidden("Only managers and above approve timesheets.", code="role_required")
    if str(sheet.user_id) == str(approver_membership.user_id):
        if not (org.allow_self_approval and approver_membership.role == Role.OWNER):
            raise _forbidden("You cannot decide your own timesheet.", code="self_approval")
        return
    if org.approvers_limited_to_managed_projects and approver_membership.role == Role.MANAGER:
        manages_user = ProjectMember.objects.filter(
            role=ProjectRole.LEAD,
            user_id=approver_membership.user_id,
            project__deleted_at__isnull=True,
            project__members__user_id=sheet.user_id,
        ).exists()
        if not manages_user:
            raise _forbidden(
                "You approve only members of projects you manage.", code="not_sheet_approver"
            )


def _transition(
    *,
    timesheet: Timesheet,
    allowed_from: Iterable[str],
    to: str,
    actor_id: Any,
    comment: str = "",
    check: Any = None,
    apply: Any = None,
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
    TimeEntry = _entries_model()
    TimeEntry.all_objects.filter(timesheet=sheet).exclude(period_entries_filter(sheet)).update(
        timesheet=None
    )
    TimeEntry.all_objects.filter(period_entries_filter(sheet)).exclude(timesheet=sheet).update(
        timesheet=sheet
    )


# --- creation -----------------------------------------------------------------------


def timesheet_get_or_create(*, user_id: Any, period_start: datetime.date) -> tuple[Timesheet, bool]:
    """The sheet of ``user_id`` for the period starting ``period_start``,
    created as a draft when missing: ``(sheet, created)``.

    ``period_start`` must be the first day of one of the organization's
    periods (400 ``period_not_aligned`` otherwise). Concurrent callers get
    the same row (the unique constraint decides, not a check-then-insert).
    """
    org = _organization()
    start, end = periods.period_bounds(org, period_start)
    if start != period_start:
        raise field_error(
            "period_start",
            f"Periods of this organization start on {start.isoformat()}, "
            f"not {period_start.isoformat()}.",
            code="period_not_aligned",
        )
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


def _check_no_overlap(*, user_id: Any, start: datetime.date, end: datetime.date) -> None:
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


def timesheet_for_day(*, user_id: Any, day: datetime.date) -> tuple[Timesheet, bool]:
    """The sheet of the period that contains ``day`` (created if missing)."""
    start, _ = periods.period_bounds(_organization(), day)
    return timesheet_get_or_create(user_id=user_id, period_start=start)


# --- transitions --------------------------------------------------------------------


def timesheet_submit(*, timesheet: Timesheet, actor_id: Any = None, comment: str = "") -> Timesheet:
    """draft|rejected → submitted, by the owner (403 ``not_sheet_owner``) or
    by automation (``actor_id`` ``None``).

    Refused with 409 ``timer_running`` while the user has a timer running
    that started before the period's end (its time would belong to the sheet).
    Links the period's entries to the sheet.
    """
    org = _organization()
    TimeEntry = _entries_model()

    def check(sheet: Timesheet) -> None:
        if actor_id is not None and str(actor_id) != str(sheet.user_id):
            raise _forbidden("Only the owner submits a timesheet.", code="not_sheet_owner")
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
        data=_event_data(sheet, actor_id=actor_id, comment=comment),
        user_ids=timesheet_approver_ids(user_id=sheet.user_id, organization=org),
    )
    return sheet


def timesheet_withdraw(*, timesheet: Timesheet, actor_id: Any, comment: str = "") -> Timesheet:
    """submitted → draft, by the sheet's owner only (403 ``not_sheet_owner``)."""

    def check(sheet: Timesheet) -> None:
        if str(actor_id) != str(sheet.user_id):
            raise _forbidden("Only the owner withdraws a timesheet.", code="not_sheet_owner")

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
        data=_event_data(sheet, actor_id=actor_id, comment=comment),
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
    TimeEntry = _entries_model()
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


def timesheet_approve(
    *, timesheet: Timesheet, approver_membership: Membership, comment: str = ""
) -> Timesheet:
    """submitted → approved, snapshotting the totals (see module docs)."""

    def check(sheet: Timesheet) -> None:
        check_may_decide(sheet=sheet, approver_membership=approver_membership)

    def apply(sheet: Timesheet) -> list[str]:
        _link_entries(sheet)
        for name, value in _snapshot(sheet).items():
            setattr(sheet, name, value)
        sheet.decided_at = timezone.now()
        sheet.decided_by_id = approver_membership.user_id
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
        actor_id=approver_membership.user_id,
        comment=comment,
        check=check,
        apply=apply,
    )
    _notify_owner(sheet, op="approved", actor_id=approver_membership.user_id, comment=comment)
    return sheet


def timesheet_reject(
    *, timesheet: Timesheet, approver_membership: Membership, comment: str
) -> Timesheet:
    """submitted → rejected; the comment (why) is required (400 ``comment_required``)."""
    comment = (comment or "").strip()
    if not comment:
        raise field_error("comment", "Say why the timesheet is rejected.", code="comment_required")

    def check(sheet: Timesheet) -> None:
        check_may_decide(sheet=sheet, approver_membership=approver_membership)

    def apply(sheet: Timesheet) -> list[str]:
        sheet.decided_at = timezone.now()
        sheet.decided_by_id = approver_membership.user_id
        return ["decided_at", "decided_by_id"]

    sheet = _transition(
        timesheet=timesheet,
        allowed_from=(TimesheetStatus.SUBMITTED,),
        to=TimesheetStatus.REJECTED,
        actor_id=approver_membership.user_id,
        comment=comment,
        check=check,
        apply=apply,
    )
    _notify_owner(sheet, op="rejected", actor_id=approver_membership.user_id, comment=comment)
    return sheet


def timesheet_reopen(
    *, timesheet: Timesheet, approver_membership: Membership, reason: str
) -> Timesheet:
    """approved → draft, by admin+ (``approver_membership``) with a reason (400
    ``reason_required``); the snapshot is cleared and the entries become
    editable again."""
    actor_membership = approver_membership
    if (
        actor_membership.organization_id != _organization().pk
        or actor_membership.status != MembershipStatus.ACTIVE
        or not role_has(actor_membership.role, "timesheets.reopen")
    ):
        raise _forbidden("Only admins and owners reopen approved timesheets.", code="role_required")
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
        actor_id=actor_membership.user_id,
        comment=reason,
        apply=apply,
    )
    _notify_owner(sheet, op="reopened", actor_id=actor_membership.user_id, comment=reason)
    return sheet


def _notify_owner(sheet: Timesheet, *, op: str, actor_id: Any, comment: str) -> None:
    send_event_on_commit(
        type=EVENT_TIMESHEET,
        op=op,
        data=_event_data(sheet, actor_id=actor_id, comment=comment),
        user_ids=[sheet.user_id],
    )


def timesheet_bulk_approve(
    *, timesheet_ids: Iterable[Any], approver_membership: Membership, comment: str = ""
) -> list[dict[str, Any]]:
    """Approve each sheet on its own (one transaction each): one refusal does
    not undo or block the others. Returns ``{id, ok, status?, code?, message?}``
    per id, in input order; unknown ids (other tenants' included) → ``not_found``."""
    ids = list(dict.fromkeys(str(i) for i in timesheet_ids))
    sheets = {str(s.pk): s for s in Timesheet.objects.filter(pk__in=ids)}
    results: list[dict[str, Any]] = []
    for sheet_id in ids:
        sheet = sheets.get(sheet_id)
        if sheet is None:
            results.append(
                {"id": sheet_id, "ok": False, "code": "not_found", "message": "No such timesheet."}
            )
            continue
        try:
            timesheet_approve(
                timesheet=sheet, approver_membership=approver_membership, comment=comment
            )
        except ApplicationError as exc:
            results.append({"id": sheet_id, "ok": False, "code": exc.code, "message": exc.message})
        except Http404:
            results.append(
                {"id": sheet_id, "ok": False, "code": "not_found", "message": "No such timesheet."}
            )
        else:
            results.append({"id": sheet_id, "ok": True, "status": sheet.status})
    return results


# --- reminders and automation -------------------------------------------------------


def _closed_period(org: Any, now: datetime.datetime) -> tuple[datetime.date, datetime.date]:
    """The most recent period that has fully ended in the organization's timezone."""
    today = periods.local_date(org, now)
    current_start, _ = periods.period_bounds(org, today)
    return periods.period_bounds(org, current_start - datetime.timedelta(days=1))


def _email(user: Any, subject: str, body: str) -> None:
    """Send after commit: a rolled-back run must not have mailed anyone."""
    address = getattr(user, "email", "")
    if not address:
        return
    transaction.on_commit(
        lambda: send_mail(
            f"[NovaTime] {subject}",
            body,
            settings.DEFAULT_FROM_EMAIL,
            [address],
            fail_silently=True,
        )
    )


def timesheet_reminders_run(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """Reminders and auto-submission for the just-closed period of the current
    organization (called hourly by the beat job, in the tenant's schema).

    Idempotent: a sheet's ``reminded_at`` records that the reminder about its
    current state went out (transitions clear it), so reruns send nothing new.

    - members (``time.track``) whose sheet is missing, draft or rejected get
      one reminder (email + event ``reminder``); sheets are created for that;
    - with ``auto_submit_timesheets``, draft sheets (or missing ones with
      time) are submitted by automation instead, unless a timer still runs
      (then the member is reminded);
    - approvers get one digest per run listing submitted sheets of closed
      periods not yet reminded about (event ``approval_reminder``).
    """
    org = _organization()
    now = now or timezone.now()
    start, end = _closed_period(org, now)
    stats = {"reminded": 0, "auto_submitted": 0, "approver_reminders": 0}
    TimeEntry = _entries_model()

    members = list(
        Membership.objects.filter(organization_id=org.pk, status=MembershipStatus.ACTIVE)
        .select_related("user")
        .order_by("joined_at")
    )
    users = {str(m.user_id): m.user for m in members}
    trackers = [
        m
        for m in members
        if role_has(m.role, "time.track") and periods.local_date(org, m.joined_at) <= end
    ]
    low, high = periods.period_range_utc(org, start, end)
    with_time = {
        str(uid)
        for uid in TimeEntry.objects.filter(started_at__gte=low, started_at__lt=high)
        .values_list("user_id", flat=True)
        .distinct()
    }
    sheets = {
        str(s.user_id): s
        for s in Timesheet.objects.filter(
            period_start=start, user_id__in=[m.user_id for m in trackers]
        )
    }
    for member in trackers:
        uid = str(member.user_id)
        sheet = sheets.get(uid)
        if sheet is not None and sheet.status not in (
            TimesheetStatus.DRAFT,
            TimesheetStatus.REJECTED,
        ):
            continue
        if sheet is not None and sheet.reminded_at is not None:
            continue
        if (
            org.auto_submit_timesheets
            and (sheet is not None or uid in with_time)
            and (sheet is None or sheet.status == TimesheetStatus.DRAFT)
        ):
            if sheet is None:
                sheet = _sheet_or_none(member.user_id, start)
                if sheet is None:
                    continue
            try:
                timesheet_submit(timesheet=sheet, actor_id=None, comment="Submitted at period end.")
            except ApplicationError as exc:
                logger.info("auto-submit of %s skipped: %s", sheet.pk, exc.code)
            else:
                stats["auto_submitted"] += 1
                continue
        if sheet is None:
            sheet = _sheet_or_none(member.user_id, start)
            if sheet is None:
                continue
        with transaction.atomic():
            claimed = Timesheet.objects.filter(
                pk=sheet.pk,
                reminded_at__isnull=True,
                status__in=(TimesheetStatus.DRAFT, TimesheetStatus.REJECTED),
            ).update(reminded_at=now)
            if not claimed:  # a concurrent run (or a submission) got there first
                continue
            sheet.reminded_at = now
            send_event_on_commit(
                type=EVENT_TIMESHEET,
                op="reminder",
                data=_event_data(sheet, actor_id=None),
                user_ids=[sheet.user_id],
            )
            _email(
                users[uid],
                f"Your timesheet for {start.isoformat()} to {end.isoformat()} is not submitted",
                f"Please review and submit your timesheet for {start.isoformat()} to "
                f"{end.isoformat()} in {org.name}.",
            )
        stats["reminded"] += 1

    stats["approver_reminders"] = _remind_approvers(org=org, now=now, users=users)
    return stats


def _sheet_or_none(user_id: Any, start: datetime.date) -> Timesheet | None:
    """The sheet to remind about, or ``None`` when an older sheet of another
    period kind covers these days (that sheet is reminded about on its own)."""
    try:
        return timesheet_get_or_create(user_id=user_id, period_start=start)[0]
    except ConflictError as exc:
        logger.info("no reminder for %s from %s: %s", user_id, start, exc.code)
        return None


def _remind_approvers(*, org: Any, now: datetime.datetime, users: dict[str, Any]) -> int:
    """One digest per approver about submitted sheets of closed periods that
    nobody was reminded about yet; the sheets are then marked reminded."""
    today = periods.local_date(org, now)
    with transaction.atomic():
        pending = list(
            Timesheet.objects.select_for_update(skip_locked=True).filter(
                status=TimesheetStatus.SUBMITTED, period_end__lt=today, reminded_at__isnull=True
            )
        )
        if not pending:
            return 0
        per_approver: dict[str, list[Timesheet]] = {}
        approvers = _approver_memberships(org)  # once: no query per sheet
        leads = (  # likewise: one query for all pending sheets' users
            _project_leads({s.user_id for s in pending})
            if org.approvers_limited_to_managed_projects
            else None
        )
        for sheet in pending:
            for approver in timesheet_approver_ids(
                user_id=sheet.user_id,
                organization=org,
                memberships=approvers,
                project_leads=leads,
            ):
                per_approver.setdefault(approver, []).append(sheet)
        Timesheet.objects.filter(pk__in=[s.pk for s in pending]).update(reminded_at=now)
        for approver, sheets in per_approver.items():
            send_event_on_commit(
                type=EVENT_TIMESHEET,
                op="approval_reminder",
                data={"count": len(sheets), "ids": [s.pk for s in sheets]},
                user_ids=[approver],
            )
            if approver in users:
                _email(
                    users[approver],
                    f"{len(sheets)} timesheet(s) wait for your approval",
                    f"{len(sheets)} submitted timesheet(s) in {org.name} wait for your decision.",
                )
        return len(per_approver)
