"""Tasks, labels, assignees, dependencies, comments and activity (tenant schema).

Users are referred to by ``user_id``/``author_id``/``actor_id`` UUID columns,
not foreign keys (they live in the public schema; see apps/projects/models.py).
"""

from __future__ import annotations

import uuid

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from apps.common.models import SoftDeleteModel, TimestampedModel
from apps.projects.models import Project

from .constants import ActivityVerb, TaskPriority, TaskStatus


class Label(TimestampedModel):
    """A tag for tasks, shared by the organization's projects."""

    name = models.CharField(max_length=60)
    color = models.CharField(max_length=7, default="#64748b")

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="tasks_label_name_unique")]

    def __str__(self) -> str:
        return self.name


class Task(SoftDeleteModel):
    """A work item of a project; subtasks hang from ``parent`` (no cycles)."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="tasks")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    title = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=TaskStatus.choices, default=TaskStatus.TODO)
    priority = models.CharField(
        max_length=10, choices=TaskPriority.choices, default=TaskPriority.NONE
    )
    reporter_id = models.UUIDField(null=True, blank=True)
    estimate_hours = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    start_date = models.DateField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True)
    position = models.FloatField(default=65535.0, help_text="Manual ordering within a list.")
    completed_at = models.DateTimeField(null=True, blank=True)
    labels = models.ManyToManyField(Label, blank=True, related_name="tasks")

    class Meta:
        ordering = ["position", "created_at"]
        indexes = [
            models.Index(fields=["project", "status", "position"]),
            models.Index(fields=["status", "priority"]),
            models.Index(fields=["due_date"]),
            # the list's default order, over live tasks: top-N without a sort
            models.Index(
                fields=["position", "created_at", "id"],
                condition=models.Q(deleted_at__isnull=True),
                name="tasks_task_live_order",
            ),
            # search: title ILIKE '%…%' (pg_trgm lives in public, tenants/migrations/0002)
            GinIndex(fields=["title"], name="tasks_task_title_trgm", opclasses=["gin_trgm_ops"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(due_date__isnull=True)
                | models.Q(start_date__isnull=True)
                | models.Q(due_date__gte=models.F("start_date")),
                name="tasks_task_dates_ordered",
            ),
            models.CheckConstraint(
                condition=models.Q(estimate_hours__isnull=True) | models.Q(estimate_hours__gte=0),
                name="tasks_task_estimate_positive",
            ),
            models.CheckConstraint(
                condition=~models.Q(parent=models.F("id")), name="tasks_task_not_own_parent"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class TaskAssignee(models.Model):
    """A user assigned to a task (a member of the organization)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="assignments")
    user_id = models.UUIDField(db_index=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["task", "user_id"], name="tasks_assignee_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.task_id}"


class TaskDependency(models.Model):
    """``task`` is blocked by ``blocked_by`` (no cycles; checked by the services)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="blocked_by_links")
    blocked_by = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="blocking_links")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["task", "blocked_by"], name="tasks_dependency_unique"),
            models.CheckConstraint(
                condition=~models.Q(task=models.F("blocked_by")), name="tasks_dependency_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task_id} blocked by {self.blocked_by_id}"


class TaskComment(SoftDeleteModel):
    """A comment; ``mentions`` holds the user ids of members it mentions."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="comments")
    author_id = models.UUIDField()
    body = models.TextField()
    mentions = ArrayField(models.UUIDField(), default=list, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [GinIndex(fields=["mentions"], name="tasks_comment_mentions_gin")]

    def __str__(self) -> str:
        return f"comment on {self.task_id} by {self.author_id}"


class TaskActivity(models.Model):
    """Who changed what on a task, and when. Written by the services only."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="activities")
    actor_id = models.UUIDField(null=True, blank=True)
    verb = models.CharField(max_length=30, choices=ActivityVerb.choices)
    changes = models.JSONField(default=dict, blank=True, help_text="{field: [old, new]}")
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.verb} {self.task_id} by {self.actor_id}"
