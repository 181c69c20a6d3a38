"""Small helpers to write time entries directly (use inside a tenant schema).

Entries are created with the model, not the time entry services (another
package), so these tests depend only on the shared model and its constraints.
"""

from __future__ import annotations

import datetime
import zoneinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils import timezone

from apps.time_entries.models import TimeEntry

UTC = datetime.UTC


def at(text: str, tz: str = "UTC") -> datetime.datetime:
    """``"2026-03-02 09:00"`` as an aware datetime in ``tz``."""
    naive = datetime.datetime.fromisoformat(text)
    return naive.replace(tzinfo=zoneinfo.ZoneInfo(tz))


def make_entry(
    *,
    user_id: Any,
    project: Any,
    start: datetime.datetime,
    seconds: int | None,
    billable: bool = True,
    rate: str | None = None,
    tags: list[str] | None = None,
    task: Any = None,
    description: str = "",
    deleted: bool = False,
    **extra: Any,
) -> TimeEntry:
    """An entry of ``seconds`` from ``start`` (``None`` = a running timer), with
    the rate and amount snapshot written the way the services write it."""
    hourly_rate = Decimal(rate) if rate is not None else None
    amount = None
    if hourly_rate is not None and seconds is not None:
        amount = (hourly_rate * seconds / 3600).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return TimeEntry.all_objects.create(
        user_id=user_id,
        project=project,
        task=task,
        started_at=start,
        ended_at=start + datetime.timedelta(seconds=seconds) if seconds is not None else None,
        duration_seconds=seconds,
        billable=billable,
        tags=tags or [],
        hourly_rate=hourly_rate,
        amount=amount,
        description=description,
        deleted_at=timezone.now() if deleted else None,
        **extra,
    )
