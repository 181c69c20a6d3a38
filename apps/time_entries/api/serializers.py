"""Serializers of the time entry, timer and activity endpoints.

Input serializers only check shapes (types, lengths, required fields); the
business rules (spans, projects, locks, overlaps) live in the services so
that every caller gets them. Tags are checked here too, early, but by the
services' own rule (:class:`TagsField` calls ``services.normalize_tags``), so
the API, bulk edits and the import answer the same codes. Naive datetimes are
read in the organization's time zone (the view puts it in the context as
``timezone``).

Money is confidential: ``hourly_rate`` and ``amount`` are ``null`` unless
:func:`apps.time_entries.money.may_view_money` allows them (the view puts
``membership`` and ``organization`` in the context).
"""

from __future__ import annotations

import zoneinfo
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.common import dates
from apps.common.serializers import SharedReadFieldsMixin
from apps.time_entries.constants import IdleResolution
from apps.time_entries.models import IdlePeriod, TimeEntry
from apps.time_entries.money import may_view_money
from apps.time_entries.services.idle import IDLE_ACTIONS
from apps.time_entries.services.validation import MAX_TAG_LENGTH, MAX_TAGS, normalize_tags

# Some API field names (``source``, ``parent``, ``data``, ``create``, …) are
# also attributes of DRF's ``Field``/``Serializer``. Declaring them is fine at
# run time (the serializer metaclass moves declared fields out of the class
# namespace into ``_declared_fields``), but the stubs see a class attribute
# overriding the base one: those lines carry ``type: ignore[assignment]``.


class OrgDateTimeField(dates.DateTimeField):
    """A datetime; one given without an offset is read in the organization's
    time zone (what a user typing "09:00" means), not the server's."""

    def default_timezone(self) -> Any:
        name = self.context.get("timezone")
        return zoneinfo.ZoneInfo(name) if name else super().default_timezone()


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "string", "minLength": 1, "maxLength": MAX_TAG_LENGTH},
        "description": (
            f"Trimmed; case-insensitive duplicates and blanks dropped (first spelling kept). "
            f"More than {MAX_TAGS} distinct tags → 400 `too_many_tags`; a tag over "
            f"{MAX_TAG_LENGTH} characters → 400 `tag_too_long` (never cut)."
        ),
    }
)
class TagsField(serializers.ListField):
    """A list of tags, checked by :func:`apps.time_entries.services.validation.normalize_tags`,
    the one tag rule of every write path (the import's too). Its refusals are
    the service's errors as they are (400 ``too_many_tags`` / ``tag_too_long``,
    ``fields`` naming this field), not DRF's generic ``invalid``; so the count
    is the service's (distinct tags, case-insensitive), not the list's length.
    """

    child = serializers.CharField()

    def to_internal_value(self, data: Any) -> list[str]:
        tags = super().to_internal_value(data)  # shape: a list of non-blank strings
        return normalize_tags(tags, field=self.field_name or "tags")


def tags_field() -> TagsField:
    return TagsField(required=False)


class TimeEntrySerializer(SharedReadFieldsMixin, serializers.ModelSerializer):
    """An entry as the API shows it."""

    user = serializers.UUIDField(source="user_id", read_only=True)
    project = serializers.UUIDField(source="project_id", read_only=True)
    project_name = serializers.CharField(source="project.name", read_only=True)
    project_color = serializers.CharField(source="project.color", read_only=True)
    task = serializers.UUIDField(source="task_id", read_only=True, allow_null=True)
    task_title = serializers.SerializerMethodField()
    timesheet = serializers.UUIDField(source="timesheet_id", read_only=True, allow_null=True)
    is_running = serializers.BooleanField(read_only=True)

    class Meta:
        model = TimeEntry
        fields = [
            "id",
            "user",
            "project",
            "project_name",
            "project_color",
            "task",
            "task_title",
            "description",
            "started_at",
            "ended_at",
            "duration_seconds",
            "is_running",
            "billable",
            "tags",
            "source",
            "hourly_rate",
            "amount",
            "timesheet",
            "last_activity_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_task_title(self, entry: TimeEntry) -> str | None:
        return entry.task.title if entry.task_id and entry.task else None

    def to_representation(self, instance: TimeEntry) -> dict[str, Any]:
        data = super().to_representation(instance)
        if not may_view_money(
            actor=self.context.get("membership"),
            owner_ids=[instance.user_id],
            organization=self.context.get("organization"),
        ):
            data["hourly_rate"] = None
            data["amount"] = None
        return data


class TimeEntryCreateSerializer(serializers.Serializer):
    """``POST /time-entries/``: a finished entry. ``user`` (managers and above)
    writes for another member; ``confirm_long`` accepts more than 24 h."""

    project = serializers.UUIDField()
    task = serializers.UUIDField(required=False, allow_null=True)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    started_at = OrgDateTimeField()
    ended_at = OrgDateTimeField()
    billable = serializers.BooleanField(required=False, allow_null=True, default=None)
    tags = tags_field()
    confirm_long = serializers.BooleanField(required=False, default=False)
    user = serializers.UUIDField(required=False)


class TimeEntryUpdateSerializer(serializers.Serializer):
    """``PATCH /time-entries/{id}/``: any subset of the fields."""

    project = serializers.UUIDField(required=False)
    task = serializers.UUIDField(required=False, allow_null=True)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    started_at = OrgDateTimeField(required=False)
    ended_at = OrgDateTimeField(required=False, allow_null=True)
    billable = serializers.BooleanField(required=False)
    tags = tags_field()
    confirm_long = serializers.BooleanField(required=False, default=False)


class TimerStartSerializer(serializers.Serializer):
    """``POST /timer/start/``. ``started_at`` lets an offline client report
    when it really started (not in the future)."""

    project = serializers.UUIDField()
    task = serializers.UUIDField(required=False, allow_null=True)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    tags = tags_field()
    billable = serializers.BooleanField(required=False, allow_null=True, default=None)
    started_at = OrgDateTimeField(required=False)


class TimerStopSerializer(serializers.Serializer):
    ended_at = OrgDateTimeField(required=False)


class DuplicateSerializer(serializers.Serializer):
    started_at = OrgDateTimeField(required=False)
    ended_at = OrgDateTimeField(required=False)


class BulkSetSerializer(serializers.Serializer):
    project = serializers.UUIDField(required=False)
    task = serializers.UUIDField(required=False, allow_null=True)
    billable = serializers.BooleanField(required=False)
    tags = tags_field()
    add_tags = tags_field()
    remove_tags = tags_field()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError("Set at least one field.")
        if "tags" in attrs and ("add_tags" in attrs or "remove_tags" in attrs):
            raise serializers.ValidationError("Give tags, or add_tags/remove_tags, not both.")
        return attrs


class BulkUpdateSerializer(serializers.Serializer):
    """``POST /time-entries/bulk/``: ``{ids, set: {...}}`` or ``{ids, delete: true}``."""

    ids = serializers.ListField(child=serializers.UUIDField(), min_length=1, max_length=500)
    set = BulkSetSerializer(required=False)
    delete = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("delete") == ("set" in attrs):
            raise serializers.ValidationError("Give either set or delete: true.")
        return attrs


class BulkResultSerializer(serializers.Serializer):
    updated = serializers.IntegerField(required=False)
    deleted = serializers.IntegerField(required=False)
    results = TimeEntrySerializer(many=True, required=False)


class HeartbeatSerializer(serializers.Serializer):
    last_input_at = OrgDateTimeField()


class IdlePeriodSerializer(SharedReadFieldsMixin, serializers.ModelSerializer):
    entry = serializers.UUIDField(source="entry_id", read_only=True)
    idle_seconds = serializers.SerializerMethodField()
    resolution = serializers.ChoiceField(choices=IdleResolution.choices, read_only=True)

    class Meta:
        model = IdlePeriod
        fields = [
            "id",
            "entry",
            "started_at",
            "ended_at",
            "idle_seconds",
            "resolution",
            "resolved_at",
            "created_at",
        ]
        read_only_fields = fields

    def get_idle_seconds(self, idle: IdlePeriod) -> int:
        return int((idle.ended_at - idle.started_at).total_seconds())


class HeartbeatResultSerializer(serializers.Serializer):
    running = serializers.BooleanField()
    entry = serializers.UUIDField(allow_null=True)
    last_activity_at = serializers.DateTimeField(allow_null=True)
    idle_period = IdlePeriodSerializer(allow_null=True)


class IdleResolveSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=[(a, a) for a in IDLE_ACTIONS])


class IdleResolveResultSerializer(serializers.Serializer):
    idle_period = IdlePeriodSerializer()
    running_entry = TimeEntrySerializer(allow_null=True)
