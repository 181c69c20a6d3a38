"""``tenants migrate`` answers "does this schema have django_migrations?" by
name lookup (``to_regclass``) instead of Django's whole-catalog introspection,
with the same answers."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django_tenants.utils import schema_context

from tenants.management.commands.tenants import _schema_has_migrations_table

pytestmark = pytest.mark.django_db


def _both(schema: str) -> tuple[bool, bool]:
    with schema_context(schema):
        django_answer = MigrationRecorder(connection).has_table()
        ours = _schema_has_migrations_table(MigrationRecorder(connection))
    return django_answer, ours


def test_same_answer_as_django_for_a_migrated_schema(tenant):
    assert _both(tenant.schema_name) == (True, True)


def test_same_answer_for_a_schema_without_the_table():
    with connection.cursor() as cursor:
        cursor.execute("CREATE SCHEMA t_empty_probe")
    # Django's introspection for a tenant schema looks at that schema only:
    # public's django_migrations must not count.
    assert _both("t_empty_probe") == (False, False)


def test_same_answer_for_public():
    assert _both("public") == (True, True)


def test_a_schema_name_needing_quotes(tenant):
    with connection.cursor() as cursor:
        cursor.execute('CREATE SCHEMA "t_Mixed Case"')
        cursor.execute('CREATE TABLE "t_Mixed Case".django_migrations (id int)')
    with schema_context("t_Mixed Case"):
        assert _schema_has_migrations_table(MigrationRecorder(connection)) is True


def test_tenants_migrate_restores_djangos_method(tenant):
    from tenants.management.commands.tenants import _migrate_schema

    original = MigrationRecorder.has_table
    schema, _ms, error = _migrate_schema(tenant.schema_name)
    assert error is None and schema == tenant.schema_name
    assert MigrationRecorder.has_table is original
