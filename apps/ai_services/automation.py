"""Automation rules: parameter validation per kind, the runners, the run log.

Beat runs ``ai_services.automation_all_tenants`` every 15 minutes; it sends
one ``ai_services.automation_tenant`` per serving organization, which runs
that organization's enabled rules here. Every runner is idempotent (running
it twice changes nothing the second time) and acts at an *exact* instant
derived from the rule (a timer stopped "at 18:00" ends at 18:00 local time,
however late the sweep runs). Each rule runs in its own transaction: a
failing rule rolls back alone and is logged as a failed :class:`RuleRun`.
A run acts on at most :data:`RUN_BATCH` objects and later runs reach the
rest (see the note above the runners).
"""

from __future__ import annotations

import datetime
import logging
import operator
import re
import uuid
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import (
    BooleanField,
    Case,
    DateField,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    TimeField,
    Value,
    When,
)
from django.db.models.expressions import Combinable, RawSQL
from django.db.models.functions import Cast, Coalesce, Greatest, TruncDate
from django.db.models.lookups import GreaterThanOrEqual
from django.utils import timezone

from apps.common.errors import ApplicationError
from apps.common.parsers import find_bad_text
from apps.organizations.models import Organization
from apps.time_entries.locking import locking_timesheets, user_time_lock
from apps.time_entries.models import TimeEntry
from apps.time_entries.services import MAX_TAGS, timer_stop
from apps.timesheets.constants import TimesheetStatus
from apps.timesheets.models import Timesheet
from apps.timesheets.services import timesheet_submit
from apps.websocket_server.events import send_event_on_commit
from tenants.db import current_tenant

from .constants import RuleKind, RunStatus
from .models import AutomationRule, MissingDayReminder, RuleRun
from .selectors import time_tracking_members

logger = logging.getLogger(__name__)

#: Most objects one run of one rule touches (the next run continues: see
#: :func:`_batch` and each runner's docstring for how the rest is reached).
RUN_BATCH = 500
#: Most ids of objects a run leaves alone on purpose (e.g. timers in locked
#: timesheets) that its log lists; they are counted out in SQL, never batched.
HELD_LISTED = 100
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


# --- parameters ------------------------------------------------------------------------


def _int(params: dict[str, object], name: str, default: int, low: int, high: int) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError({"params": [f"{name}: an integer from {low} to {high}."]})
    return value


def _text(params: dict[str, object], name: str, max_length: int) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > max_length:
        raise ValidationError({"params": [f"{name}: a text of 1 to {max_length} characters."]})
    if find_bad_text([(name, value)]):  # jsonb refuses NUL (the API parser already does)
        raise ValidationError({"params": [f"{name}: NUL and lone surrogates are not accepted."]})
    return value.strip()


def clean_params(kind: str, params: object) -> dict[str, object]:
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
#
# A run touches at most RUN_BATCH objects, and every qualifying object is
# reached in a bounded number of runs:
#
# * what a runner would skip or be refused for *by rule* is filtered out in
#   SQL (timers whose stop time has not come or whose span is in a locked
#   timesheet, sheets whose user's timer still runs into the period, members
#   with nothing left to remind, entries already tagged or locked), so a batch
#   holds only objects the run acts on, and an object acted on leaves the set;
# * the runners whose services may still refuse an object (``timer_stop``,
#   ``timesheet_submit``: races, or checks added there later) walk their set
#   in primary-key order from the rule's persisted ``cursor`` and wrap round
#   (:func:`_batch`), so objects refused again and again never hold back the
#   ones behind them.


@dataclass(frozen=True)
class Outcome:
    """What one run did: the objects it changed (``affected``), the run log's
    ``details``, and where the next run continues (``cursor``; ``None``: at
    the start)."""

    affected: int
    details: dict[str, Any] = field(default_factory=dict)
    cursor: uuid.UUID | None = None


def _org_tz(organization: Organization) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(organization.timezone)


def _batch(
    queryset: QuerySet[Any], cursor: uuid.UUID | None, *fields: str
) -> tuple[list[tuple[Any, ...]], uuid.UUID | None]:
    """Up to ``RUN_BATCH`` rows ``(pk, *fields)`` of ``queryset`` in primary-key
    order, starting after ``cursor`` and wrapping round to the start; and the
    cursor for the next run (the last pk taken; ``None`` when there was nothing).

    Keyset pagination on the primary key: a stable order whatever is added or
    removed between runs. With ``n`` qualifying objects, each one still
    qualifying is reached within ``ceil(n / RUN_BATCH) + 1`` runs, however
    often the objects before it are refused.
    """
    ordered = queryset.order_by("pk").values_list("pk", *fields)
    if cursor is None:
        rows = list(ordered[:RUN_BATCH])
    else:
        rows = list(ordered.filter(pk__gt=cursor)[:RUN_BATCH])
        if len(rows) < RUN_BATCH:
            rows += ordered.filter(pk__lte=cursor)[: RUN_BATCH - len(rows)]
    return rows, (rows[-1][0] if rows else None)


def _at_time_zone(expression: str | Combinable, tz: str) -> Func:
    """``expression AT TIME ZONE tz``: a timestamptz as the wall clock there,
    or a wall-clock timestamp as the instant it is there."""
    return Func(
        expression,
        Value(tz),
        template="(%(expressions)s)",
        arg_joiner=" AT TIME ZONE ",
        output_field=DateTimeField(),
    )


def next_local_time(expression: str, *, tz: str, at: datetime.time) -> Func:
    """The first instant strictly after ``expression`` (a timestamptz) at which
    the wall clock in ``tz`` shows ``at``, computed by PostgreSQL: on DST days
    a time the clocks skip is read with the offset before the change, a time
    they repeat as its second occurrence."""
    local = _at_time_zone(expression, tz)
    next_day = Case(
        When(GreaterThanOrEqual(Cast(local, TimeField()), Value(at)), then=Value(1)),
        default=Value(0),
    )
    wall_clock = Func(
        Cast(local, DateField()),
        next_day,
        Value(at),
        template="(%(expressions)s)",
        arg_joiner=" + ",  # date + integer + time: a wall-clock timestamp
        output_field=DateTimeField(),
    )
    return _at_time_zone(wall_clock, tz)


def _stop_timer(entry_id: uuid.UUID, user_id: uuid.UUID, at: datetime.datetime) -> bool:
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


def run_auto_stop(
    params: dict[str, Any], *, now: datetime.datetime, cursor: uuid.UUID | None = None
) -> Outcome:
    """Stop each running timer at the first ``time`` (local) after it started,
    once that moment has passed.

    The stop time is computed in SQL; timers whose stop time is still ahead
    or whose span (start day .. stop day) is in a submitted/approved
    timesheet are left out there (the latter listed as ``skipped``, at most
    ``HELD_LISTED``). The rest is walked from the rule's cursor; a timer
    ``timer_stop`` still refuses is ``skipped`` too and the walk goes on past it.
    """
    organization = current_tenant()
    tz = _org_tz(organization)
    hour, minute = (int(x) for x in params["time"].split(":"))
    due = (
        TimeEntry.objects.filter(ended_at__isnull=True)
        .annotate(
            cutoff=next_local_time(
                "started_at", tz=organization.timezone, at=datetime.time(hour, minute)
            )
        )
        .filter(cutoff__lte=now)
        .annotate(
            first_day=TruncDate("started_at", tzinfo=tz), last_day=TruncDate("cutoff", tzinfo=tz)
        )
    )
    locked = locking_timesheets(
        user_id=OuterRef("user_id"), first=OuterRef("first_day"), last=OuterRef("last_day")
    )
    rows, next_cursor = _batch(due.filter(~Exists(locked)), cursor, "user_id", "cutoff")
    stopped: list[str] = []
    skipped: list[str] = []
    for entry_id, user_id, cutoff in rows:
        try:
            done = _stop_timer(entry_id, user_id, cutoff)
        except ApplicationError as exc:
            done = False
            logger.info("ai.auto_stop_refused", extra={"entry": str(entry_id), "code": exc.code})
        (stopped if done else skipped).append(str(entry_id))
    held = due.filter(Exists(locked)).order_by("pk").values_list("pk", flat=True)[:HELD_LISTED]
    skipped += [str(pk) for pk in held]
    return Outcome(len(stopped), {"stopped": stopped, "skipped": skipped}, next_cursor)


def _submit(timesheet_id: uuid.UUID, comment: str) -> bool:
    with transaction.atomic():
        sheet = Timesheet.objects.filter(pk=timesheet_id, status=TimesheetStatus.DRAFT).first()
        if sheet is None:
            return False
        timesheet_submit(timesheet=sheet, actor=None, comment=comment)
        return True


def run_auto_submit(
    params: dict[str, Any], *, now: datetime.datetime, cursor: uuid.UUID | None = None
) -> Outcome:
    """Submit draft sheets whose period ended more than ``grace_days`` ago
    (in the organization's calendar).

    Sheets ``timesheet_submit`` would refuse with ``timer_running`` (the
    user's timer started on or before the period's last day and still runs)
    are left out in SQL and listed as ``refused`` (at most ``HELD_LISTED``);
    they are submitted by the first run after the timer stops. The rest is
    walked from the rule's cursor; a sheet still refused is ``refused`` too
    and the walk goes on past it.
    """
    tz = _org_tz(current_tenant())
    today = now.astimezone(tz).date()
    last_end = today - datetime.timedelta(days=params["grace_days"] + 1)
    due = Timesheet.objects.filter(status=TimesheetStatus.DRAFT, period_end__lte=last_end)
    timer_in_period = (
        TimeEntry.objects.annotate(day=TruncDate("started_at", tzinfo=tz))
        .filter(user_id=OuterRef("user_id"), ended_at__isnull=True)
        .filter(day__lte=OuterRef("period_end"))
    )
    rows, next_cursor = _batch(due.filter(~Exists(timer_in_period)), cursor)
    submitted: list[str] = []
    refused: list[str] = []
    for (sheet_id,) in rows:
        try:
            done = _submit(sheet_id, "Submitted automatically at period end.")
        except ApplicationError as exc:
            done = False
            logger.info("ai.auto_submit_refused", extra={"sheet": str(sheet_id), "code": exc.code})
        (submitted if done else refused).append(str(sheet_id))
    held = due.filter(Exists(timer_in_period)).order_by("pk").values_list("pk", flat=True)
    refused += [str(pk) for pk in held[:HELD_LISTED]]
    return Outcome(len(submitted), {"submitted": submitted, "refused": refused}, next_cursor)


def run_remind_missing_days(
    params: dict[str, Any], *, now: datetime.datetime, cursor: uuid.UUID | None = None
) -> Outcome:
    """Remind each time-tracking member once per past working day without
    any entry (a ``reminder`` event to that member).

    One query finds, per member, which of the days are missed (joined by
    then, no entry that day, not reminded yet) and keeps only members with at
    least one, in ``user_id`` order: every member of a batch is reminded of
    all their missed days and so leaves the set; the next run takes the next
    ones. No cursor is needed.
    """
    organization = current_tenant()
    tz = _org_tz(organization)
    today = now.astimezone(tz).date()
    days = [
        today - datetime.timedelta(days=n)
        for n in range(1, params["lookback_days"] + 1)
        if (today - datetime.timedelta(days=n)).weekday() in params["weekdays"]
    ]
    if not days:
        return Outcome(0, {"reminded": {}})

    def missed(day: datetime.date) -> Q:
        low = datetime.datetime.combine(day, datetime.time.min, tzinfo=tz)
        high = datetime.datetime.combine(
            day + datetime.timedelta(days=1), datetime.time.min, tzinfo=tz
        )
        tracked = TimeEntry.objects.filter(
            user_id=OuterRef("user_id"), started_at__gte=low, started_at__lt=high
        )
        reminded = MissingDayReminder.objects.filter(user_id=OuterRef("user_id"), day=day)
        return Q(joined_at__lt=high) & ~Exists(tracked) & ~Exists(reminded)

    flags = {
        f"missed_{n}": ExpressionWrapper(missed(day), output_field=BooleanField())
        for n, day in enumerate(days)
    }
    rows = (
        time_tracking_members()
        .annotate(**flags)
        .filter(reduce(operator.or_, (Q(**{name: True}) for name in flags)))
        .order_by("user_id")
        .values_list("user_id", *flags)[:RUN_BATCH]
    )
    missing: dict[uuid.UUID, list[datetime.date]] = {
        user_id: [day for day, flag in zip(days, row, strict=True) if flag]
        for user_id, *row in rows
    }
    MissingDayReminder.objects.bulk_create(
        [MissingDayReminder(user_id=u, day=d) for u, ds in missing.items() for d in ds],
        ignore_conflicts=True,
    )
    for user_id, missed_days in missing.items():
        send_event_on_commit(
            type="reminder",
            op="created",
            data={
                "kind": "missing_day",
                "days": [d.isoformat() for d in sorted(missed_days)],
                "message": "No time was tracked on "
                + ", ".join(d.strftime("%a %d %b") for d in sorted(missed_days))
                + ".",
            },
            user_ids=[user_id],
        )
    reminded = {str(u): [d.isoformat() for d in sorted(ds)] for u, ds in missing.items()}
    return Outcome(sum(len(ds) for ds in missing.values()), {"reminded": reminded})


def run_auto_tag(
    params: dict[str, Any], *, now: datetime.datetime, cursor: uuid.UUID | None = None
) -> Outcome:
    """Add ``tag`` to recent entries whose description contains ``keyword``
    (any case), except entries whose span (start day .. end day, a running
    entry's up to now) is in a submitted/approved timesheet: the rule every
    entry write follows. The users' time locks are taken (sorted: no
    deadlock) so an approval racing the run sees either all or none of its tags.

    Entries that carry the tag already (in any case), that have ``MAX_TAGS``
    tags already (the entries' own tag rule) and locked ones are left out in
    SQL, and every entry of a batch is tagged (and so leaves the set): the
    next run takes the next ones, oldest first. No cursor is needed.
    """
    tz = _org_tz(current_tenant())
    tag = params["tag"]
    locked = locking_timesheets(
        user_id=OuterRef("user_id"), first=OuterRef("first_day"), last=OuterRef("last_day")
    )
    matching = (
        TimeEntry.objects.annotate(
            first_day=TruncDate("started_at", tzinfo=tz),
            last_day=TruncDate(Greatest("started_at", Coalesce("ended_at", Value(now))), tzinfo=tz),
        )
        .filter(
            started_at__gte=now - datetime.timedelta(days=params["lookback_days"]),
            description__icontains=params["keyword"],
        )
        .alias(
            # The entries' tag rule (time_entries.services.normalize_tags):
            # no case-insensitive duplicate, at most MAX_TAGS tags.
            has_tag=RawSQL(
                f'EXISTS (SELECT 1 FROM unnest("{TimeEntry._meta.db_table}"."tags") AS t'
                " WHERE lower(t) = %s)",
                (tag.lower(),),
                output_field=BooleanField(),
            ),
            tag_count=Func(F("tags"), function="cardinality", output_field=IntegerField()),
        )
        .filter(has_tag=False, tag_count__lt=MAX_TAGS)
        .filter(~Exists(locked))
    )
    ids = list(matching.order_by("started_at", "pk").values_list("pk", "user_id")[:RUN_BATCH])
    for user_id in sorted({u for _, u in ids}, key=str):
        user_time_lock(user_id)
    count = matching.filter(pk__in=[pk for pk, _ in ids]).update(
        tags=Func(F("tags"), Value(tag), function="array_append"), updated_at=now
    )
    return Outcome(count, {"tag": tag, "entries": [str(pk) for pk, _ in ids][:100]})


RUNNERS: dict[RuleKind, Callable[..., Outcome]] = {
    RuleKind.AUTO_STOP_TIMERS_AT: run_auto_stop,
    RuleKind.AUTO_SUBMIT_TIMESHEETS: run_auto_submit,
    RuleKind.REMIND_MISSING_DAYS: run_remind_missing_days,
    RuleKind.AUTO_TAG_BY_KEYWORD: run_auto_tag,
}


def rule_run(rule: AutomationRule, *, now: datetime.datetime | None = None) -> RuleRun:
    """Run one rule in its own transaction and log the run (failed runs too).

    The rule's ``cursor`` is read fresh and written in the run's transaction:
    a failed run leaves it where it was."""
    now = now or timezone.now()
    started = timezone.now()
    try:
        with transaction.atomic():
            params = clean_params(rule.kind, rule.params)
            cursor = (
                AutomationRule.objects.filter(pk=rule.pk).values_list("cursor", flat=True).first()
            )
            outcome = RUNNERS[RuleKind(rule.kind)](params, now=now, cursor=cursor)
            if outcome.cursor != cursor:
                AutomationRule.objects.filter(pk=rule.pk).update(cursor=outcome.cursor)
            rule.cursor = outcome.cursor
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
            affected_count=outcome.affected,
            details=outcome.details,
        )
    AutomationRule.objects.filter(pk=rule.pk).update(last_run_at=run.finished_at)
    return run


def automation_run_tenant(*, now: datetime.datetime | None = None) -> list[RuleRun]:
    """Run every enabled rule of the current organization."""
    rules = list(AutomationRule.objects.filter(enabled=True).order_by("kind", "created_at"))
    return [rule_run(rule, now=now) for rule in rules]
