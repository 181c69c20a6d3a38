"""Transaction-scoped locks private to the current tenant."""

from __future__ import annotations

from django.db import connection

from .db import current_schema


def tenant_xact_lock(name: str) -> None:
    """Hold the PostgreSQL advisory lock ``name`` of the current schema until
    the transaction ends.

    For invariants no constraint can express (no cycles in a dependency
    graph): concurrent writers of one organization serialise here, so the
    second sees what the first committed; other organizations never wait,
    because the key includes the schema name.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("tenant_xact_lock() outside a transaction would be released at once")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"{current_schema()}:{name}"])
