"""Timesheet states."""

from django.db import models


class TimesheetStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


#: While a sheet is in one of these states its entries are read-only.
LOCKED_STATUSES = frozenset({TimesheetStatus.SUBMITTED, TimesheetStatus.APPROVED})
