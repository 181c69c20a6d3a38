"""Guards for config/db_backend/base.py, a copy of Django's private
``DatabaseWrapper.pool`` property with one change (the pool's ``check`` is
``check_if_idle``), plus a stamp in ``_close``.

The copy is kept because settings cannot say it (the first test: a ``check``
in ``OPTIONS["pool"]`` is refused); the others fail, naming what moved, when a
Django upgrade changes the property that was copied or the private names the
copy uses. Then compare Django's new property with the copy, update the copy,
and record the new fingerprint here. tests/test_faults.py checks the
behaviour itself (a connection idle past the delay is checked and replaced).
"""

from __future__ import annotations

import ast
import copy
import hashlib
import inspect
import textwrap

import django
import pytest
from django.db import connections
from django.db.backends.postgresql import base as django_pg

from config.db_backend import base as ours

#: sha256 of the AST of Django 5.2's ``DatabaseWrapper.pool`` (comments and
#: layout ignored), the code config/db_backend/base.py copies.
DJANGO_POOL_FINGERPRINT = "eefe2b9257e12bbcff1ab4a8a33b2894cab02500033daa5e95410ee96fd7bbd2"


def _pool_settings(**pool: object) -> dict:
    settings_dict = copy.deepcopy(connections["default"].settings_dict)
    settings_dict["OPTIONS"]["pool"] = pool
    settings_dict["CONN_MAX_AGE"] = 0
    settings_dict["CONN_HEALTH_CHECKS"] = True
    return settings_dict


def test_settings_cannot_give_django_pool_a_check_of_its_own():
    """Why the property is copied: Django passes ``check=`` itself next to
    ``**OPTIONS["pool"]``. If this ever stops raising, drop the copy and put
    ``check_if_idle`` in settings instead."""
    wrapper = django_pg.DatabaseWrapper(
        _pool_settings(check=ours.check_if_idle), alias="pool_hooks_guard"
    )
    try:
        with pytest.raises(TypeError, match="multiple values for keyword argument 'check'"):
            _ = wrapper.pool
    finally:
        django_pg.DatabaseWrapper._connection_pools.pop("pool_hooks_guard", None)


def test_the_copied_property_is_unchanged_in_django():
    assert django.VERSION[:2] == (5, 2), "Django upgraded: re-read config/db_backend/base.py"
    source = textwrap.dedent(inspect.getsource(django_pg.DatabaseWrapper.pool.fget))
    fingerprint = hashlib.sha256(ast.dump(ast.parse(source)).encode()).hexdigest()
    assert fingerprint == DJANGO_POOL_FINGERPRINT, (
        "Django's DatabaseWrapper.pool changed: bring config/db_backend/base.py's copy "
        "in line with it, then record the new fingerprint"
    )
    # The one line the copy changes is still Django's way of choosing the check.
    assert "check=ConnectionPool.check_connection if enable_checks else None" in source


def test_the_private_names_the_copy_uses_are_still_there():
    pools = inspect.getattr_static(django_pg.DatabaseWrapper, "_connection_pools")
    assert isinstance(pools, dict)  # one dict per process, shared with close_pool()
    assert "del self._connection_pools[self.alias]" in inspect.getsource(
        django_pg.DatabaseWrapper.close_pool
    )
    configure = inspect.signature(django_pg.DatabaseWrapper._configure_connection)
    assert list(configure.parameters) == ["self", "connection"]
    assert list(inspect.signature(django_pg.DatabaseWrapper._close).parameters) == ["self"]
    # The stamp set in _close rides on the connection object the pool keeps.
    assert "putconn(self.connection)" in inspect.getsource(django_pg.DatabaseWrapper._close)


def test_the_copy_builds_django_pool_with_check_if_idle():
    wrapper = ours.DatabaseWrapper(_pool_settings(min_size=1, max_size=1), alias="pool_hooks_ours")
    try:
        pool = wrapper.pool
        assert pool is django_pg.DatabaseWrapper._connection_pools["pool_hooks_ours"]
        assert pool._check is ours.check_if_idle
        assert pool._configure == wrapper._configure_connection
        assert pool.max_size == 1
        assert pool.kwargs["autocommit"] is True
    finally:
        django_pg.DatabaseWrapper._connection_pools.pop("pool_hooks_ours", None)
