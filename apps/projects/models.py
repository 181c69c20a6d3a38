"""Clients, projects, project members, milestones and dependencies (tenant schema).

Users live in the public schema. Tenant tables refer to them by ``user_id``
(a UUID column, no foreign key): a database FK across schemas would make
Django's delete collector, running in the public schema, look for these
tenant tables where they do not exist. Membership of a user in the
organization is checked by the services against the public ``Membership``.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from apps.common.models import SoftDeleteModel, TimestampedModel

from .constants import ProjectRole, ProjectStatus


class Client(SoftDeleteModel):
    """A customer of the organization; projects may belong to one."""

    name = models.CharField(max_length=200)
    contact_email = models.EmailField(blank=True)
    notes = models.TextField(blank=True)
    currency = models.CharField(
        max_length=3, blank=True, help_text="Overrides the organization currency when set."
    )
    is_archived = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                condition=models.Q(deleted_at__isnull=True),
                name="projects_client_name_unique_alive",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Project(SoftDeleteModel):
    """A body of work that time is tracked against."""

    name = models.CharField(max_length=200)
    code = models.CharField(max_length=20, blank=True)
    client = models.ForeignKey(
        Client, null=True, blank=True, on_delete=models.PROTECT, related_name="projects"
    )
    description = models.TextField(blank=True)
    color = models.CharField(max_length=7, default="#4f46e5")
    status = models.CharField(
        max_length=20, choices=ProjectStatus.choices, default=ProjectStatus.ACTIVE, db_index=True
    )
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    budget_hours = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    budget_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    hourly_rate = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    billable = models.BooleanField(default=True)
    is_private = models.BooleanField(default=False)
    created_by_id = models.UUIDField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["status", "name"])]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                "client",
                condition=models.Q(deleted_at__isnull=True),
                name="projects_project_name_unique_alive",
            ),
            models.CheckConstraint(
                condition=models.Q(end_date__isnull=True)
                | models.Q(start_date__isnull=True)
                | models.Q(end_date__gte=models.F("start_date")),
                name="projects_project_dates_ordered",
            ),
            models.CheckConstraint(
                condition=models.Q(budget_hours__isnull=True) | models.Q(budget_hours__gte=0),
                name="projects_project_budget_hours_positive",
            ),
            models.CheckConstraint(
                condition=models.Q(budget_amount__isnull=True) | models.Q(budget_amount__gte=0),
                name="projects_project_budget_amount_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ProjectMember(models.Model):
    """A user's place in a project: project role and an optional rate override."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="members")
    user_id = models.UUIDField(db_index=True)
    role = models.CharField(max_length=20, choices=ProjectRole.choices, default=ProjectRole.MEMBER)
    hourly_rate = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["project", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["project", "user_id"], name="projects_member_unique"),
            models.CheckConstraint(
                condition=models.Q(hourly_rate__isnull=True) | models.Q(hourly_rate__gte=0),
                name="projects_member_rate_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.project_id} ({self.role})"


class Milestone(TimestampedModel):
    """A dated checkpoint of a project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="milestones")
    name = models.CharField(max_length=200)
    due_date = models.DateField()
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_date", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.due_date})"


class ProjectDependency(models.Model):
    """Finish-to-start: ``project`` cannot start before ``depends_on`` ends.

    The services refuse links that would close a cycle (409).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="dependencies")
    depends_on = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="dependents")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "depends_on"], name="projects_dependency_unique"
            ),
            models.CheckConstraint(
                condition=~models.Q(project=models.F("depends_on")),
                name="projects_dependency_not_self",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project_id} after {self.depends_on_id}"
