"""Automation rules: parameter validation per kind, the runners, the run log.

Beat runs ``ai_services.automation_all_tenants`` every 15 minutes; it sends
one ``ai_services.automation_tenant`` per serving organization, which runs
that organization's enabled rules here. Every runner is idempotent (running
it twice changes nothing the second time) and acts at an *exact* instant
derived from the rule (a timer stopped "at 18:00" ends at 18:00 local time,
however late the sweep runs). Each rule runs in its own transaction: a
failing rule rolls back alone and is logged as a failed :class:`RuleRun`.
"""

from __future__ import annotations

import datetime
import logging
import re
import zoneinfo
from collections import defaultdict
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, F, Func, OuterRef, Value
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.common.errors import ApplicationError
from apps.time_entries.locks import user_time_lock
from apps.time_entries.models import TimeEntry
from apps.time_entries.services import timer_stop
from apps.timesheets.constants import LOCKED_STATUSES, TimesheetStatus
from apps.timesheets.models import Timesheet
from apps.timesheets.services import timesheet_submit
from apps.websocket_server.events import send_event_on_commit
from tenants.db import current_tenant

from .constants import RuleKind, RunStatus
from .models import AutomationRule, MissingDayReminder, RuleRun
from .selectors import time_tracking_members

logger = logging.getLogger(__name__)

#: Most objects one run of one rule touches (the next run continues).
RUN_BATCH = 500
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


# --- parameters ------------------------------------------------------------------------


def _int(params: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError({"params": [f"{name}: an integer from {low} to {high}."]})
    return value


def _text(params: dict[str, Any], name: str, max_length: int) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > max_length:
        raise ValidationError({"params": [f"{name}: a text of 1 to {max_length} characters."]})
    return value.strip()


def clean_params(kind: str, params: Any) -> dict[str, Any]:
    """The validated, normalised params of a rule of ``kind`` (400 on bad input,
    unknown keys included: a typo must not silently become a default)."""
    if not isinstance(params, dict):
        raise ValidationError({"params": ["An object is required."]})
    keys_by_kind: dict[str, set[str]] = {
        RuleKind.AUTO_STOP_TIMERS_AT: {"time"},
        RuleKind.AUTO_SUBMIT_TIMESHEETS: {"grace_days"},
        RuleKind.REMIND_MISSING_DAYS: {"lookback_days", "weekdays"},
        RuleKind.AUTO_TAG_BY_KEYWORD: {"keyword", "tag", "lookback_days"},
    }
    allowed = keys_by_kind.get(kind)
    if allowed is None:
        raise ValidationError({"kind": [f"Unknown rule kind {kind!r}."]})
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValidationError({"params": [f"Unknown parameter(s): {', '.join(unknown)}."]})
    if kind == RuleKind.AUTO_STOP_TIMERS_AT:
        value = params.get("time")
        if not isinstance(value, str) or not _HHMM.match(value):
            raise ValidationError({"params": ["time: a local time HH:MM (24-hour)."]})
        return {"time": value}
    if kind == RuleKind.AUTO_SUBMIT_TIMESHEETS:
        return {"grace_days": _int(params, "grace_days", 0, 0, 7)}
    if kind == RuleKind.REMIND_MISSING_DAYS:
        weekdays = params.get("weekdays", [0, 1, 2, 3, 4])
        if (
            not isinstance(weekdays, list)
            or not weekdays
            or any(
                isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 6 for d in weekdays
            )
        ):
            raise ValidationError({"params": ["weekdays: a list of 0 (Monday) .. 6 (Sunday)."]})
        return {
            "lookback_days": _int(params, "lookback_days", 1, 1, 14),
            "weekdays": sorted(set(weekdays)),
        }
    tag = _text(params, "tag", 60).lower()
    if tag.startswith("#"):
        tag = tag[1:]
    if not tag or any(c.isspace() for c in tag):
        raise ValidationError({"params": ["tag: one word (no spaces)."]})
    return {
        "keyword": _text(params, "keyword", 100),
        "tag": tag,
        "lookback_days": _int(params, "lookback_days", 7, 1, 90),
    }


# --- runners ---------------------------------------------------------------------------


def _org_tz(organization: Any) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(organization.timezone)


def _stop_timer(entry_id: Any, user_id: Any, at: datetime.datetime) -> bool:
    """Stop ``entry_id`` at ``at`` if it is still the user's running timer
    (checked under the user's time lock, which ``timer_stop`` takes again:
    advisory locks are re-entrant within a transaction)."""
    with transaction.atomic():
        user_time_lock(user_id)
        entry = TimeEntry.objects.filter(pk=entry_id, ended_at__isnull=True).first()
        if entry is None or entry.started_at > at:
            return False
        timer_stop(user_id=user_id, at=at)
        return True


def run_auto_stop(params: dict[str, Any], *, now: datetime.datetime) -> tuple[int, dict]:
    """Stop each running timer at the first ``time`` (local) after it started,
    once that moment has passed."""
    organization = current_tenant()
    tz = _org_tz(organization)
    hour, minute = (int(x) for x in params["time"].split(":"))
    stopped: list[str] = []
    skipped: list[str] = []
    running = TimeEntry.objects.filter(ended_at__isnull=True).values_list(
        "pk", "user_id", "started_at"
    )[:RUN_BATCH]
    for entry_id, user_id, started_at in running:
        local_start = started_at.astimezone(tz)
        cutoff = datetime.datetime.combine(
            local_start.date(), datetime.time(hour, minute), tzinfo=tz
        )
        if cutoff <= local_start:
            cutoff = datetime.datetime.combine(
                local_start.date() + datetime.timedelta(days=1),
                datetime.time(hour, minute),
                tzinfo=tz,
            )
        if cutoff > now:
            continue
        try:
            done = _stop_timer(entry_id, user_id, cutoff)
        except ApplicationError as exc:
            done = False
            logger.info("ai.auto_stop_refused", extra={"entry": str(entry_id), "code": exc.code})
        (stopped if done else skipped).append(str(entry_id))
    return len(stopped), {"stopped": stopped, "skipped": skipped}


def _submit(timesheet_id: Any, comment: str) -> bool:
    with transaction.atomic():
        sheet = Timesheet.objects.filter(pk=timesheet_id, status=TimesheetStatus.DRAFT).first()
        if sheet is None:
            return False
        timesheet_submit(timesheet=sheet, actor_id=None, comment=comment)
        return True


def run_auto_submit(params: dict[str, Any], *, now: datetime.datetime) -> tuple[int, dict]:
    """Submit draft sheets whose period ended more than ``grace_days`` ago
    (in the organization's calendar)."""
    today = now.astimezone(_org_tz(current_tenant())).date()
    last_end = today - datetime.timedelta(days=params["grace_days"] + 1)
    due = Timesheet.objects.filter(
        status=TimesheetStatus.DRAFT, period_end__lte=last_end
    ).values_list("pk", flat=True)[:RUN_BATCH]
    submitted: list[str] = []
    refused: list[str] = []
    for sheet_id in due:
        try:
            done = _submit(sheet_id, "Submitted automatically at period end.")
        except ApplicationError as exc:
            done = False
            logger.info("ai.auto_submit_refused", extra={"sheet": str(sheet_id), "code": exc.code})
        (submitted if done else refused).append(str(sheet_id))
    return len(submitted), {"submitted": submitted, "refused": refused}


def run_remind_missing_days(params: dict[str, Any], *, now: datetime.datetime) -> tuple[int, dict]:
    """Remind each time-tracking member once per past working day without
    any entry (a ``reminder`` event to that member)."""
    organization = current_tenant()
    tz = _org_tz(organization)
    today = now.astimezone(tz).date()
    days = [
        today - datetime.timedelta(days=n)
        for n in range(1, params["lookback_days"] + 1)
        if (today - datetime.timedelta(days=n)).weekday() in params["weekdays"]
    ]
    if not days:
        return 0, {"reminded": {}}
    members = [
        (user_id, joined_at.astimezone(tz).date())
        for user_id, joined_at in time_tracking_members().values_list("user_id", "joined_at")[
            :RUN_BATCH
        ]
    ]
    low = datetime.datetime.combine(min(days), datetime.time.min, tzinfo=tz)
    high = datetime.datetime.combine(
        max(days) + datetime.timedelta(days=1), datetime.time.min, tzinfo=tz
    )
    tracked = set(
        TimeEntry.objects.filter(
            user_id__in=[u for u, _ in members], started_at__gte=low, started_at__lt=high
        )
        .annotate(day=TruncDate("started_at", tzinfo=tz))
        .values_list("user_id", "day")
        .distinct()
    )
    already = set(
        MissingDayReminder.objects.filter(
            user_id__in=[u for u, _ in members], day__in=days
        ).values_list("user_id", "day")
    )
    missing: dict[Any, list[datetime.date]] = defaultdict(list)
    for user_id, joined in members:
        for day in days:
            if day >= joined and (user_id, day) not in tracked and (user_id, day) not in already:
                missing[user_id].append(day)
    MissingDayReminder.objects.bulk_create(
        [MissingDayReminder(user_id=u, day=d) for u, ds in missing.items() for d in ds],
        ignore_conflicts=True,
    )
    for user_id, missed in missing.items():
        send_event_on_commit(
            type="reminder",
            op="created",
            data={
                "kind": "missing_day",
                "days": [d.isoformat() for d in sorted(missed)],
                "message": "No time was tracked on "
                + ", ".join(d.strftime("%a %d %b") for d in sorted(missed))
                + ".",
            },
            user_ids=[user_id],
        )
    reminded = {str(u): [d.isoformat() for d in sorted(ds)] for u, ds in missing.items()}
    return sum(len(ds) for ds in missing.values()), {"reminded": reminded}


def run_auto_tag(params: dict[str, Any], *, now: datetime.datetime) -> tuple[int, dict]:
    """Add ``tag`` to recent entries whose description contains ``keyword``
    (any case), except entries in submitted/approved timesheets. The users'
    time locks are taken (sorted: no deadlock) so an approval racing the run
    sees either all or none of its tags."""
    tz = _org_tz(current_tenant())
    tag = params["tag"]
    locked = Timesheet.objects.filter(
        user_id=OuterRef("user_id"),
        status__in=LOCKED_STATUSES,
        period_start__lte=OuterRef("local_day"),
        period_end__gte=OuterRef("local_day"),
    )
    matching = (
        TimeEntry.objects.annotate(local_day=TruncDate("started_at", tzinfo=tz))
        .filter(
            started_at__gte=now - datetime.timedelta(days=params["lookback_days"]),
            description__icontains=params["keyword"],
        )
        .exclude(tags__contains=[tag])
        .filter(~Exists(locked))
    )
    ids = list(matching.order_by("started_at").values_list("pk", "user_id")[:RUN_BATCH])
    for user_id in sorted({u for _, u in ids}, key=str):
        user_time_lock(user_id)
    count = matching.filter(pk__in=[pk for pk, _ in ids]).update(
        tags=Func(F("tags"), Value(tag), function="array_append"), updated_at=now
    )
    return count, {"tag": tag, "entries": [str(pk) for pk, _ in ids][:100]}


RUNNERS = {
    RuleKind.AUTO_STOP_TIMERS_AT: run_auto_stop,
    RuleKind.AUTO_SUBMIT_TIMESHEETS: run_auto_submit,
    RuleKind.REMIND_MISSING_DAYS: run_remind_missing_days,
    RuleKind.AUTO_TAG_BY_KEYWORD: run_auto_tag,
}


def rule_run(rule: AutomationRule, *, now: datetime.datetime | None = None) -> RuleRun:
    """Run one rule in its own transaction and log the run (failed runs too)."""
    now = now or timezone.now()
    started = timezone.now()
    try:
        with transaction.atomic():
            params = clean_params(rule.kind, rule.params)
            affected, details = RUNNERS[RuleKind(rule.kind)](params, now=now)
    except Exception as exc:  # logged and recorded; one bad rule must not stop the others
        logger.exception("ai.rule_failed", extra={"rule": str(rule.pk), "kind": rule.kind})
        run = RuleRun.objects.create(
            rule=rule,
            started_at=started,
            finished_at=timezone.now(),
            status=RunStatus.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:2000],
        )
    else:
        run = RuleRun.objects.create(
            rule=rule,
            started_at=started,
            finished_at=timezone.now(),
            status=RunStatus.OK,
            affected_count=affected,
            details=details,
        )
    AutomationRule.objects.filter(pk=rule.pk).update(last_run_at=run.finished_at)
    return run


def automation_run_tenant(*, now: datetime.datetime | None = None) -> list[RuleRun]:
    """Run every enabled rule of the current organization."""
    rules = list(AutomationRule.objects.filter(enabled=True).order_by("kind", "created_at"))
    return [rule_run(rule, now=now) for rule in rules]
