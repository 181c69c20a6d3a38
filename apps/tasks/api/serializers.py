"""Serializers for tasks, dependencies, comments, activity and labels.

Input serializers only validate shapes and types; every rule that needs the
database (visibility, membership, cycles, archived projects) lives in the
services. Their ``source`` names match the services' keyword arguments
(``project`` → ``project_id``), so views pass ``validated_data`` straight on.
Output serializers read only what ``selectors.with_task_details`` loaded.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from apps.common import dates
from apps.tasks.constants import TaskPriority, TaskStatus
from apps.tasks.models import Label, Task, TaskActivity, TaskComment, TaskDependency

_UUID_LIST = serializers.ListField(child=serializers.UUIDField())
_HEX_COLOR = r"^#[0-9a-fA-F]{6}$"


def _finite(value: float) -> None:
    if not math.isfinite(value):
        raise serializers.ValidationError("Must be a finite number.")


# Some API field names (``source``, ``parent``, ``data``, ``create``, …) are
# also attributes of DRF's ``Field``/``Serializer``. Declaring them is fine at
# run time (the serializer metaclass moves declared fields out of the class
# namespace into ``_declared_fields``), but the stubs see a class attribute
# overriding the base one: those lines carry ``type: ignore[assignment]``.


class TaskSerializer(serializers.ModelSerializer):
    """A task as the API shows it (read-only)."""

    project = serializers.UUIDField(source="project_id")
    parent = serializers.UUIDField(source="parent_id", allow_null=True)  # type: ignore[assignment]  # API field name, see note
    reporter = serializers.UUIDField(source="reporter_id", allow_null=True)
    assignees = serializers.SerializerMethodField()
    labels = serializers.SerializerMethodField()
    blocked_by = serializers.SerializerMethodField()
    subtask_count = serializers.IntegerField()

    class Meta:
        model = Task
        fields = [
            "id",
            "project",
            "parent",
            "title",
            "description",
            "status",
            "priority",
            "assignees",
            "reporter",
            "estimate_hours",
            "start_date",
            "due_date",
            "position",
            "labels",
            "blocked_by",
            "subtask_count",
            "completed_at",
            "created_at",
            "updated_at",
            "deleted_at",
        ]
        read_only_fields = fields

    @extend_schema_field(_UUID_LIST)
    # The list/detail selectors annotate ``*_ids``; a task fresh from a service
    # is not annotated, and reads its relations instead.
    def get_assignees(self, obj: Task) -> list[uuid.UUID]:
        ids = getattr(obj, "assignee_ids", None)
        if ids is not None:
            return list(ids)
        return [a.user_id for a in obj.assignments.order_by("created_at", "user_id")]

    @extend_schema_field(_UUID_LIST)
    def get_labels(self, obj: Task) -> list[uuid.UUID]:
        ids = getattr(obj, "label_ids", None)
        if ids is not None:
            return list(ids)
        return [label.pk for label in obj.labels.order_by("name", "id")]

    @extend_schema_field(_UUID_LIST)
    def get_blocked_by(self, obj: Task) -> list[uuid.UUID]:
        ids = getattr(obj, "blocked_by_ids", None)
        if ids is not None:
            return list(ids)
        links = obj.blocked_by_links.filter(blocked_by__deleted_at__isnull=True)
        return [link.blocked_by_id for link in links.order_by("created_at", "id")]


# Documented as ``TaskRequest`` / ``PatchedTaskRequest`` next to ``Task``: one
# component family, so the task ``status`` enum gets one name.
@extend_schema_serializer(component_name="Task")
class TaskCreateSerializer(serializers.Serializer):
    """Input of ``POST /api/v1/tasks/``."""

    project = serializers.UUIDField(source="project_id")
    parent = serializers.UUIDField(source="parent_id", required=False, allow_null=True)  # type: ignore[assignment]  # API field name, see note
    title = serializers.CharField(max_length=500)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    status = serializers.ChoiceField(choices=TaskStatus.choices, default=TaskStatus.TODO)
    priority = serializers.ChoiceField(choices=TaskPriority.choices, default=TaskPriority.NONE)
    assignees = serializers.ListField(
        child=serializers.UUIDField(), source="assignee_ids", required=False, max_length=100
    )
    labels = serializers.ListField(
        child=serializers.UUIDField(), source="label_ids", required=False, max_length=100
    )
    estimate_hours = serializers.DecimalField(
        max_digits=8, decimal_places=2, min_value=0, required=False, allow_null=True
    )
    start_date = dates.DateField(required=False, allow_null=True)
    due_date = dates.DateField(required=False, allow_null=True)
    position = serializers.FloatField(required=False, validators=[_finite])


@extend_schema_serializer(component_name="Task")
class TaskUpdateSerializer(TaskCreateSerializer):
    """Input of ``PATCH /api/v1/tasks/{id}/``: any subset of the create fields,
    plus ``force`` (managers+ complete a task whose blockers are open)."""

    project = serializers.UUIDField(source="project_id", required=False)
    title = serializers.CharField(max_length=500, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=TaskStatus.choices, required=False)
    priority = serializers.ChoiceField(choices=TaskPriority.choices, required=False)
    force = serializers.BooleanField(required=False, default=False, write_only=True)


class TaskMoveSerializer(serializers.Serializer):
    """Input of ``POST /api/v1/tasks/{id}/move/``: exactly one of the three."""

    position = serializers.FloatField(required=False, validators=[_finite])
    before = serializers.UUIDField(source="before_id", required=False)
    after = serializers.UUIDField(source="after_id", required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if len(attrs) != 1:
            raise serializers.ValidationError("Give exactly one of position, before or after.")
        return attrs


class TaskDependencyCreateSerializer(serializers.Serializer):
    blocked_by = serializers.UUIDField(source="blocked_by_id")


class TaskDependencySerializer(serializers.ModelSerializer):
    task = serializers.UUIDField(source="task_id")
    blocked_by = serializers.UUIDField(source="blocked_by_id")

    class Meta:
        model = TaskDependency
        fields = ["id", "task", "blocked_by", "created_at"]
        read_only_fields = fields


class TaskCommentSerializer(serializers.ModelSerializer):
    """A comment; ``mentions`` are parsed from ``@[<user id>]`` in the body."""

    task = serializers.UUIDField(source="task_id", read_only=True)
    author = serializers.UUIDField(source="author_id", read_only=True)
    mentions = serializers.ListField(child=serializers.UUIDField(), read_only=True)

    class Meta:
        model = TaskComment
        fields = ["id", "task", "author", "body", "mentions", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {"body": {"max_length": 20_000}}


class TaskActivitySerializer(serializers.ModelSerializer):
    task = serializers.UUIDField(source="task_id")
    actor = serializers.UUIDField(source="actor_id", allow_null=True)
    changes = serializers.DictField(
        child=serializers.ListField(allow_empty=True),
        help_text="{field: [old, new]}",
    )

    class Meta:
        model = TaskActivity
        fields = ["id", "task", "actor", "verb", "changes", "created_at"]
        read_only_fields = fields


class LabelSerializer(serializers.ModelSerializer):
    name = serializers.CharField(max_length=60)
    color = serializers.RegexField(_HEX_COLOR, required=False)

    class Meta:
        model = Label
        fields = ["id", "name", "color", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
