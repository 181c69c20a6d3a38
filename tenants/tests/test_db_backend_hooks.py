"""Guards for tenants/db_backend: the private django-tenants and Django hooks it
overrides or leans on are still there, with the same shape and the behaviour
its docstring counts on.

tenants/db_backend/base.py skips ``SET search_path`` when the session
certainly holds the path; that is only safe while django-tenants forgets its
record (``search_path_set_schemas``) exactly where the wrapper expects it to,
and while a pooled psycopg connection travels back and forth as the same
object. An upgrade of either library that changes one of these facts fails
here, naming it, before tests/isolation/test_pooled_search_path.py has to
catch a tenant's query on another tenant's schema. When a test here fails,
re-read the wrapper against the new library code, then update the test.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from importlib import metadata

import pytest
from django.conf import settings
from django.db import connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.postgresql import base as django_pg
from django_tenants import utils as tenants_utils
from django_tenants.postgresql_backend import base as tenants_base
from psycopg.pq import TransactionStatus

from tenants.db_backend import base as ours

#: The versions the wrapper was last read against (major.minor).
REVIEWED = {"django": "5.2", "django-tenants": "4.0"}


def _shape(func: Callable[..., object]) -> list[tuple[str, object, object]]:
    """Parameter names, kinds and defaults (annotations left out: django-tenants has none)."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(func).parameters.values()]


def _source(cls: type, name: str) -> str:
    return inspect.getsource(inspect.getattr_static(cls, name))


@pytest.mark.parametrize("dist", sorted(REVIEWED))
def test_the_installed_versions_are_the_reviewed_ones(dist):
    installed = ".".join(metadata.version(dist).split(".")[:2])
    assert installed == REVIEWED[dist], (
        f"{dist} {metadata.version(dist)}: re-read tenants/db_backend/base.py against it "
        "(the hooks below), then update REVIEWED"
    )


def test_the_engine_is_this_wrapper_over_the_pool_check_backend():
    assert settings.DATABASES["default"]["ENGINE"] == "tenants.db_backend"
    assert type(connections["default"]) is ours.DatabaseWrapper
    # django-tenants builds on ORIGINAL_BACKEND (config/db_backend), itself on Django's.
    assert tenants_base.original_backend.__name__ == f"{settings.ORIGINAL_BACKEND}.base"
    mro = ours.DatabaseWrapper.__mro__
    assert mro.index(tenants_base.DatabaseWrapper) < mro.index(django_pg.DatabaseWrapper)


@pytest.mark.parametrize(
    ("parent", "name"),
    [
        (tenants_base.DatabaseWrapper, "set_tenant"),
        (tenants_base.DatabaseWrapper, "_handle_search_path"),
        (tenants_base.DatabaseWrapper, "close"),
        (django_pg.DatabaseWrapper, "get_new_connection"),
        (BaseDatabaseWrapper, "_commit"),
    ],
)
def test_every_overridden_method_still_exists_with_the_same_parameters(parent, name):
    assert name in vars(parent), f"{parent.__module__}.{parent.__name__}.{name} is gone"
    assert _shape(getattr(ours.DatabaseWrapper, name)) == _shape(getattr(parent, name))


def test_django_tenants_keeps_its_record_in_a_plain_attribute():
    """The wrapper turns ``search_path_set_schemas`` into a property: the
    parent must assign it (and ``_setting_search_path``, ``schema_name``) as
    plain instance attributes, not define them on the class."""
    for name in ("search_path_set_schemas", "_setting_search_path", "schema_name"):
        assert name not in vars(tenants_base.DatabaseWrapper), name
    init = _source(tenants_base.DatabaseWrapper, "__init__")
    assert "self.search_path_set_schemas = None" in init
    assert "self._setting_search_path = False" in init
    assert "self.schema_name = None" in init


@pytest.mark.parametrize("name", ["set_tenant", "close", "rollback", "savepoint_rollback"])
def test_django_tenants_forgets_its_record_where_the_wrapper_expects(name):
    """set_tenant forgets it (the wrapper keeps the session's path through
    that one); closing and every rollback forget it (the wrapper forgets the
    session's path with it)."""
    assert "self.search_path_set_schemas = None" in _source(tenants_base.DatabaseWrapper, name)


def test_django_tenants_sends_the_set_from_handle_search_path():
    cursor = _source(tenants_base.DatabaseWrapper, "_cursor")
    assert "self._handle_search_path(" in cursor
    handle = _source(tenants_base.DatabaseWrapper, "_handle_search_path")
    # The skips the wrapper's own skip sits in front of ...
    assert "if self._setting_search_path:" in handle
    assert "get_limit_set_calls() and self.search_path_set_schemas" in handle
    # ... the path it compares with the session's ...
    assert "search_paths = self._get_cursor_search_paths()" in handle
    # ... and the record set only by a SET that went through.
    assert "SET search_path" in handle
    assert "self.search_path_set_schemas = search_paths" in handle
    assert "self.search_path_set_schemas = None" in handle
    assert _shape(tenants_base.DatabaseWrapper._get_cursor_search_paths) == [
        ("self", inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.empty)
    ]
    assert _shape(tenants_utils.get_limit_set_calls) == []


def test_a_pooled_connection_goes_back_and_comes_out_as_the_same_object():
    """The session's path rides on the psycopg connection object (``HELD_PATH``)."""
    assert "connection = self.pool.getconn()" in _source(
        django_pg.DatabaseWrapper, "get_new_connection"
    )
    assert "putconn(self.connection)" in _source(django_pg.DatabaseWrapper, "_close")
    assert isinstance(inspect.getattr_static(django_pg.DatabaseWrapper, "pool"), property)


def test_django_close_and_transaction_state_the_hand_over_reads():
    close = _source(BaseDatabaseWrapper, "close")
    assert "self.validate_thread_sharing()" in close
    assert "if self.closed_in_transaction or self.connection is None:" in close
    assert "self._close()" in close
    for name in ("closed_in_transaction", "in_atomic_block", "connection"):
        assert hasattr(connection, name), name
    assert {TransactionStatus.IDLE, TransactionStatus.INERROR} <= set(TransactionStatus)
