"""Query parameters of ``GET /api/v1/timesheets/`` (django-filter)."""

from __future__ import annotations

from django_filters import rest_framework as filters

from apps.common import dates
from apps.timesheets.constants import TimesheetStatus
from apps.timesheets.models import Timesheet


class TimesheetFilter(filters.FilterSet):
    """``user`` (a user id; members only ever see their own sheets anyway),
    ``status`` (repeatable), ``period_start`` (exact) and ``from``/``to``
    (periods starting in that inclusive date range)."""

    user = filters.UUIDFilter(field_name="user_id")
    status = filters.MultipleChoiceFilter(choices=TimesheetStatus.choices, distinct=False)
    period_start = dates.DateFilter(field_name="period_start")
    period_from = dates.DateFilter(
        field_name="period_start", lookup_expr="gte", label="Periods starting on or after."
    )
    period_to = dates.DateFilter(
        field_name="period_start", lookup_expr="lte", label="Periods starting on or before."
    )

    class Meta:
        model = Timesheet
        fields: list[str] = []


# ``from``/``to`` are Python keywords: declared above under other names, then
# exposed under the public parameter names (also in the OpenAPI document).
TimesheetFilter.base_filters["from"] = TimesheetFilter.base_filters.pop("period_from")
TimesheetFilter.base_filters["to"] = TimesheetFilter.base_filters.pop("period_to")
