"""Timesheet states."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class TimesheetStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


#: While a sheet is in one of these states its entries are read-only.
LOCKED_STATUSES = frozenset({TimesheetStatus.SUBMITTED, TimesheetStatus.APPROVED})


#: The permission (apps.organizations.permissions.PERMISSIONS) each timesheet
#: action needs, for the API's viewset and the web pages alike.
ACTION_PERMISSIONS = {
    "list": "organization.view",
    "retrieve": "organization.view",
    "create": "time.track",
    "submit": "time.track",
    "withdraw": "time.track",
    "approve": "timesheets.approve",
    "reject": "timesheets.approve",
    "reopen": "timesheets.approve",  # admin+ is checked by the service
    "bulk_approve": "timesheets.approve",
    "overview": "timesheets.approve",
    "export": "timesheets.approve",
}
