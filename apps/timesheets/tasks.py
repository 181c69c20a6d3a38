"""Celery tasks of timesheets: the hourly reminder/auto-submit sweep.

``timesheets.reminders_all_tenants`` (beat, public schema) enqueues one
``timesheets.reminders_for_tenant`` per organization that is a customer and
may be written to; tenant-schemas-celery carries the schema in the message,
so each run sees exactly one organization and a slow one delays no other.
Both are idempotent (see :func:`apps.timesheets.reminders.timesheet_reminders_run`).
"""

from __future__ import annotations

import logging

from celery import shared_task
from django_tenants.utils import tenant_context

logger = logging.getLogger(__name__)


@shared_task(name="timesheets.reminders_all_tenants", ignore_result=True)
def reminders_all_tenants() -> int:
    """Fan out one reminder run per writable customer organization."""
    from apps.organizations.constants import READ_ONLY_STATUSES, SERVING_STATUSES
    from apps.organizations.models import Organization

    organizations = (
        Organization.objects.customers()
        .filter(status__in=SERVING_STATUSES)
        .exclude(status__in=READ_ONLY_STATUSES)
    )
    count = 0
    for organization in organizations.iterator():
        with tenant_context(organization):
            reminders_for_tenant.delay()
        count += 1
    logger.info("timesheet reminders queued for %d organizations", count)
    return count


@shared_task(name="timesheets.reminders_for_tenant", ignore_result=True)
def reminders_for_tenant() -> dict[str, int]:
    """Reminders and auto-submission for the current tenant's closed period."""
    from .reminders import timesheet_reminders_run

    stats = timesheet_reminders_run()  # one transaction per sheet: locks stay short
    logger.info("timesheet reminders: %s", stats)
    return stats
