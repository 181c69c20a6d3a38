"""Which migrations a schema still lacks, without loading Django's executor.

``migrate_schemas`` builds a full migration executor and project state for
every schema, even when there is nothing to do — the main cost of a no-op run
over hundreds of tenants. Here the code's migration leaves are computed once
per process and compared with each schema's ``django_migrations`` rows in a
few batched queries.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable

from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django_tenants.utils import get_public_schema_name, quote_schema_name

_BATCH = 200


@functools.cache
def migration_leaves() -> frozenset[tuple[str, str]]:
    """Leaf migrations of the code on disk: a schema that recorded all of them
    has applied everything (Django applies a migration's ancestors first)."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return frozenset(loader.graph.leaf_nodes())


def fingerprint(leaves: Iterable[tuple[str, str]] | None = None) -> str:
    """Stable identifier of a migration state (used to validate snapshots)."""
    items = sorted(leaves if leaves is not None else migration_leaves())
    return hashlib.sha256(repr(items).encode()).hexdigest()


def _values_list(leaves: frozenset[tuple[str, str]]) -> tuple[str, list[str]]:
    placeholders = ", ".join(["(%s, %s)"] * len(leaves))
    params = [part for leaf in sorted(leaves) for part in leaf]
    return placeholders, params


def schemas_with_pending_migrations(schemas: list[str]) -> list[str]:
    """The subset of ``schemas`` that lack at least one migration leaf.

    A schema without a ``django_migrations`` table counts as pending.
    """
    leaves = migration_leaves()
    if not schemas:
        return []
    if not leaves:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_schema FROM information_schema.tables "
            "WHERE table_name = 'django_migrations' AND table_schema = ANY(%s)",
            [schemas],
        )
        with_table = {row[0] for row in cursor.fetchall()}
        pending = [s for s in schemas if s not in with_table]
        placeholders, leaf_params = _values_list(leaves)
        candidates = [s for s in schemas if s in with_table]
        for start in range(0, len(candidates), _BATCH):
            batch = candidates[start : start + _BATCH]
            parts, params = [], []
            for schema in batch:
                parts.append(
                    f"SELECT %s, count(*) FROM {quote_schema_name(schema)}.django_migrations "
                    f"WHERE (app, name) IN ({placeholders})"
                )
                params.extend([schema, *leaf_params])
            cursor.execute(" UNION ALL ".join(parts), params)
            pending.extend(name for name, count in cursor.fetchall() if count < len(leaves))
    order = {s: i for i, s in enumerate(schemas)}
    return sorted(pending, key=order.__getitem__)


def unapplied_migrations(schema: str | None = None) -> set[str]:
    """Leaf migrations missing from ``schema`` (default public), as ``app.name``."""
    schema = schema or get_public_schema_name()
    leaves = migration_leaves()
    placeholders, params = _values_list(leaves)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM information_schema.tables "
            "WHERE table_schema = %s AND table_name = 'django_migrations'",
            [schema],
        )
        if cursor.fetchone() is None:
            return {f"{app}.{name}" for app, name in leaves}
        cursor.execute(
            f"SELECT app, name FROM {quote_schema_name(schema)}.django_migrations "
            f"WHERE (app, name) IN ({placeholders})",
            params,
        )
        applied = set(cursor.fetchall())
    return {f"{app}.{name}" for app, name in leaves - applied}
