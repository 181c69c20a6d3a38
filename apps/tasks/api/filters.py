"""Query parameters of ``GET /api/v1/tasks/`` (django-filter).

Every filter keeps the list at one row per task: assignee and label filters
use ``EXISTS`` instead of joins, so they never duplicate rows or need
``DISTINCT`` (which would fight the ordering and the pagination count).
"""

from __future__ import annotations

import uuid

from django.db.models import Exists, F, OuterRef, QuerySet
from django_filters import rest_framework as filters

from apps.common import dates
from apps.tasks.constants import TaskPriority, TaskStatus
from apps.tasks.models import Task, TaskAssignee
from apps.tasks.selectors import ILike, contains_pattern


class TaskOrderingFilter(filters.OrderingFilter):
    """``ordering`` with stable tie-breakers, so equal keys never make a task
    appear on two pages (or none)."""

    def filter(self, qs: QuerySet[Task], value: list[str] | None) -> QuerySet[Task]:
        if not value:
            return qs
        ordering = [self.get_ordering_value(param) for param in value]
        return qs.order_by(*ordering, "position", "created_at", "id")


class TaskFilter(filters.FilterSet):
    """``project``, ``status`` and ``priority`` (repeatable: ``?status=todo&status=done``),
    ``assignee``, ``label``, ``parent``, ``due_before``/``due_after`` (inclusive),
    ``search`` (title contains, case-insensitive) and ``ordering``."""

    project = filters.UUIDFilter(field_name="project")
    # distinct=False: these filter columns of the task row itself; django-filter's
    # default DISTINCT would sort every matching row on every column.
    status = filters.MultipleChoiceFilter(choices=TaskStatus.choices, distinct=False)
    priority = filters.MultipleChoiceFilter(choices=TaskPriority.choices, distinct=False)
    assignee = filters.UUIDFilter(method="filter_assignee", label="Assigned to this user id.")
    label = filters.UUIDFilter(method="filter_label", label="Has this label id.")
    parent = filters.UUIDFilter(field_name="parent", label="Subtasks of this task id.")
    due_before = dates.DateFilter(field_name="due_date", lookup_expr="lte")
    due_after = dates.DateFilter(field_name="due_date", lookup_expr="gte")
    search = filters.CharFilter(method="filter_search", label="Title contains (any case).")
    ordering = TaskOrderingFilter(
        fields=(
            ("position", "position"),
            ("created_at", "created_at"),
            ("due_date", "due_date"),
            ("priority_rank", "priority"),
            ("updated_at", "updated_at"),
        ),
        help_text="position, created_at, due_date, priority, updated_at; '-' for descending.",
    )

    class Meta:
        model = Task
        fields: list[str] = []

    def filter_assignee(self, qs: QuerySet[Task], name: str, value: uuid.UUID) -> QuerySet[Task]:
        return qs.filter(Exists(TaskAssignee.objects.filter(task=OuterRef("pk"), user_id=value)))

    def filter_label(self, qs: QuerySet[Task], name: str, value: uuid.UUID) -> QuerySet[Task]:
        through = Task.labels.through
        return qs.filter(Exists(through.objects.filter(task_id=OuterRef("pk"), label_id=value)))

    def filter_search(self, qs: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        """``title ILIKE '%value%'``: served by the trigram index on ``title``
        (Django's ``icontains`` would compile to ``UPPER(title) LIKE``, which
        that index cannot serve)."""
        value = value.strip()
        return qs.filter(ILike(F("title"), contains_pattern(value))) if value else qs
