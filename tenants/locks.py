"""Transaction-scoped locks private to the current tenant."""

from __future__ import annotations

from django.db import connection

from .db import current_schema

#: The SQL expression that takes a tenant lock until the transaction ends;
#: its one parameter is :func:`tenant_lock_key`. For a query that must take
#: the lock in the same statement as it reads something the lock does not
#: protect (see ``apps.time_entries.hot_path.timer_project_locked``).
XACT_LOCK_SQL = "pg_advisory_xact_lock(hashtext(%s))"


def tenant_lock_key(name: str) -> str:
    """The key of lock ``name`` in the current schema (the schema is part of
    it: other organizations never wait on it), for :data:`XACT_LOCK_SQL`.

    Refused outside a transaction, where the lock would be released as soon
    as the statement taking it ends."""
    if not connection.in_atomic_block:
        raise RuntimeError(f"lock {name!r} outside a transaction would be released at once")
    return f"{current_schema()}:{name}"


def tenant_xact_lock(name: str) -> None:
    """Hold the PostgreSQL advisory lock ``name`` of the current schema until
    the transaction ends.

    For invariants no constraint can express (no cycles in a dependency
    graph): concurrent writers of one organization serialise here, so the
    second sees what the first committed; other organizations never wait,
    because the key includes the schema name.
    """
    key = tenant_lock_key(name)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {XACT_LOCK_SQL}", [key])
