"""Serializers of the AI endpoints: every input is validated here (shapes,
lengths, ranges); rules that need the database live in the modules they call."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from apps.ai_services.automation import clean_params
from apps.ai_services.constants import (
    MAX_DESCRIPTION_LENGTH,
    MAX_PARSE_LENGTH,
    MAX_SUMMARY_DAYS,
    InsightKind,
    RuleKind,
    RunStatus,
    Severity,
)
from apps.ai_services.models import AutomationRule, RuleRun
from apps.common import dates
from apps.projects.api.serializers import EnumChoiceField

# Some API field names (``source``, ``parent``, ``data``, ``create``, …) are
# also attributes of DRF's ``Field``/``Serializer``. Declaring them is fine at
# run time (the serializer metaclass moves declared fields out of the class
# namespace into ``_declared_fields``), but the stubs see a class attribute
# overriding the base one: those lines carry ``type: ignore[assignment]``.


class StrictCharField(serializers.CharField):
    """Text only: DRF's ``CharField`` would turn ``5`` or ``true`` into a string."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


# --- suggestions ---------------------------------------------------------------------


class SuggestionRequestSerializer(serializers.Serializer):
    description = StrictCharField(
        max_length=MAX_DESCRIPTION_LENGTH, allow_blank=True, trim_whitespace=True
    )
    limit = serializers.IntegerField(min_value=1, max_value=10, default=3)


class SuggestionSerializer(serializers.Serializer):
    project = serializers.UUIDField(source="project_id")
    project_name = serializers.CharField()
    task = serializers.UUIDField(source="task_id", allow_null=True)
    task_title = serializers.CharField(allow_null=True)
    tags = serializers.ListField(child=serializers.CharField())
    confidence = serializers.FloatField(min_value=0, max_value=1)


class SuggestionResponseSerializer(serializers.Serializer):
    suggestions = SuggestionSerializer(many=True)
    source = serializers.ChoiceField(  # type: ignore[assignment]  # API field name, see note
        choices=["model", "frequency"],
        help_text="model: this organization's trained model; frequency: cold-start rules.",
    )
    model_version = serializers.IntegerField(allow_null=True)


# --- parse ---------------------------------------------------------------------------


class ParseRequestSerializer(serializers.Serializer):
    text = StrictCharField(max_length=MAX_PARSE_LENGTH, trim_whitespace=True)


class ParseConfidenceSerializer(serializers.Serializer):
    date = serializers.FloatField()
    duration = serializers.FloatField()
    started_at = serializers.FloatField()
    project = serializers.FloatField()
    task = serializers.FloatField()
    tags = serializers.FloatField()
    description = serializers.FloatField()


class ParseResponseSerializer(serializers.Serializer):
    project = serializers.UUIDField(allow_null=True)
    project_name = serializers.CharField(allow_null=True)
    task = serializers.UUIDField(allow_null=True)
    task_title = serializers.CharField(allow_null=True)
    description = serializers.CharField(allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField())
    date = serializers.DateField()
    started_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    duration_seconds = serializers.IntegerField(allow_null=True)
    timezone = serializers.CharField()
    confidence = ParseConfidenceSerializer()
    unparsed = serializers.ListField(child=serializers.CharField())


# --- insights ------------------------------------------------------------------------


class InsightQuerySerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=["me", "team"], required=False)
    days = serializers.IntegerField(min_value=1, max_value=60, default=14)


class InsightObjectSerializer(serializers.Serializer):
    type = serializers.CharField()
    id = serializers.UUIDField()


class InsightSerializer(serializers.Serializer):
    kind = EnumChoiceField(InsightKind)
    severity = EnumChoiceField(Severity)
    message = serializers.CharField()
    user = serializers.UUIDField(allow_null=True)
    user_name = serializers.CharField(allow_null=True)
    objects = InsightObjectSerializer(many=True)
    links = serializers.ListField(child=serializers.CharField())
    data = serializers.DictField()  # type: ignore[assignment]  # API field name, see note


class InsightListSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    scope = serializers.CharField()
    results = InsightSerializer(many=True)


# --- summary -------------------------------------------------------------------------


class SummaryRequestSerializer(serializers.Serializer):
    # "from" is a Python keyword: declared below under its API name.
    to = dates.DateField()
    user = serializers.UUIDField(required=False)
    team = serializers.BooleanField(default=False)

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        fields["from"] = dates.DateField()
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        first, last = attrs["from"], attrs["to"]
        if last < first:
            raise serializers.ValidationError({"to": ["Must not be before 'from'."]})
        if (last - first).days + 1 > MAX_SUMMARY_DAYS:
            raise serializers.ValidationError(
                {"to": [f"A summary covers at most {MAX_SUMMARY_DAYS} days."]}
            )
        if attrs.get("team") and attrs.get("user"):
            raise serializers.ValidationError({"team": ["Ask for one user or the team, not both."]})
        return attrs


class SummaryResponseSerializer(serializers.Serializer):
    text = serializers.CharField()
    provider = serializers.ChoiceField(choices=["local", "llm"])
    facts = serializers.DictField(
        help_text=(
            "The aggregates the text was written from: from, to, people, total_seconds, "
            "billable_seconds, entries, days_worked, busiest_day, projects, tasks, tags, "
            "descriptions, people_hours, and the money: billable_amounts "
            '([{"currency", "amount"}], one per currency), billable_amount and currency '
            "(the amount and its currency when one currency; null when mixed). The three "
            "money facts are null when the caller may not see amounts."
        )
    )
    fallback_reason = serializers.CharField(required=False)


# --- rules ---------------------------------------------------------------------------


class RuleSerializer(serializers.ModelSerializer):
    """An automation rule. ``params`` by kind:
    ``auto_stop_timers_at`` {time: "HH:MM"} ·
    ``auto_submit_timesheets`` {grace_days: 0..7} ·
    ``remind_missing_days`` {lookback_days: 1..14, weekdays: [0..6]} ·
    ``auto_tag_by_keyword`` {keyword, tag, lookback_days: 1..90}."""

    kind = EnumChoiceField(RuleKind)
    last_run = serializers.SerializerMethodField()

    class Meta:
        model = AutomationRule
        fields = [
            "id",
            "name",
            "kind",
            "enabled",
            "params",
            "created_by_id",
            "last_run_at",
            "last_run",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_last_run(self, rule: AutomationRule) -> dict[str, Any] | None:
        run = self.context.get("last_runs", {}).get(rule.pk)
        return RuleRunSerializer(run).data if run else None


class RuleCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    kind = EnumChoiceField(RuleKind)
    enabled = serializers.BooleanField(default=True)
    params = serializers.JSONField(default=dict)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs["params"] = _clean(attrs["kind"], attrs["params"])
        return attrs


class RuleUpdateSerializer(serializers.Serializer):
    """``kind`` is fixed once created (delete and create to change it)."""

    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    enabled = serializers.BooleanField(required=False)
    params = serializers.JSONField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "params" in attrs:
            attrs["params"] = _clean(self.context["rule"].kind, attrs["params"])
        return attrs


def _clean(kind: str, params: object) -> dict[str, object]:
    try:
        return clean_params(kind, params)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.message_dict) from exc


class RuleRunSerializer(serializers.ModelSerializer):
    status = EnumChoiceField(RunStatus)

    class Meta:
        model = RuleRun
        fields = [
            "id",
            "started_at",
            "finished_at",
            "status",
            "affected_count",
            "details",
            "error",
        ]
        read_only_fields = fields
