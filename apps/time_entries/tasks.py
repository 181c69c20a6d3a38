"""Celery tasks of time entries: rate recompute and forgotten timers.

Thin and idempotent: each fetches what it needs and calls a service. Tasks
sent from a tenant run in its schema (tenant-schemas-celery); the periodic
``*_all_tenants`` task runs in public and fans out one task per serving
organization, so a slow tenant never delays the others.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction

from tenants.db import current_schema, current_tenant

from .models import TimeEntry
from .rates import recompute_amounts_for
from .services.forgotten import forgotten_timers_process

logger = logging.getLogger(__name__)


@shared_task(name="time_entries.recompute_amounts", ignore_result=True)
def recompute_amounts(project_id: str | None = None, user_id: str | None = None) -> int:
    """Re-snapshot rates and amounts after a rate changed (sent after commit
    by :func:`apps.time_entries.rates.enqueue_rate_recompute`); running it
    twice changes nothing the second time. Locked entries keep their snapshot."""
    changed = recompute_amounts_for(project_id=project_id, user_id=user_id)
    logger.info(
        "recomputed %s entries in %s (project=%s user=%s)",
        changed,
        current_schema(),
        project_id,
        user_id,
    )
    return changed


def _email_forgotten(entry: TimeEntry, stopped: bool) -> None:
    """Tell the user after commit (email needs no broker: it is one send)."""
    user = get_user_model().objects.filter(pk=entry.user_id).first()
    if user is None or not user.email:
        return
    organization = current_tenant()
    started = entry.started_at.isoformat(timespec="minutes")
    if stopped:
        assert entry.ended_at is not None  # the service has just stopped it
        body = (
            f"Your timer on “{entry.project.name}” started at {started} was still running. "
            f"It was stopped at {entry.ended_at.isoformat(timespec='minutes')}; "
            "check the entry if that is not right."
        )
    else:
        body = (
            f"Your timer on “{entry.project.name}” has been running since {started}. "
            "Stop it or correct it if you forgot it."
        )
    subject = f"[{organization.name or organization.slug}] Forgotten timer"
    address = user.email
    transaction.on_commit(
        lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address], fail_silently=True)
    )


@shared_task(name="time_entries.forgotten_timers", ignore_result=True)
def forgotten_timers() -> int:
    """Report (and, when the organization says so, stop) forgotten timers of
    the current organization."""
    found = forgotten_timers_process(notify=_email_forgotten)
    return len(found)


@shared_task(name="time_entries.forgotten_timers_all_tenants", ignore_result=True)
def forgotten_timers_all_tenants() -> int:
    """Fan out :func:`forgotten_timers` to every serving organization (one
    task each, bound to its schema). Read-only organizations (suspended,
    cancelled) are skipped: stopping their timers would be a write."""
    from apps.organizations.constants import READ_ONLY_STATUSES, SERVING_STATUSES
    from apps.organizations.models import Organization

    schemas = list(
        Organization.objects.filter(status__in=SERVING_STATUSES - READ_ONLY_STATUSES)
        .order_by("schema_name")
        .values_list("schema_name", flat=True)
    )
    for schema in schemas:
        forgotten_timers.apply_async(headers={"_schema_name": schema})
    return len(schemas)
