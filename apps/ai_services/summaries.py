"""Summaries of a person's or a team's work over a period.

The facts are aggregated in SQL (a handful of grouped queries, independent of
the number of entries); the default writer is local and deterministic — the
same data always gives the same text, testable and free. When an external
LLM is configured *and* the organization switched
``ai_external_llm_enabled`` on, the aggregated facts (never raw entries, never
e-mail addresses) go to the provider, and any provider failure falls back to
the local text (``provider`` says which one wrote it).

Money follows the one rule (:func:`apps.time_entries.money.may_view_money`):
when the caller may not see it, the facts carry no amount (``null``) and the
text names none, so neither the reader nor the provider ever gets it. Amounts
are per currency (an entry's amount is in its project's currency) and never
added across currencies.
"""

from __future__ import annotations

import datetime
import json
import logging
import uuid
import zoneinfo
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Func, Q, Sum
from django.db.models.functions import TruncDate

from apps.common.errors import does_not_exist
from apps.organizations.models import Membership
from apps.organizations.permissions import require
from apps.projects.selectors import users_by_id
from apps.time_entries.models import TimeEntry
from apps.time_entries.money import (
    currency_totals,
    entry_currency_expression,
    may_view_money,
    single_amount,
    single_currency,
)
from tenants.db import current_tenant

from . import llm
from .selectors import time_tracking_members

logger = logging.getLogger(__name__)
TOP = 5


def _hours(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:.1f} h"


def summary_facts(
    *, user_ids: list[uuid.UUID], first: datetime.date, last: datetime.date, show_money: bool
) -> dict[str, Any]:
    """Aggregates of the users' entries from ``first`` to ``last`` (inclusive,
    organization calendar). Without ``show_money`` no amount is read at all:
    ``billable_amount``, ``billable_amounts`` and ``currency`` are ``None``.

    ``billable_amounts`` lists ``{currency, amount}`` per currency of billable
    entries; ``billable_amount``/``currency`` are that amount and currency
    when there is one currency (``"0.00"`` and the organization's currency
    when there is none), ``None`` when several are mixed."""
    organization = current_tenant()
    tz = zoneinfo.ZoneInfo(organization.timezone)
    low = datetime.datetime.combine(first, datetime.time.min, tzinfo=tz)
    high = datetime.datetime.combine(
        last + datetime.timedelta(days=1), datetime.time.min, tzinfo=tz
    )
    entries = TimeEntry.objects.filter(
        user_id__in=user_ids, started_at__gte=low, started_at__lt=high, ended_at__isnull=False
    )
    totals = entries.aggregate(
        total_seconds=Sum("duration_seconds"),
        billable_seconds=Sum("duration_seconds", filter=Q(billable=True)),
        entry_count=Count("id"),
    )
    money: dict[str, Any] = {"billable_amount": None, "billable_amounts": None, "currency": None}
    if show_money:
        per_currency = (
            entries.filter(billable=True)
            .annotate(entry_currency=entry_currency_expression(organization))
            .values("entry_currency")
            .annotate(amount=Sum("amount"))
            .order_by()
        )
        amounts = currency_totals(
            {r["entry_currency"]: r["amount"] or Decimal(0) for r in per_currency}
        )
        money = {
            "billable_amount": single_amount(amounts),
            "billable_amounts": amounts,
            "currency": single_currency(amounts, str(organization.currency)),
        }
    by_project = list(
        entries.values("project_id", name=F("project__name"))
        .annotate(seconds=Sum("duration_seconds"))
        .order_by("-seconds", "name")[:TOP]
    )
    by_task = list(
        entries.filter(task__isnull=False)
        .values("task_id", title=F("task__title"), project_name=F("project__name"))
        .annotate(seconds=Sum("duration_seconds"))
        .order_by("-seconds", "title")[:TOP]
    )
    by_day = list(
        entries.annotate(day=TruncDate("started_at", tzinfo=tz))
        .values("day")
        .annotate(seconds=Sum("duration_seconds"))
        .order_by("day")
    )
    tags = list(
        entries.annotate(tag=Func(F("tags"), function="unnest"))
        .values("tag")
        .annotate(n=Count("id"))
        .order_by("-n", "tag")[:TOP]
    )
    descriptions = list(
        entries.exclude(description="")
        .values("description")
        .annotate(n=Count("id"), seconds=Sum("duration_seconds"))
        .order_by("-seconds", "description")[:TOP]
    )
    by_user = []
    if len(user_ids) > 1:
        rows = list(
            entries.values("user_id").annotate(seconds=Sum("duration_seconds")).order_by("-seconds")
        )
        names = users_by_id(user_ids=[r["user_id"] for r in rows])
        for r in rows:
            user = names.get(r["user_id"])
            by_user.append(
                {
                    "name": (f"{user.first_name} {user.last_name}".strip() if user else "")
                    or "A team member",
                    "seconds": int(r["seconds"] or 0),
                }
            )
    busiest = max(by_day, key=lambda r: r["seconds"]) if by_day else None
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "people": len(user_ids),
        "total_seconds": int(totals["total_seconds"] or 0),
        "billable_seconds": int(totals["billable_seconds"] or 0),
        **money,
        "entries": totals["entry_count"],
        "days_worked": len(by_day),
        "busiest_day": {"day": busiest["day"].isoformat(), "seconds": int(busiest["seconds"])}
        if busiest
        else None,
        "projects": [{"name": r["name"], "seconds": int(r["seconds"] or 0)} for r in by_project],
        "tasks": [
            {"title": r["title"], "project": r["project_name"], "seconds": int(r["seconds"] or 0)}
            for r in by_task
        ],
        "tags": [{"tag": r["tag"], "entries": r["n"]} for r in tags],
        "descriptions": [
            {"text": r["description"][:120], "seconds": int(r["seconds"] or 0)}
            for r in descriptions
        ],
        "people_hours": by_user,
    }


def local_summary(facts: dict[str, Any], *, subject: str) -> str:
    """A readable, deterministic paragraph from the facts."""
    period = f"{facts['from']} to {facts['to']}"
    total = facts["total_seconds"]
    if not total:
        return f"{subject} tracked no time from {period}."
    parts = [
        f"{subject} tracked {_hours(total)} from {period} in {facts['entries']} "
        f"entr{'y' if facts['entries'] == 1 else 'ies'} over {facts['days_worked']} "
        f"day{'s' if facts['days_worked'] != 1 else ''}"
        f" ({_hours(total / max(1, facts['days_worked']))} per day worked)."
    ]
    billable = facts["billable_seconds"]
    share = round(100 * billable / total)
    worth = [
        f"{m['amount']} {m['currency']}"
        for m in facts["billable_amounts"] or ()
        if Decimal(m["amount"])
    ]
    parts.append(
        f"{_hours(billable)} ({share}%) was billable"
        + (f", worth {' and '.join(worth)}." if worth else ".")
    )
    if facts["projects"]:
        listed = ", ".join(
            f"{p['name']} ({_hours(p['seconds'])}, {round(100 * p['seconds'] / total)}%)"
            for p in facts["projects"]
        )
        parts.append(f"Most time went to {listed}.")
    if facts["tasks"]:
        listed = ", ".join(f"{t['title']} ({_hours(t['seconds'])})" for t in facts["tasks"][:3])
        parts.append(f"Top tasks: {listed}.")
    if facts["descriptions"]:
        listed = "; ".join(f"“{d['text']}”" for d in facts["descriptions"][:3])
        parts.append(f"Main activities: {listed}.")
    if facts["tags"]:
        parts.append("Frequent tags: " + ", ".join(f"#{t['tag']}" for t in facts["tags"]) + ".")
    if facts["busiest_day"]:
        day = datetime.date.fromisoformat(facts["busiest_day"]["day"])
        parts.append(
            f"The busiest day was {day:%A %d %B} with {_hours(facts['busiest_day']['seconds'])}."
        )
    if facts["people_hours"]:
        listed = ", ".join(
            f"{p['name']} {_hours(p['seconds'])}" for p in facts["people_hours"][:TOP]
        )
        parts.append(f"By person: {listed}.")
    return " ".join(parts)


SYSTEM_PROMPT = (
    "You write short, factual summaries of time-tracking data for a team lead. "
    "Use only the JSON facts given; durations are seconds (write them as hours). "
    "Three to six sentences, plain text, no invented details."
)


def summarize(
    *,
    user_ids: list[uuid.UUID],
    first: datetime.date,
    last: datetime.date,
    subject: str,
    show_money: bool,
) -> dict[str, Any]:
    """``{text, provider, facts}``: the LLM writes when allowed and configured,
    the local summarizer otherwise or when the provider fails. ``show_money``
    is the caller's :func:`~apps.time_entries.money.may_view_money` over
    ``user_ids``: without it no amount reaches the facts, the text or the
    provider."""
    facts = summary_facts(user_ids=user_ids, first=first, last=last, show_money=show_money)
    local = local_summary(facts, subject=subject)
    organization = current_tenant()
    if (
        not (llm.configured() and organization.ai_external_llm_enabled)
        or not facts["total_seconds"]
    ):
        return {"text": local, "provider": "local", "facts": facts}
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {
            "role": "user",
            # A member without a name is shown by e-mail locally; that never leaves.
            "content": f"Summarize the work of {'a team member' if '@' in subject else subject}."
            "\nFacts: " + json.dumps(facts, sort_keys=True),
        },
    ]
    try:
        text = llm.chat_completion(messages)
    except llm.LLMError as exc:
        logger.warning("ai.llm_fallback", extra={"error": str(exc)})
        return {"text": local, "provider": "local", "facts": facts, "fallback_reason": str(exc)}
    return {"text": text, "provider": "llm", "facts": facts}


def summary_for(
    *,
    actor: Membership,
    first: datetime.date,
    last: datetime.date,
    user_id: uuid.UUID | None = None,
    team: bool = False,
) -> dict[str, Any]:
    """The summary ``actor`` asked for: their own work (default), another
    member's (``user_id``) or the team's (``team``). The last two need
    ``entries.view_all`` (403 ``role_required``); a ``user_id`` that is no
    member of this organization is 400 ``does_not_exist``. Money follows the
    one money rule over the summarized users."""
    organization = actor.organization
    if team:
        require(actor, "entries.view_all")
        user_ids = list(time_tracking_members().values_list("user_id", flat=True))
        subject = "The team"
    elif user_id and user_id != actor.user_id:
        require(actor, "entries.view_all")
        other = (
            Membership.objects.filter(organization_id=organization.pk, user_id=user_id)
            .select_related("user")
            .first()
        )
        if other is None:
            raise does_not_exist("user", "member of this organization")
        user_ids = [other.user_id]
        subject = other.user.full_name
    else:
        user_ids = [actor.user_id]
        subject = "You"
    return summarize(
        user_ids=user_ids,
        first=first,
        last=last,
        subject=subject,
        show_money=may_view_money(actor=actor, owner_ids=user_ids, organization=organization),
    )
