"""What the project writes share: row locks, value checks, saves guarded by
a unique index, the client currency rule and the rate recompute."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import Http404

from apps.common.errors import ApplicationError, field_error
from apps.time_entries.money import client_currency
from apps.time_entries.rates import enqueue_rate_recompute
from tenants.db import current_tenant

from ..models import Client


def _locked(queryset: QuerySet[Any], pk: Any) -> Any:
    """The row, locked until commit (only its own table: nullable joins cannot
    be locked); 404 when it vanished meanwhile."""
    obj = queryset.select_for_update(of=("self",)).filter(pk=pk).first()
    if obj is None:
        raise Http404("No such object.")
    return obj


def _organization_currency() -> str:
    return str(getattr(current_tenant(), "currency", "") or "")


def _client_currency(client: Client | None) -> str:
    """The currency of amounts of a project with ``client`` (money's one rule)."""
    return client_currency(client, default=_organization_currency())


def _check_dates(start: datetime.date | None, end: datetime.date | None) -> None:
    if start is not None and end is not None and end < start:
        raise field_error("end_date", "The end date is before the start date.")


def _check_not_negative(values: Mapping[str, Decimal | None]) -> None:
    for field, value in values.items():
        if value is not None and value < 0:
            raise field_error(field, "Must be zero or more.")


def _save_unique(
    obj: Any, *, constraint: str, error: Callable[[], ApplicationError], **save_kwargs: Any
) -> None:
    """Save, turning a lost race on the unique ``constraint`` into the same 400
    the service's own check gives (never an IntegrityError 500)."""
    try:
        with transaction.atomic():
            obj.save(**save_kwargs)
    except IntegrityError as exc:
        if constraint in str(exc):
            raise error() from exc
        raise


def _rates_changed(*, project_id: Any, user_id: Any | None = None) -> None:
    """Time entries snapshot rates: queue the recompute of the affected ones
    (after commit; apps.time_entries skips entries in locked timesheets)."""
    enqueue_rate_recompute(project_id=project_id, user_id=user_id)
