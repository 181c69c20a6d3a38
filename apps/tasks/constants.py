"""Choices for tasks."""

from django.db import models


class TaskStatus(models.TextChoices):
    BACKLOG = "backlog", "Backlog"
    TODO = "todo", "To do"
    IN_PROGRESS = "in_progress", "In progress"
    IN_REVIEW = "in_review", "In review"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


#: Statuses in which a task is finished (``completed_at`` is set).
CLOSED_STATUSES = frozenset({TaskStatus.DONE, TaskStatus.CANCELLED})


class TaskPriority(models.TextChoices):
    NONE = "none", "None"
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class ActivityVerb(models.TextChoices):
    CREATED = "created", "Created"
    UPDATED = "updated", "Updated"
    STATUS_CHANGED = "status_changed", "Status changed"
    ASSIGNED = "assigned", "Assigned"
    UNASSIGNED = "unassigned", "Unassigned"
    COMMENTED = "commented", "Commented"
    DEPENDENCY_ADDED = "dependency_added", "Dependency added"
    DEPENDENCY_REMOVED = "dependency_removed", "Dependency removed"
    DELETED = "deleted", "Deleted"
    RESTORED = "restored", "Restored"
