"""Clients and projects (tenant schema).

The first tenant tables: they give the template/clone machinery real tables,
indexes, foreign keys and check constraints to copy. The API arrives with the
projects issue.
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Lower

from apps.common.models import SoftDeleteModel

from .constants import ProjectStatus


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

    class Meta:
        ordering = ["name"]
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
