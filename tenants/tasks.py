"""Celery tasks of the tenancy layer (run in the public schema)."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="tenants.pool_refill", ignore_result=True)
def pool_refill() -> int:
    """Keep ``NOVATIME_TENANT_POOL_SIZE`` spare schemas ready for signups.

    Idempotent: it only creates what is missing, and concurrent runs cannot
    over-fill by more than one schema each (they count before building).
    """
    from .provisioning import fill_pool

    return fill_pool()
