"""Provisioning: the three build paths, atomicity, the template and the pool."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import (
    get_tenant_domain_model,
    get_tenant_model,
    schema_context,
    schema_exists,
)

from tenants import provisioning
from tenants.migration_state import fingerprint, migration_leaves
from tenants.models import TemplateSnapshot
from tenants.provisioning import (
    PLACEHOLDER,
    TenantError,
    current_snapshot_sql,
    fill_pool,
    provision_tenant,
    template_schema_name,
)

pytestmark = pytest.mark.django_db


def _catalog(schema: str) -> dict[str, Any]:
    """Everything that makes two schemas 'the same': tables, columns, indexes,
    constraints, sequences and recorded migrations (schema name normalised)."""

    def norm(value: Any) -> Any:
        return re.sub(re.escape(schema), "<schema>", value) if isinstance(value, str) else value

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT table_name, column_name, ordinal_position, data_type, is_nullable,
                   column_default, character_maximum_length, numeric_precision, numeric_scale
            FROM information_schema.columns WHERE table_schema = %s
            ORDER BY table_name, ordinal_position
            """,
            [schema],
        )
        columns = [tuple(norm(v) for v in row) for row in cursor.fetchall()]
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s ORDER BY indexname",
            [schema],
        )
        indexes = [tuple(norm(v) for v in row) for row in cursor.fetchall()]
        cursor.execute(
            """
            SELECT c.conrelid::regclass::text, c.conname, c.contype, pg_get_constraintdef(c.oid)
            FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
            WHERE n.nspname = %s ORDER BY 1, 2
            """,
            [schema],
        )
        constraints = [tuple(norm(v) for v in row) for row in cursor.fetchall()]
        cursor.execute(
            "SELECT sequence_name, data_type, increment FROM information_schema.sequences "
            "WHERE sequence_schema = %s ORDER BY 1",
            [schema],
        )
        sequences = cursor.fetchall()
        cursor.execute(f'SELECT app, name FROM "{schema}".django_migrations ORDER BY app, name')
        migrations = cursor.fetchall()
    return {
        "columns": columns,
        "indexes": indexes,
        "constraints": constraints,
        "sequences": sequences,
        "migrations": migrations,
    }


def test_template_clone_is_identical_to_a_migrated_schema():
    cloned = provision_tenant(slug="clone-a", name="Clone", method="template")
    migrated = provision_tenant(slug="migrated-b", name="Migrated", method="migrate")

    assert cloned.method == "template"
    assert migrated.method == "migrate"
    a = _catalog(cloned.tenant.schema_name)
    b = _catalog(migrated.tenant.schema_name)
    # Non-trivial: the comparison covers real tenant tables, FKs and checks.
    assert {row[0] for row in a["columns"]} >= {"projects_client", "projects_project"}
    assert any(row[2] == "f" for row in a["constraints"])
    assert any(row[2] == "c" for row in a["constraints"])
    assert len(a["indexes"]) >= 5
    assert a == b


def test_provision_creates_row_schema_and_domain():
    result = provision_tenant(slug="newco", name="NewCo", timezone="Europe/Paris")

    tenant = get_tenant_model().objects.get(slug="newco")
    assert result.tenant.pk == tenant.pk
    assert result.domain == "newco.localhost"
    assert tenant.status == "trialing"
    assert tenant.timezone == "Europe/Paris"
    assert tenant.schema_name.startswith("t_") and "newco" not in tenant.schema_name
    assert schema_exists(tenant.schema_name)
    assert list(tenant.domains.values_list("domain", "is_primary")) == [("newco.localhost", True)]
    with schema_context(tenant.schema_name):
        from apps.projects.models import Project

        assert Project.objects.count() == 0


def _org_count() -> int:
    return get_tenant_model().objects.count()


def test_failure_while_creating_the_domain_leaves_nothing(monkeypatch):
    built: list[str] = []
    real_build = provisioning.build_schema

    def spy(schema_name: str, **kwargs: Any) -> str:
        built.append(schema_name)
        return real_build(schema_name, **kwargs)

    def boom(**kwargs: Any) -> None:
        raise RuntimeError("domain insert failed")

    monkeypatch.setattr(provisioning, "build_schema", spy)
    monkeypatch.setattr(get_tenant_domain_model().objects, "create", boom)
    before = _org_count()

    with pytest.raises(RuntimeError):
        provision_tenant(slug="doomed", name="Doomed", method="template")

    assert built and built[0].startswith("t_")
    assert not schema_exists(built[0])
    assert _org_count() == before
    assert not get_tenant_model().objects.filter(slug="doomed").exists()
    assert not get_tenant_domain_model().objects.filter(domain="doomed.localhost").exists()


def test_failure_inside_the_schema_build_leaves_nothing(monkeypatch):
    sql = current_snapshot_sql()
    assert sql is not None
    # The DDL fails half way: tables before the error were created in the same
    # transaction and must disappear with it.
    broken = sql + f"CREATE TABLE {PLACEHOLDER}.broken (id int REFERENCES nowhere(id));\n"
    monkeypatch.setattr(provisioning, "current_snapshot_sql", lambda: broken)
    created: list[str] = []
    real_new = provisioning.new_schema_name
    monkeypatch.setattr(
        provisioning, "new_schema_name", lambda: created.append(real_new()) or created[-1]
    )
    before = _org_count()

    with pytest.raises(Exception, match="nowhere"):
        provision_tenant(slug="halfway", name="Halfway", method="template")

    assert created and not schema_exists(created[0])
    assert _org_count() == before


def test_bad_slug_is_refused_before_anything_is_written():
    before = _org_count()
    with pytest.raises(TenantError) as err:
        provision_tenant(slug="www", name="X")
    assert err.value.code == "slug_reserved"
    with pytest.raises(TenantError) as err:
        provision_tenant(slug="acme", name="X")
    assert err.value.code == "slug_taken"
    assert _org_count() == before


def test_unknown_method_is_a_programming_error():
    with pytest.raises(ValueError):
        provision_tenant(slug="whatever", name="X", method="teleport")


def test_template_is_a_tenant_row_so_migrate_schemas_covers_it():
    template = get_tenant_model().objects.get(schema_name=template_schema_name())
    assert template.status == "template"
    # migrate_schemas iterates every tenant row except public: the template is one.
    iterated = (
        get_tenant_model()
        .objects.exclude(schema_name="public")
        .values_list("schema_name", flat=True)
    )
    assert template_schema_name() in iterated
    assert not get_tenant_model().objects.customers().filter(pk=template.pk).exists()


def test_snapshot_matches_the_code_migration_state():
    snapshot = TemplateSnapshot.objects.get()
    assert snapshot.fingerprint == fingerprint()
    assert PLACEHOLDER in snapshot.sql
    assert template_schema_name() not in snapshot.sql
    assert "set_config" not in snapshot.sql


def test_stale_snapshot_is_never_used(monkeypatch):
    # A migration added to the code changes the fingerprint: the old snapshot no
    # longer applies and provisioning must fall back to running migrations.
    stale_leaves = migration_leaves() | {("projects", "9999_future")}
    monkeypatch.setattr("tenants.migration_state.migration_leaves", lambda: stale_leaves)
    monkeypatch.setattr(provisioning, "_snapshot_cache", {})

    assert current_snapshot_sql() is None
    result = provision_tenant(slug="fallback", name="Fallback", method="template")
    assert result.method == "migrate"
    assert schema_exists(result.tenant.schema_name)


def test_refresh_without_pg_dump_degrades_to_none(monkeypatch, settings):
    settings.NOVATIME_PG_BIN_DIR = "/nonexistent"
    assert provisioning.refresh_template_snapshot() is None
    # The existing snapshot is kept.
    assert TemplateSnapshot.objects.count() == 1


def test_pool_is_claimed_first_and_refilled_on_demand(settings):
    settings.NOVATIME_TENANT_POOL_SIZE = 0  # no refill task from this test
    assert fill_pool(size=2) == 2
    assert fill_pool(size=2) == 0  # idempotent
    pooled = list(
        get_tenant_model().objects.filter(status="pooled").values_list("schema_name", flat=True)
    )
    assert len(pooled) == 2 and all(schema_exists(s) for s in pooled)

    result = provision_tenant(slug="fromthepool", name="From the pool")

    assert result.method == "pool"
    assert result.tenant.schema_name == pooled[0]  # oldest first
    assert result.tenant.status == "trialing"
    assert get_tenant_model().objects.filter(status="pooled").count() == 1
    assert not get_tenant_model().objects.customers().filter(schema_name=pooled[1]).exists()


def test_forced_pool_method_with_an_empty_pool_is_refused():
    with pytest.raises(TenantError) as err:
        provision_tenant(slug="nopool", name="X", method="pool")
    assert err.value.code == "pool_empty"
    assert not get_tenant_model().objects.filter(slug="nopool").exists()


def test_a_pooled_schema_behind_on_migrations_is_not_claimed(monkeypatch):
    fill_pool(size=1)
    monkeypatch.setattr(provisioning, "schemas_with_pending_migrations", lambda schemas: schemas)
    monkeypatch.setattr(provisioning, "current_snapshot_sql", lambda: None)

    result = provision_tenant(slug="notstale", name="X")

    assert result.method == "migrate"
    assert get_tenant_model().objects.filter(status="pooled").count() == 1


def test_delete_tenant_drops_schema_domains_and_row():
    result = provision_tenant(slug="shortlived", name="X")
    schema = result.tenant.schema_name

    provisioning.delete_tenant(result.tenant)

    assert not schema_exists(schema)
    assert not get_tenant_model().objects.filter(slug="shortlived").exists()
    assert not get_tenant_domain_model().objects.filter(domain="shortlived.localhost").exists()


def test_template_and_public_cannot_be_deleted():
    template = get_tenant_model().objects.get(schema_name=template_schema_name())
    with pytest.raises(TenantError) as err:
        provisioning.delete_tenant(template)
    assert err.value.code == "protected"
    assert schema_exists(template_schema_name())


@pytest.mark.parametrize("method", ["template", "pool"])
def test_a_slug_taken_between_check_and_insert_is_slug_taken(monkeypatch, method):
    # Two concurrent signups both pass the availability check; the database's
    # unique constraints refuse the second, which must be a 400, not a 500.
    if method == "pool":
        fill_pool(size=1)
    monkeypatch.setattr(provisioning, "check_slug_available", lambda slug: slug)
    pooled_before = get_tenant_model().objects.filter(status="pooled").count()
    before = _org_count()

    with pytest.raises(TenantError) as err:
        provision_tenant(slug="acme", name="Second Acme", method=method)

    assert err.value.code == "slug_taken"
    assert _org_count() == before
    assert get_tenant_model().objects.filter(status="pooled").count() == pooled_before
    assert get_tenant_model().objects.filter(slug="acme").count() == 1
