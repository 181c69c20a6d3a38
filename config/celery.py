"""Celery application: tenant-aware (tenant-schemas-celery).

A task sent while a tenant is active carries its schema in the message headers
and runs in that schema on the worker; a task sent from the public schema runs
in public. Periodic jobs that concern tenants iterate them explicitly.
"""

import os

from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

# PublishSafeTask: a broker outage while sending is retried, then logged and
# counted, never raised into a committed request (config/resilience.py).
app = CeleryApp("novatime", task_cls="config.resilience:PublishSafeTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["tenants"])
app.autodiscover_tasks()

# Task id as request id and the task's schema as tenant in logs and Sentry;
# task counters and durations for /metrics (config/observability.py).
from config.observability import connect_celery_signals  # noqa: E402

connect_celery_signals()

# Realtime events a task emitted leave before the task counts as done
# (apps/websocket_server/publisher.py).
from celery.signals import task_postrun  # noqa: E402

from apps.websocket_server.publisher import flush_after_task  # noqa: E402

task_postrun.connect(flush_after_task, weak=False)
