"""Test helpers for code that runs in tenant schemas.

Tenants are expensive to build, so the test session builds the template and a
few organizations once (``session_tenants``) and tests share them; each test's
data is rolled back by pytest-django's transaction, schemas stay. This is the
approach django-tenants' own docs recommend over per-class tenant creation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from django.conf import settings
from django.db import connections
from django_tenants.utils import get_tenant_model
from rest_framework.test import APIClient

from .db import current_tenant, tenant_connection
from .provisioning import ensure_template, provision_tenant

if TYPE_CHECKING:
    from pytest_django import DjangoDbBlocker

    from apps.organizations.models import Organization

SESSION_TENANT_SLUGS = ("acme", "globex")


def get_or_create_session_tenant(slug: str) -> Organization:
    tenant = get_tenant_model().objects.filter(slug=slug).first()
    if tenant is None:
        tenant = provision_tenant(slug=slug, name=slug.capitalize(), status="active").tenant
    return tenant


def build_session_tenants() -> dict[str, Organization]:
    ensure_template()
    return {slug: get_or_create_session_tenant(slug) for slug in SESSION_TENANT_SLUGS}


def host_for(tenant: Organization | None) -> str:
    base = settings.NOVATIME_BASE_DOMAIN
    return base if tenant is None else f"{tenant.slug}.{base}"


class TenantAPIClient(APIClient):
    """An ``APIClient`` whose requests go to one host (a tenant's or public;
    ``HTTP_HOST=`` overrides it).

    After each request the connection is put back on the schema the test was
    in: the tenant middleware (rightly) leaves it on ``public``, and a test body
    running in a tenant schema reads that tenant's rows between requests.
    """

    def __init__(self, tenant: Organization | None = None, **defaults: Any) -> None:
        defaults.setdefault("HTTP_HOST", host_for(tenant))
        super().__init__(**defaults)
        self.tenant = tenant

    def request(self, **kwargs: Any) -> Any:
        before = current_tenant()
        try:
            return super().request(**kwargs)
        finally:
            tenant_connection().set_tenant(before)


def database_url() -> str:
    """URL of the database this process uses (the test database under pytest),
    for tests that run ``manage.py`` in a subprocess."""
    from django.db import connection

    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def advisory_lock_free_elsewhere(key: str) -> bool:
    """Whether another session could take the advisory lock ``key`` (as
    ``tenants.locks.XACT_LOCK_SQL`` takes it) right now."""
    import psycopg

    with psycopg.connect(database_url(), autocommit=False) as other:
        row = other.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", [key]).fetchone()
    return bool(row and row[0])


def manage_env(**extra: str) -> dict[str, str]:
    """Environment for a ``manage.py`` subprocess on the test database."""
    import os

    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        **extra,
    }


T = TypeVar("T")


def committed(blocker: DjangoDbBlocker, work: Callable[[], T]) -> T:
    """Run ``work`` on a fresh connection in autocommit mode and return its result.

    Tests run inside a transaction that is rolled back; what another process
    (a live server, a Celery worker) or a racing connection must see has to be
    committed. Django connections are per thread, so ``work`` runs in a worker
    thread (``blocker`` is pytest-django's ``django_db_blocker``); its
    exception is re-raised here.
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc
        finally:
            connections.close_all()

    with blocker.unblock():
        worker = threading.Thread(target=run, name="committed-work")
        worker.start()
        worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
