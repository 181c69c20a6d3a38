"""Choices for projects."""

from django.db import models


class ProjectStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    ACTIVE = "active", "Active"
    ON_HOLD = "on_hold", "On hold"
    COMPLETED = "completed", "Completed"
    ARCHIVED = "archived", "Archived"


class ProjectRole(models.TextChoices):
    """A member's role inside one project (on top of their organization role)."""

    LEAD = "lead", "Lead"
    MEMBER = "member", "Member"
