"""Django's PostgreSQL backend with a cheaper health check for pooled
connections (django-tenants wraps it: ``ORIGINAL_BACKEND``).

With ``CONN_HEALTH_CHECKS`` Django has psycopg's pool check every connection
it hands out with an empty query: one more round trip on every request
(measured on the timer's hot path: 0.6-1.3 ms of CPU per request and as much
added to a timer start's server time, bench/timer_load.py). Here a
connection is checked only when it has sat in the pool for longer than
``NOVATIME_DB_POOL_CHECK_IDLE_SECONDS`` (default 5) — PgBouncer's
``server_check_delay`` rule. A connection that comes back and is lent again
within that window was working a moment ago; one that died in between (the
server restarted) fails the one request that gets it, as with PgBouncer, and
psycopg's pool then discards it. Connections idle for longer, the ones a
restart leaves behind when traffic is light, are checked and replaced
before any request sees them.

Why a copy of Django's private ``pool`` property rather than settings: Django
passes ``check=`` itself next to ``**OPTIONS["pool"]``, so a ``check`` there is
a TypeError (duplicate keyword); tests/test_db_pool_hooks.py fails when that
changes or when Django's property does.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.backends.base.base import NO_DB_ALIAS
from django.db.backends.postgresql import base

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg.rows import TupleRow
    from psycopg_pool import ConnectionPool

#: Attribute of a psycopg connection: ``time.monotonic()`` when it went back
#: to the pool.
_RETURNED_AT = "_novatime_returned_at"


def check_if_idle(conn: Connection[TupleRow]) -> None:
    """psycopg pool ``check``: an empty query, unless ``conn`` was in use a
    moment ago (see the module docstring)."""
    from psycopg_pool import ConnectionPool

    returned = getattr(conn, _RETURNED_AT, None)
    idle_limit = settings.NOVATIME_DB_POOL_CHECK_IDLE_SECONDS
    if returned is not None and time.monotonic() - returned < idle_limit:
        return
    ConnectionPool.check_connection(conn)


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self) -> ConnectionPool | None:
        """Django's own pool (``base.DatabaseWrapper.pool``, Django 5.2), with
        :func:`check_if_idle` as its check when health checks are on."""
        django: Any = self  # Django's private pool attributes are not in the stubs
        pool_options = self.settings_dict["OPTIONS"].get("pool")
        if self.alias == NO_DB_ALIAS or not pool_options:
            return None
        if self.alias not in django._connection_pools:
            if self.settings_dict.get("CONN_MAX_AGE", 0) != 0:
                raise ImproperlyConfigured("Pooling doesn't support persistent connections.")
            if pool_options is True:
                pool_options = {}
            from psycopg_pool import ConnectionPool

            connect_kwargs = self.get_connection_params()
            connect_kwargs["autocommit"] = True  # Django sets it later on
            pool = ConnectionPool(
                kwargs=connect_kwargs,
                open=False,
                configure=django._configure_connection,
                check=check_if_idle if self.settings_dict["CONN_HEALTH_CHECKS"] else None,
                **pool_options,
            )
            django._connection_pools.setdefault(self.alias, pool)
        return django._connection_pools[self.alias]

    def _close(self) -> None:
        if self.pool and self.connection is not None:
            setattr(self.connection, _RETURNED_AT, time.monotonic())
        parent: Any = super()  # _close is not in the stubs
        parent._close()
