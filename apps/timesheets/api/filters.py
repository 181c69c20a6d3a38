"""Query parameters of ``GET /api/v1/timesheets/`` (django-filter)."""

from __future__ import annotations

from django_filters import rest_framework as filters

from apps.timesheets.constants import TimesheetStatus
from apps.timesheets.models import Timesheet


class TimesheetFilter(filters.FilterSet):
    """``user`` (a user id; members only ever see their own sheets anyway),
    ``status`` (repeatable), ``period_start`` (exact) and ``from``/``to``
    (periods starting in that inclusive date range)."""

    user = filters.UUIDFilter(field_name="user_id")
    status = filters.MultipleChoiceFilter(choices=TimesheetStatus.choices, distinct=False)
    period_start = filters.DateFilter(field_name="period_start")
    period_from = filters.DateFilter(field_name="period_start", lookup_expr="gte", label="from")
    period_to = filters.DateFilter(field_name="period_start", lookup_expr="lte", label="to")

    class Meta:
        model = Timesheet
        fields: list[str] = []

    def __init__(self, data=None, *args, **kwargs):  # type: ignore[no-untyped-def]
        # ``from``/``to`` are Python keywords: map them onto the filter names.
        if data is not None:
            data = data.copy()
            for public, internal in (("from", "period_from"), ("to", "period_to")):
                if public in data and internal not in data:
                    data[internal] = data[public]
        super().__init__(data, *args, **kwargs)
