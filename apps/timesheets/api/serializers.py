"""Serializers of the timesheet API: inputs (validated shapes only; rules
live in ``apps.timesheets.services``) and outputs.

Money (``hourly_rate``, ``amount``, ``billable_amount``, the per-currency
lists and their ``currency``) is shown only when the context's
``can_view_rates`` is true: the one money rule
(:func:`apps.time_entries.money.may_view_money`: managers and above, or
everybody for their own sheet when the organization lets members see their
rates). Amounts in different currencies are never added: totals are lists of
``{currency, amount}``; a single-amount field keeps its value only when one
currency is present (``null`` when mixed).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypedDict

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.common import dates
from apps.projects.api.serializers import EnumChoiceField
from apps.time_entries.money import currency_totals, single_amount, single_currency
from apps.time_entries.reports.api.serializers import CurrencyAmountSerializer
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

    period_start = dates.DateField()


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
    period_start = dates.DateField()
    status = serializers.ChoiceField(
        choices=[*TimesheetStatus.values, MISSING], required=False, allow_blank=True
    )
    user = serializers.UUIDField(required=False)
    project = serializers.UUIDField(required=False)


class ExportQuerySerializer(serializers.Serializer):
    period_start = dates.DateField()
    format = serializers.ChoiceField(choices=["csv", "xlsx"], required=False, default="csv")


# --- outputs ------------------------------------------------------------------------


class TimesheetSerializer(serializers.ModelSerializer):
    """A sheet; ``total_seconds`` is the approved snapshot once approved, else
    the live sum of the period's entries."""

    user = serializers.UUIDField(source="user_id", read_only=True)
    status = EnumChoiceField(TimesheetStatus, read_only=True)
    total_seconds = serializers.IntegerField(read_only=True)
    decided_by = serializers.UUIDField(source="decided_by_id", read_only=True, allow_null=True)
    approved_billable_amounts = serializers.SerializerMethodField()

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
            "approved_billable_amounts",
            "reminded_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(
        CurrencyAmountSerializer(
            many=True,
            allow_null=True,
            help_text="The approval snapshot's billable amounts, one per currency; null "
            "until approved. `approved_billable_amount` is null when there are several.",
        )
    )
    def get_approved_billable_amounts(self, sheet: Timesheet) -> list[dict[str, str]] | None:
        if sheet.approved_billable_amounts is not None:
            return list(sheet.approved_billable_amounts)
        if sheet.approved_billable_amount is None:
            return None
        # Approved before amounts were kept per currency: the one amount was
        # labelled with the organization's currency then, and still is.
        return currency_totals({self.context.get("currency", ""): sheet.approved_billable_amount})

    def to_representation(self, instance: Timesheet) -> dict[str, Any]:
        return _hide_money(
            super().to_representation(instance),
            self.context,
            "approved_billable_amount",
            "approved_billable_amounts",
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
    currency = serializers.CharField(help_text="Currency of `hourly_rate` and `amount`.")

    def get_task_title(self, entry: Any) -> str | None:
        return entry.task.title if entry.task_id else None

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return _hide_money(
            super().to_representation(instance), self.context, "hourly_rate", "amount", "currency"
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
    currency = serializers.CharField(help_text="The project's currency (of `billable_amount`).")

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return _hide_money(
            super().to_representation(instance), self.context, "billable_amount", "currency"
        )


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
        amounts = currency_totals(detail.billable_amounts)
        data.update(
            {
                "billable_seconds": detail.billable_seconds,
                "billable_amount": single_amount(amounts),
                "billable_amounts": amounts,
                "currency": single_currency(amounts, context.get("currency", "")),
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
        return _hide_money(data, context, "billable_amount", "billable_amounts", "currency")


class TimesheetDetailSchemaSerializer(TimesheetSerializer):
    """OpenAPI shape of :class:`TimesheetDetailSerializer` (documentation only)."""

    billable_seconds = serializers.IntegerField()
    billable_amount = serializers.DecimalField(
        **_MONEY,
        required=False,
        allow_null=True,
        help_text="The live billable amount when the period's billable entries are in one "
        "currency (`currency`); null when they mix currencies. Left out, with "
        "`billable_amounts` and `currency`, when the caller may not see money.",
    )
    billable_amounts = CurrencyAmountSerializer(many=True, required=False)
    currency = serializers.CharField(required=False, allow_null=True)
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
            "billable_amounts",
            "currency",
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
    billable_amount = serializers.DecimalField(
        **_MONEY,
        allow_null=True,
        help_text="The member's billable amount for the period when in one currency; "
        "null when mixed (see `billable_amounts`).",
    )
    billable_amounts = CurrencyAmountSerializer(many=True)
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
        data = {
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
            "billable_amount": row.billable_amount,
            "billable_amounts": row.billable_amounts,
            "weekly_expected_hours": None if hours is None else str(hours.quantize(_CENT)),
        }
        return _hide_money(data, self.context, "billable_amount", "billable_amounts")


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
