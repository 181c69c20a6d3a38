"""Timesheet reminders and auto-submission at period end (the hourly beat job,
``timesheets.reminders_for_tenant``), in the organization's schema.

Events (``timesheet``): ``reminder`` to a member whose sheet of the closed
period is missing, draft or rejected; ``approval_reminder`` to approvers with
pending sheets. Emails go out after commit.
"""

from __future__ import annotations

import datetime
import logging
import uuid

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from apps.common.errors import ApplicationError, ConflictError
from apps.iam.models import User
from apps.organizations.constants import MembershipStatus
from apps.organizations.models import Membership, Organization
from apps.organizations.permissions import may
from apps.time_entries.models import TimeEntry
from apps.websocket_server.events import send_event_on_commit
from tenants.db import current_tenant

from . import periods
from .approvers import approver_memberships, project_leads_of, timesheet_approver_ids
from .constants import TimesheetStatus
from .models import Timesheet
from .services import EVENT_TIMESHEET, event_data, timesheet_get_or_create, timesheet_submit

logger = logging.getLogger(__name__)


def _closed_period(
    org: Organization, now: datetime.datetime
) -> tuple[datetime.date, datetime.date]:
    """The most recent period that has fully ended in the organization's timezone."""
    today = periods.local_date(org, now)
    current_start, _ = periods.period_bounds(org, today)
    return periods.period_bounds(org, current_start - datetime.timedelta(days=1))


def _email(user: User, subject: str, body: str) -> None:
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
    org = current_tenant()
    now = now or timezone.now()
    start, end = _closed_period(org, now)
    stats = {"reminded": 0, "auto_submitted": 0, "approver_reminders": 0}

    members = list(
        Membership.objects.filter(organization_id=org.pk, status=MembershipStatus.ACTIVE)
        .select_related("user")
        .order_by("joined_at")
    )
    users = {str(m.user_id): m.user for m in members}
    trackers = [
        m for m in members if may(m, "time.track") and periods.local_date(org, m.joined_at) <= end
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
                timesheet_submit(timesheet=sheet, actor=None, comment="Submitted at period end.")
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
                data=event_data(sheet, actor_id=None),
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


def _sheet_or_none(user_id: uuid.UUID, start: datetime.date) -> Timesheet | None:
    """The sheet to remind about, or ``None`` when an older sheet of another
    period kind covers these days (that sheet is reminded about on its own)."""
    try:
        return timesheet_get_or_create(user_id=user_id, period_start=start)[0]
    except ConflictError as exc:
        logger.info("no reminder for %s from %s: %s", user_id, start, exc.code)
        return None


def _remind_approvers(*, org: Organization, now: datetime.datetime, users: dict[str, User]) -> int:
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
        approvers = approver_memberships(org)  # once: no query per sheet
        leads = (  # likewise: one query for all pending sheets' users
            project_leads_of({s.user_id for s in pending})
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
