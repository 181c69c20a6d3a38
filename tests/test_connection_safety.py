"""The connection's schema is right on every query: tenant switches on one
connection, errors, rollbacks, reconnects and Django's psycopg pool."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django_tenants.utils import tenant_context

from apps.projects.models import Client
from apps.projects.tests.factories import ClientFactory
from tenants.testing import manage_env

pytestmark = pytest.mark.django_db


def _current_schema() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        return cursor.fetchone()[0]


def test_one_connection_serving_tenants_in_turn(tenant, other_tenant):
    with tenant_context(tenant):
        ClientFactory(name="A only")
    for _ in range(3):
        with tenant_context(tenant):
            assert _current_schema() == tenant.schema_name
            assert list(Client.objects.values_list("name", flat=True)) == ["A only"]
        with tenant_context(other_tenant):
            assert _current_schema() == other_tenant.schema_name
            assert Client.objects.count() == 0
        assert _current_schema() == "public"


def test_schema_is_right_after_an_integrity_error_rollback(tenant, other_tenant):
    with tenant_context(tenant):
        ClientFactory(name="Dup")
        with pytest.raises(IntegrityError), transaction.atomic():
            ClientFactory(name="dup")  # case-insensitive unique
        assert _current_schema() == tenant.schema_name
        assert Client.objects.count() == 1
    with tenant_context(other_tenant):
        assert _current_schema() == other_tenant.schema_name


def test_a_set_rolled_back_with_its_savepoint_is_reissued(tenant, other_tenant):
    # A SET inside a transaction that rolls back is undone by PostgreSQL; the
    # backend must not trust its cached search_path afterwards.
    with tenant_context(tenant):
        assert _current_schema() == tenant.schema_name
        with pytest.raises(RuntimeError), transaction.atomic():
            with tenant_context(other_tenant):
                assert _current_schema() == other_tenant.schema_name
            raise RuntimeError("roll back")
        assert _current_schema() == tenant.schema_name


def test_schema_is_right_after_a_database_error(tenant):
    with tenant_context(tenant):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT * FROM table_that_does_not_exist")
        assert _current_schema() == tenant.schema_name
        assert Client.objects.count() == 0


def test_view_error_does_not_leak_the_schema(tenant_client, monkeypatch):
    from apps.common.api import views

    def boom(self, request):
        raise RuntimeError("view crashed")

    monkeypatch.setattr(views.HostMetaView, "get", boom)
    tenant_client.raise_request_exception = False
    response = tenant_client.get("/api/v1/meta/")
    assert response.status_code == 500
    assert connection.schema_name == "public"
    assert _current_schema() == "public"


_POOL_SCRIPT = textwrap.dedent(
    """
    import django, os
    django.setup()
    from django.db import connection, connections
    from django_tenants.utils import get_tenant_model, tenant_context
    assert connection.settings_dict["OPTIONS"].get("pool"), "pool not enabled"
    tenants = list(get_tenant_model().objects.filter(slug__in=["acme", "globex"]).order_by("slug"))
    seen = []
    for round_ in range(20):
        for tenant in tenants:
            with tenant_context(tenant):
                with connection.cursor() as cursor:
                    cursor.execute("SELECT current_schema(), pg_backend_pid()")
                    schema, pid = cursor.fetchone()
                assert schema == tenant.schema_name, (schema, tenant.schema_name)
                seen.append(pid)
            # Return the connection to the pool; the next checkout may be another
            # physical connection whose session still has the last search_path.
            connection.close()
            with connection.cursor() as cursor:
                cursor.execute("SELECT current_schema()")
                assert cursor.fetchone()[0] == "public"
            connection.close()
    print("ok", len(set(seen)))
    """
)


@pytest.mark.slow
def test_pooled_connections_never_carry_a_schema_over():
    env = manage_env(DB_POOL="1")
    result = subprocess.run(
        [sys.executable, "-c", _POOL_SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("ok ")
