"""Input (query parameters) and output shapes of the report endpoints."""

from __future__ import annotations

from typing import Any

from django.http import QueryDict
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.common import dates
from apps.time_entries.models import TimeEntry

from ..query import DIMENSIONS, MAX_RANGE_DAYS

#: Query parameters that take several values: ``?users=a,b`` or ``?users=a&users=b``.
LIST_PARAMS = ("users", "projects", "clients", "tags", "group_by")


def query_data(params: QueryDict) -> dict[str, Any]:
    """Query parameters as serializer input: list params joined with commas."""
    data: dict[str, Any] = {}
    for key in params:
        values = params.getlist(key)
        data[key] = ",".join(values) if key in LIST_PARAMS else values[-1]
    return data


# Some API field names (``source``, ``parent``, ``data``, ``create``, …) are
# also attributes of DRF's ``Field``/``Serializer``. Declaring them is fine at
# run time (the serializer metaclass moves declared fields out of the class
# namespace into ``_declared_fields``), but the stubs see a class attribute
# overriding the base one: those lines carry ``type: ignore[assignment]``.


class CommaListField(serializers.ListField):
    """A list sent as one comma-separated string (blank items ignored)."""

    def to_internal_value(self, data: Any) -> list[Any]:
        if isinstance(data, str):
            data = [item.strip() for item in data.split(",") if item.strip()]
        return super().to_internal_value(data)


class ReportParamsSerializer(serializers.Serializer):
    """``from``/``to`` (local dates, inclusive) and the filters shared by every report."""

    start_date = dates.DateField(help_text="`from`: first day, organization's timezone.")
    end_date = dates.DateField(help_text="`to`: last day (inclusive).")
    users = CommaListField(child=serializers.UUIDField(), required=False, max_length=500)
    projects = CommaListField(child=serializers.UUIDField(), required=False, max_length=500)
    clients = CommaListField(child=serializers.UUIDField(), required=False, max_length=500)
    tags = CommaListField(
        child=serializers.CharField(max_length=60), required=False, max_length=100
    )
    billable = serializers.BooleanField(required=False, allow_null=True, default=None)

    def to_internal_value(self, data: Any) -> Any:
        # ``from`` is a Python keyword: accept the API names and map them here.
        data = dict(data)
        if "from" in data:
            data["start_date"] = data.pop("from")
        if "to" in data:
            data["end_date"] = data.pop("to")
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            detail = exc.detail
            if isinstance(detail, dict):
                for ours, theirs in (("start_date", "from"), ("end_date", "to")):
                    if ours in detail:
                        detail[theirs] = detail.pop(ours)
            raise

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs["start_date"], attrs["end_date"]
        if end < start:
            raise serializers.ValidationError({"to": ["Must not be before `from`."]})
        if (end - start).days + 1 > MAX_RANGE_DAYS:
            raise serializers.ValidationError(
                {"to": [f"A report covers at most {MAX_RANGE_DAYS} days."]}
            )
        for key in ("users", "projects", "clients", "tags"):
            if key in attrs:
                attrs[key] = list(dict.fromkeys(attrs[key]))  # dedupe, keep order
        return attrs


class SummaryParamsSerializer(ReportParamsSerializer):
    group_by = CommaListField(
        child=serializers.ChoiceField(choices=DIMENSIONS),
        required=False,
        max_length=2,
        help_text="Up to two of: " + ", ".join(DIMENSIONS) + " (default: project).",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        group_by = attrs.get("group_by") or ["project"]
        if len(set(group_by)) != len(group_by):
            raise serializers.ValidationError({"group_by": ["Dimensions must differ."]})
        attrs["group_by"] = group_by
        return attrs


class ExportParamsSerializer(SummaryParamsSerializer):
    format = serializers.ChoiceField(choices=["csv", "xlsx"], default="csv")
    type = serializers.ChoiceField(choices=["detailed", "summary"], default="detailed")


# --- output -------------------------------------------------------------------------


class CurrencyAmountSerializer(serializers.Serializer):
    """An amount in one currency (amounts in different currencies are never added)."""

    currency = serializers.CharField(help_text="ISO 4217 code.")
    amount = serializers.DecimalField(max_digits=16, decimal_places=2)


class _TotalsSerializer(serializers.Serializer):
    total_seconds = serializers.IntegerField()
    billable_seconds = serializers.IntegerField()
    billable_amount = serializers.DecimalField(
        max_digits=16,
        decimal_places=2,
        allow_null=True,
        help_text=(
            "The billable amount when the node's billable entries are in one currency "
            '(`currency`; "0.00" when there are none); null when they mix currencies '
            "(see `billable_amounts`) or when the caller may not see amounts."
        ),
    )
    billable_amounts = CurrencyAmountSerializer(
        many=True,
        allow_null=True,
        help_text=(
            "One amount per currency of the node's billable entries, sorted by currency; "
            "null when the caller may not see amounts."
        ),
    )
    currency = serializers.CharField(
        allow_null=True,
        help_text=(
            "Currency of `billable_amount` (the organization's when there is no billable "
            "entry); null when mixed or hidden."
        ),
    )


class SummarySubgroupSerializer(_TotalsSerializer):
    key = serializers.CharField(allow_null=True, help_text="Id, tag, or ISO date; null = none.")
    label = serializers.CharField()  # type: ignore[assignment]  # API field name, see note


class SummaryGroupSerializer(SummarySubgroupSerializer):
    groups = SummarySubgroupSerializer(many=True, required=False)


class SummarySerializer(_TotalsSerializer):
    groups = SummaryGroupSerializer(many=True)


class _RefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()


class DetailedEntrySerializer(serializers.Serializer):
    """One entry of the detailed report."""

    id = serializers.UUIDField()
    user = serializers.SerializerMethodField()
    project = serializers.SerializerMethodField()
    client = serializers.SerializerMethodField()
    task = serializers.SerializerMethodField()
    description = serializers.CharField()
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField()
    duration_seconds = serializers.IntegerField()
    rounded_seconds = serializers.IntegerField()
    billable = serializers.BooleanField()
    tags = serializers.ListField(child=serializers.CharField())
    source = serializers.CharField()  # type: ignore[assignment]  # API field name, see note
    hourly_rate = serializers.SerializerMethodField()
    billable_amount = serializers.SerializerMethodField()
    currency = serializers.SerializerMethodField()

    def get_user(self, entry: TimeEntry) -> dict[str, Any]:
        return {"id": entry.user_id, "name": self.context["user_names"].get(entry.user_id, "")}

    def get_project(self, entry: TimeEntry) -> dict[str, Any]:
        return {"id": entry.project_id, "name": entry.project.name}

    def get_client(self, entry: TimeEntry) -> dict[str, Any] | None:
        client = entry.project.client
        return {"id": client.pk, "name": client.name} if client else None

    def get_task(self, entry: TimeEntry) -> dict[str, Any] | None:
        if entry.task_id is None or entry.task is None:
            return None
        return {"id": entry.task_id, "name": entry.task.title}

    def get_hourly_rate(self, entry: TimeEntry) -> str | None:
        if not self.context["show_amounts"] or entry.hourly_rate is None:
            return None
        return str(entry.hourly_rate)

    def get_billable_amount(self, entry: TimeEntry) -> str | None:
        if not self.context["show_amounts"]:
            return None
        return f"{entry.billable_amount:.2f}"  # type: ignore[attr-defined]  # annotation

    @extend_schema_field(
        serializers.CharField(
            allow_null=True,
            help_text="Currency of `hourly_rate` and `billable_amount` (the project's); "
            "null when amounts are hidden.",
        )
    )
    def get_currency(self, entry: TimeEntry) -> str | None:
        return str(entry.currency) if self.context["show_amounts"] else None  # type: ignore[attr-defined]  # annotation
