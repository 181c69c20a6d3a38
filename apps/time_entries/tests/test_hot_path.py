"""Guards of the timer's hot path (apps/time_entries/hot_path.py).

The hot path skips ``save()`` and compiles its queries once; it stays correct
only while what it leans on holds. Each test here fails loudly, naming the
assumption, the day one of them breaks: a ``save()`` override or a save
receiver on ``TimeEntry``, another ``auto_now`` field, a renamed column, or a
Django / django-tenants internal that changed its name or signature.
"""

from __future__ import annotations

import datetime
import inspect
import uuid
from decimal import Decimal

import pytest
from django.contrib.postgres.fields import ArrayField
from django.db import connection, connections, models, router
from django.db.backends.base.introspection import BaseDatabaseIntrospection
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models.base import ModelState
from django.db.models.signals import post_save, pre_save
from django.db.models.sql.compiler import SQLCompiler
from django.db.models.sql.query import Query
from django_tenants.postgresql_backend.base import DatabaseWrapper as TenantDatabaseWrapper
from django_tenants.utils import tenant_context

from apps.common.prepared import PreparedQueryError
from apps.projects.models import Project
from apps.projects.tests.factories import ProjectFactory
from apps.tasks.models import Task
from apps.time_entries import hot_path
from apps.time_entries.hot_path import STOP_FIELDS, insert_new
from apps.time_entries.models import TimeEntry
from tenants.db import current_schema, current_tenant
from tenants.locks import XACT_LOCK_SQL, tenant_lock_key

pytestmark = pytest.mark.django_db


def _parameters(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


# --- TimeEntry: nothing that save() would run is skipped ------------------------------


def test_time_entry_has_no_save_override():
    """``insert_new`` and the stop's UPDATE write without ``save()``: an
    override would silently not run for timers."""
    overriding = [
        klass.__qualname__
        for klass in TimeEntry.__mro__
        if klass is not models.Model and "save" in vars(klass)
    ]
    assert overriding == [], f"save() overridden in {overriding}: the hot path skips it"


def test_time_entry_has_no_save_receivers():
    """A ``pre_save``/``post_save`` receiver would never hear of a started or
    stopped timer (``insert_new`` also refuses at run time, see below)."""
    assert not pre_save.has_listeners(TimeEntry)
    assert not post_save.has_listeners(TimeEntry)


def test_updated_at_is_the_only_auto_now_field():
    """The stop's UPDATE sets ``updated_at`` itself, as ``save()`` would; any
    other ``auto_now`` field would be left stale."""
    auto_now = [f.name for f in TimeEntry._meta.concrete_fields if getattr(f, "auto_now", False)]
    assert auto_now == ["updated_at"]


def test_the_columns_the_raw_statements_name_exist():
    """The stop's UPDATE and the heartbeat's write columns by name."""
    columns = {f.name: f.column for f in TimeEntry._meta.concrete_fields}
    named = {*STOP_FIELDS, "id", "user_id", "started_at", "last_activity_at", "deleted_at"}
    assert {name: columns.get(name) for name in named} == {name: name for name in named}
    assert TimeEntry._meta.db_table == "time_entries_timeentry"


def test_no_field_needs_what_insert_new_cannot_do():
    """``insert_new`` writes every local concrete field from its Python value:
    no generated column and no database default it would override."""
    for field in TimeEntry._meta.local_concrete_fields:
        assert not field.generated, field.name
        assert field.db_default is models.NOT_PROVIDED, field.name


# --- insert_new ------------------------------------------------------------------------


def test_insert_new_writes_what_save_writes(in_tenant):
    """Every column as ``save()`` would write it (defaults, auto_now, arrays,
    decimals, nulls); with ``unless`` the row is written only when the
    guard query finds nothing."""
    project = ProjectFactory()
    start = datetime.datetime(2026, 11, 2, 9, tzinfo=datetime.UTC)

    def entry(**kw):
        return TimeEntry(
            user_id=uuid.uuid4(),
            project=project,
            started_at=start,
            tags=["Client A", "réunion"],
            hourly_rate=Decimal("87.50"),
            **kw,
        )

    saved, inserted = entry(), entry()
    saved.save()
    assert insert_new(inserted, unless=("SELECT 1 WHERE false", [])) is True
    assert not inserted._state.adding

    def row(pk):
        return {
            k: v
            for k, v in TimeEntry.all_objects.filter(pk=pk).values().get().items()
            if k not in ("id", "user_id", "created_at", "updated_at")
        }

    assert row(inserted.pk) == row(saved.pk)
    stored = TimeEntry.all_objects.get(pk=inserted.pk)
    assert stored.updated_at == inserted.updated_at  # auto_now applied, as save() does

    refused = entry()
    sql, params = Project.objects.filter(pk=project.pk).values("id").query.sql_with_params()
    assert insert_new(refused, unless=(sql, list(params))) is False
    assert refused._state.adding
    assert not TimeEntry.all_objects.filter(pk=refused.pk).exists()


def test_insert_new_refuses_a_model_with_save_receivers(in_tenant):
    """A receiver added later must not silently miss the rows written here."""

    def receiver(**kwargs):
        pass

    post_save.connect(receiver, sender=TimeEntry, weak=False)
    try:
        entry = TimeEntry(
            user_id=uuid.uuid4(),
            project=ProjectFactory(),
            started_at=datetime.datetime(2026, 11, 2, 9, tzinfo=datetime.UTC),
        )
        with pytest.raises(PreparedQueryError, match="save signal"):
            insert_new(entry)
    finally:
        post_save.disconnect(receiver, sender=TimeEntry)


# --- Django internals (hot_path.py and apps/common/prepared.py) -------------------------


def test_django_internals_keep_their_signatures():
    """Private or semi-private Django API the hot path and ``PreparedQuery``
    call, with the parameters they pass."""
    assert _parameters(Query.sql_with_params) == ["self"]
    assert _parameters(Query.get_compiler)[:3] == ["self", "using", "connection"]
    assert _parameters(SQLCompiler.get_converters) == ["self", "expressions"]
    assert _parameters(models.Model.from_db) == ["db", "field_names", "values"]
    assert _parameters(models.Field.get_col)[:2] == ["self", "alias"]
    assert _parameters(models.Field.pre_save) == ["self", "model_instance", "add"]
    assert _parameters(models.Field.get_db_prep_save) == ["self", "value", "connection"]
    assert _parameters(ArrayField.get_placeholder) == ["self", "value", "compiler", "connection"]
    assert _parameters(BaseDatabaseIntrospection.identifier_converter) == ["self", "name"]
    assert _parameters(BaseDatabaseOperations.quote_name) == ["self", "name"]
    assert _parameters(router.db_for_write)[:1] == ["model"]
    assert {"db", "adding"} <= set(vars(ModelState))
    for attribute in ("concrete_fields", "local_concrete_fields", "fields", "pk", "db_table"):
        assert hasattr(TimeEntry._meta, attribute), attribute
    assert all(hasattr(f, "generated") for f in TimeEntry._meta.local_concrete_fields)


def test_converters_are_called_as_prepared_query_calls_them(in_tenant):
    """``PreparedQuery`` reads rows through ``get_converters``: a mapping of
    position → (converters, expression), each called (value, expression,
    connection)."""
    queryset = TimeEntry.objects.filter(pk=uuid.uuid4())
    compiler = queryset.query.get_compiler(using=queryset.db)
    # A JSON value is converted on the way out (JSONField.from_db_value).
    converters = compiler.get_converters([models.Value("{}", output_field=models.JSONField())])
    assert list(converters) == [0]
    functions, expression = converters[0]
    assert isinstance(expression, models.Value)
    for function in functions:
        assert _parameters(function)[-3:] == ["value", "expression", "connection"]
        assert function("{}", expression, connection) == {}


def test_the_running_entry_is_read_with_its_names(in_tenant):
    """``running_locked`` builds the project and task with ``Model.from_db``
    from columns of the same row, leaving the other fields deferred."""
    from django.db import transaction

    from apps.tasks.tests.factories import TaskFactory

    project = ProjectFactory(name="Apollo", color="#123456")
    task = TaskFactory(project=project, title="Design")
    user_id = uuid.uuid4()
    TimeEntry.objects.create(
        user_id=user_id,
        project=project,
        task=task,
        started_at=datetime.datetime(2026, 11, 2, 9, tzinfo=datetime.UTC),
    )
    with transaction.atomic():
        entry = hot_path.running_locked(user_id)
    assert entry is not None
    assert isinstance(entry.project, Project) and isinstance(entry.task, Task)
    assert (entry.project.name, entry.project.color, entry.task.title) == (
        "Apollo",
        "#123456",
        "Design",
    )
    assert entry.project.get_deferred_fields() >= {"hourly_rate", "status"}


# --- django-tenants -----------------------------------------------------------------------


def test_django_tenants_keeps_the_connection_state_the_hot_path_reads(tenant, other_tenant):
    """The lock key and the organization's settings come from the
    connection's ``schema_name`` and ``tenant``, which django-tenants'
    ``set_tenant`` keeps (``tenants.db``)."""
    assert _parameters(TenantDatabaseWrapper.set_tenant) == ["self", "tenant", "include_public"]
    assert isinstance(connections["default"], TenantDatabaseWrapper)
    for organization in (tenant, other_tenant):
        with tenant_context(organization):
            assert connection.schema_name == organization.schema_name
            assert current_schema() == organization.schema_name
            assert current_tenant() is organization or current_tenant().pk == organization.pk


def test_the_lock_key_names_the_schema(tenant, other_tenant):
    """The advisory lock the timer's project query takes (``XACT_LOCK_SQL``)
    is per organization: the schema is part of the key."""
    from django.db import transaction

    assert "pg_advisory_xact_lock" in XACT_LOCK_SQL  # released at commit or rollback
    keys = []
    for organization in (tenant, other_tenant):
        with tenant_context(organization), transaction.atomic():
            keys.append(tenant_lock_key("time:x"))
    assert keys == [f"{tenant.schema_name}:time:x", f"{other_tenant.schema_name}:time:x"]
