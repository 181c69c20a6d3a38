"""Celery tasks run in the tenant they were sent from (real worker, real Redis)."""

from __future__ import annotations

import time
import uuid

import pytest
from celery import shared_task
from celery.contrib.testing.worker import start_worker
from django.core.cache import cache
from django.db import connection
from django_tenants.utils import tenant_context

from config.celery import app

pytestmark = pytest.mark.django_db


@shared_task(name="tests.report_schema")
def report_schema(token: str) -> None:
    """Record which schema the worker's own connection is in when the task runs."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        cache.set(f"celery-test:{token}", cursor.fetchone()[0], 60)


def _wait_for(key: str, timeout: float = 10.0) -> str | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cache.get(key)
        if value is not None:
            return value
        time.sleep(0.05)
    return None


@pytest.fixture(scope="module")
def celery_worker_thread():
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield


def test_task_runs_in_the_schema_it_was_sent_from(celery_worker_thread, tenant, other_tenant):
    tokens = {}
    for t in (tenant, other_tenant, tenant):
        token = uuid.uuid4().hex
        with tenant_context(t):
            report_schema.delay(token)
        tokens[token] = t.schema_name
    public_token = uuid.uuid4().hex
    report_schema.delay(public_token)

    for token, schema in tokens.items():
        assert _wait_for(f"celery-test:{token}") == schema
    assert _wait_for(f"celery-test:{public_token}") == "public"


def test_pool_refill_task_is_registered():
    assert "tenants.pool_refill" in app.tasks
