"""Serializers of the timesheet API: inputs (validated shapes only; rules
live in ``apps.timesheets.services``) and outputs.

Money (``hourly_rate``, ``amount``, ``billable_amount``) is shown only when
the context's ``can_view_rates`` is true: managers and above, or everybody
for their own sheet when the organization lets members see their rates.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypedDict

from rest_framework import serializers

from apps.projects.api.serializers import EnumChoiceField
from apps.timesheets.constants import TimesheetStatus
from apps.timesheets.models import Timesheet, TimesheetEvent
from apps.timesheets.selectors import MISSING


class _MoneyDigits(TypedDict):
    """``DecimalField`` keyword arguments of money amounts (a TypedDict so
    that ``**_MONEY`` type-checks against the field's signature)."""

    max_digits: int
    decimal_places: int


_MONEY: _MoneyDigits = {"max_digits": 14, "decimal_places": 2}
_CENT = Decimal("0.01")


def _hide_money(data: dict[str, Any], context: Mapping[str, Any], *names: str) -> dict[str, Any]:
    if not context.get("can_view_rates"):
        for name in names:
            data.pop(name, None)
    return data


# --- inputs -------------------------------------------------------------------------


class TimesheetCreateSerializer(serializers.Serializer):
    """``period_start``: the first day of one of the organization's periods."""

    period_start = serializers.DateField()


class TransitionSerializer(serializers.Serializer):
    """An optional note recorded in the audit trail."""

    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class RejectSerializer(serializers.Serializer):
    """``comment`` says why (required: 400 ``comment_required`` when missing or blank)."""

    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class ReopenSerializer(serializers.Serializer):
    """``reason`` is required (400 ``reason_required`` when missing or blank)."""

    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class BulkApproveSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.UUIDField(), min_length=1, max_length=500, allow_empty=False
    )
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class OverviewQuerySerializer(serializers.Serializer):
    period_start = serializers.DateField()
    status = serializers.ChoiceField(
        choices=[*TimesheetStatus.values, MISSING], required=False, allow_blank=True
    )
    user = serializers.UUIDField(required=False)
    project = serializers.UUIDField(required=False)


class ExportQuerySerializer(serializers.Serializer):
    period_start = serializers.DateField()
    format = serializers.ChoiceField(choices=["csv", "xlsx"], required=False, default="csv")


# --- outputs ------------------------------------------------------------------------


class TimesheetSerializer(serializers.ModelSerializer):
    """A sheet; ``total_seconds`` is the approved snapshot once approved, else
    the live sum of the period's entries."""

    user = serializers.UUIDField(source="user_id", read_only=True)
    status = EnumChoiceField(TimesheetStatus, read_only=True)
    total_seconds = serializers.IntegerField(read_only=True)
    decided_by = serializers.UUIDField(source="decided_by_id", read_only=True, allow_null=True)

    class Meta:
        model = Timesheet
        fields = [
            "id",
            "user",
            "period_start",
            "period_end",
            "status",
            "total_seconds",
            "submitted_at",
            "decided_at",
            "decided_by",
            "approved_total_seconds",
            "approved_billable_seconds",
            "approved_billable_amount",
            "reminded_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def to_representation(self, instance: Timesheet) -> dict[str, Any]:
        return _hide_money(
            super().to_representation(instance), self.context, "approved_billable_amount"
        )


class TimesheetEventSerializer(serializers.ModelSerializer):
    actor = serializers.UUIDField(source="actor_id", read_only=True, allow_null=True)
    from_status = EnumChoiceField(TimesheetStatus, read_only=True)
    to_status = EnumChoiceField(TimesheetStatus, read_only=True)

    class Meta:
        model = TimesheetEvent
        fields = ["id", "actor", "from_status", "to_status", "comment", "created_at"]
        read_only_fields = fields


class TimesheetEntrySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    project = serializers.UUIDField(source="project_id")
    project_name = serializers.CharField(source="project.name")
    task = serializers.UUIDField(source="task_id", allow_null=True)
    task_title = serializers.SerializerMethodField()
    description = serializers.CharField()
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    duration_seconds = serializers.IntegerField(allow_null=True)
    billable = serializers.BooleanField()
    tags = serializers.ListField(child=serializers.CharField())
    hourly_rate = serializers.DecimalField(max_digits=10, decimal_places=2, allow_null=True)
    amount = serializers.DecimalField(**_MONEY, allow_null=True)

    def get_task_title(self, entry: Any) -> str | None:
        return entry.task.title if entry.task_id else None

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return _hide_money(
            super().to_representation(instance), self.context, "hourly_rate", "amount"
        )


class DailyTotalSerializer(serializers.Serializer):
    date = serializers.DateField()
    total_seconds = serializers.IntegerField()
    billable_seconds = serializers.IntegerField()


class ProjectTotalSerializer(serializers.Serializer):
    project = serializers.UUIDField()
    name = serializers.CharField()
    total_seconds = serializers.IntegerField()
    billable_seconds = serializers.IntegerField()
    billable_amount = serializers.DecimalField(**_MONEY)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return _hide_money(super().to_representation(instance), self.context, "billable_amount")


class MissingDaySerializer(serializers.Serializer):
    date = serializers.DateField()
    expected_seconds = serializers.IntegerField()
    actual_seconds = serializers.IntegerField()


class TimesheetFlagsSerializer(serializers.Serializer):
    gaps = serializers.ListField(child=serializers.DateField())
    missing_days = MissingDaySerializer(many=True)
    overlaps = serializers.ListField(child=serializers.ListField(child=serializers.UUIDField()))
    timer_running = serializers.BooleanField()
    expected_seconds_per_day = serializers.IntegerField(allow_null=True)


class TimesheetDetailSerializer(serializers.Serializer):
    """``GET /timesheets/{id}/``: the sheet plus entries, totals, flags and trail.

    ``instance`` is a :class:`apps.timesheets.selectors.TimesheetDetail`.
    """

    def to_representation(self, detail: Any) -> dict[str, Any]:
        context = self.context
        data = TimesheetSerializer(detail.sheet, context=context).data
        data.update(
            {
                "billable_seconds": detail.billable_seconds,
                "billable_amount": str(detail.billable_amount.quantize(_CENT)),
                "entries": TimesheetEntrySerializer(
                    detail.entries, many=True, context=context
                ).data,
                "daily_totals": DailyTotalSerializer(detail.daily_totals, many=True).data,
                "project_totals": ProjectTotalSerializer(
                    detail.project_totals, many=True, context=context
                ).data,
                "flags": TimesheetFlagsSerializer(detail.flags).data,
                "events": TimesheetEventSerializer(detail.events, many=True).data,
            }
        )
        data["total_seconds"] = detail.sheet.total_seconds
        return _hide_money(data, context, "billable_amount")


class TimesheetDetailSchemaSerializer(TimesheetSerializer):
    """OpenAPI shape of :class:`TimesheetDetailSerializer` (documentation only)."""

    billable_seconds = serializers.IntegerField()
    billable_amount = serializers.DecimalField(**_MONEY, required=False)
    entries = TimesheetEntrySerializer(many=True)
    daily_totals = DailyTotalSerializer(many=True)
    project_totals = ProjectTotalSerializer(many=True)
    flags = TimesheetFlagsSerializer()
    events = TimesheetEventSerializer(many=True)

    class Meta(TimesheetSerializer.Meta):
        fields = [
            *TimesheetSerializer.Meta.fields,
            "billable_seconds",
            "billable_amount",
            "entries",
            "daily_totals",
            "project_totals",
            "flags",
            "events",
        ]
        read_only_fields = fields


class OverviewRowSerializer(serializers.Serializer):
    """One active member in ``GET /timesheets/overview/``; ``status`` is
    ``missing`` when the member has no sheet for the period."""

    user = serializers.UUIDField(source="user_id")
    email = serializers.EmailField(source="user.email")
    name = serializers.SerializerMethodField()
    role = serializers.CharField()
    timesheet = serializers.UUIDField(source="sheet_id", allow_null=True)
    status = serializers.SerializerMethodField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    total_seconds = serializers.IntegerField()
    billable_seconds = serializers.IntegerField()
    billable_amount = serializers.DecimalField(**_MONEY)
    weekly_expected_hours = serializers.DecimalField(
        max_digits=5, decimal_places=2, allow_null=True
    )

    def get_name(self, row: Any) -> str:
        return f"{row.user.first_name} {row.user.last_name}".strip()

    def get_status(self, row: Any) -> str:
        return row.sheet_status or MISSING

    def to_representation(self, row: Any) -> dict[str, Any]:
        """The declared fields, built directly: a 500-member page would spend
        most of its time in per-field DRF machinery otherwise (same output;
        the fields above stay the contract and the OpenAPI schema)."""
        hours = row.weekly_expected_hours
        return {
            "user": str(row.user_id),
            "email": row.user.email,
            "name": self.get_name(row),
            "role": row.role,
            "timesheet": str(row.sheet_id) if row.sheet_id else None,
            "status": self.get_status(row),
            "submitted_at": _iso(row.submitted_at),
            "decided_at": _iso(row.decided_at),
            "total_seconds": int(row.total_seconds),
            "billable_seconds": int(row.billable_seconds),
            "billable_amount": str(Decimal(row.billable_amount).quantize(_CENT)),
            "weekly_expected_hours": None if hours is None else str(hours.quantize(_CENT)),
        }


def _iso(value: Any) -> str | None:
    """Datetimes as DRF renders them (ISO 8601, ``Z`` for UTC)."""
    if value is None:
        return None
    return serializers.DateTimeField().to_representation(value)


class BulkApproveResultSerializer(serializers.Serializer):
    id = serializers.CharField()
    ok = serializers.BooleanField()
    status = serializers.CharField(required=False)
    code = serializers.CharField(required=False)
    message = serializers.CharField(required=False)


class BulkApproveResponseSerializer(serializers.Serializer):
    approved = serializers.IntegerField()
    failed = serializers.IntegerField()
    results = BulkApproveResultSerializer(many=True)
