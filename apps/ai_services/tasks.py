"""Celery tasks of the AI services (thin: fetch, call the service, log).

``automation_all_tenants`` runs in the public schema (beat) and sends one
``automation_tenant`` per serving organization from inside that
organization's context, so tenant-schemas-celery runs each in its own schema:
a slow or failing organization never delays the others, and no task ever
sees two schemas.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.core.cache import cache
from django_tenants.utils import get_tenant_model, tenant_context

from tenants.db import current_schema

logger = logging.getLogger(__name__)

#: Organizations whose automation runs (suspended/cancelled ones are read-only).
AUTOMATED_STATUSES = ("trialing", "active", "past_due")


@shared_task(name="ai_services.automation_all_tenants", ignore_result=True)
def automation_all_tenants() -> int:
    """Fan out one ``automation_tenant`` per serving organization."""
    count = 0
    for organization in get_tenant_model().objects.filter(status__in=AUTOMATED_STATUSES):
        with tenant_context(organization):
            automation_tenant.delay()
        count += 1
    return count


@shared_task(name="ai_services.automation_tenant", ignore_result=True)
def automation_tenant() -> dict:
    """Run this organization's enabled rules, then retrain its suggestion
    model if enough new entries arrived (the debounce path of the sweep)."""
    from .automation import automation_run_tenant
    from .services import suggestion_model_needs_training, suggestion_model_train

    runs = automation_run_tenant()
    trained = None
    if suggestion_model_needs_training():
        row = suggestion_model_train()
        trained = row.version if row else None
    return {"runs": len(runs), "trained_version": trained}


@shared_task(name="ai_services.train_suggestion_model", ignore_result=True)
def train_suggestion_model() -> int | None:
    """Train this organization's model (queued, debounced, by the suggestion path)."""
    from .services import suggestion_model_train

    cache.delete(f"ai:train-queued:{current_schema()}")
    row = suggestion_model_train()
    return row.version if row else None
