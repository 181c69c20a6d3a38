"""What the project writes share: row locks, value checks, saves guarded by
a unique index, the client currency rule and the rate recompute."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import TypeVar
from uuid import UUID

from django.db import IntegrityError, transaction
from django.db.models import Model, QuerySet
from django.http import Http404

from apps.common.errors import ApplicationError, field_error
from apps.time_entries.money import client_currency
from apps.time_entries.rates import enqueue_rate_recompute
from tenants.db import current_tenant

from ..models import Client

_M = TypeVar("_M", bound=Model)


def _locked(queryset: QuerySet[_M], pk: UUID) -> _M:
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
    obj: Model,
    *,
    constraint: str,
    error: Callable[[], ApplicationError],
    update_fields: Sequence[str] | None = None,
) -> None:
    """Save, turning a lost race on the unique ``constraint`` into the same 400
    the service's own check gives (never an IntegrityError 500)."""
    try:
        with transaction.atomic():
            obj.save(update_fields=update_fields)
    except IntegrityError as exc:
        if constraint in str(exc):
            raise error() from exc
        raise


def _rates_changed(*, project_id: UUID, user_id: UUID | None = None) -> None:
    """Time entries snapshot rates: queue the recompute of the affected ones
    (after commit; apps.time_entries skips entries in locked timesheets)."""
    enqueue_rate_recompute(project_id=project_id, user_id=user_id)
