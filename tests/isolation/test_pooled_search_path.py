"""A pooled connection's search_path is trusted only when it is certain
(tenants/db_backend/base.py).

Each case runs in a fresh process with Django's pool cut to one connection,
so every checkout gets the same PostgreSQL session, and checks with
``current_schema()`` what that session really holds, besides counting the
``SET search_path`` statements sent. The cases where a session's path
changed without the wrapper's record surviving (a rollback, a connection
handed back mid-transaction, foreign SQL) are the ones that would put one
tenant's queries on another's schema if the record were trusted blindly.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tenants.testing import manage_env

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import django
    django.setup()
    from django.db import DatabaseError, connection, transaction
    from django_tenants.utils import get_tenant_model, schema_context, tenant_context
    from tenants.db import tenant_connection

    connection.settings_dict["OPTIONS"]["pool"] = {"min_size": 1, "max_size": 1, "timeout": 5}
    assert connection.pool.max_size == 1
    acme, globex = (get_tenant_model().objects.get(slug=s) for s in ("acme", "globex"))
    connection.close()

    sets = []

    def spy(execute, sql, params, many, context):
        if sql.startswith("SET search_path"):
            sets.append(sql)
        return execute(sql, params, many, context)

    connection.execute_wrappers.append(spy)

    def schema():
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_schema(), pg_backend_pid()")
            return cursor.fetchone()

    def checkout(tenant):
        '''One "request": a fresh checkout, one query in ``tenant``, hand back.
        Returns (schema the session really used, SETs sent, backend pid).'''
        sets.clear()
        with tenant_context(tenant):
            found, pid = schema()
        connection.close()
        return [found, len(sets), pid]

    def steps(case):
        out = []
        if case == "same_tenant_again":
            out.append(checkout(acme))
            out.append(checkout(acme))
            out.append(checkout(acme))
        elif case == "another_tenant":
            out.append(checkout(acme))
            out.append(checkout(globex))
            out.append(checkout(acme))
        elif case == "switched_and_back_in_autocommit":
            out.append(checkout(acme))
            with tenant_context(globex):
                schema()  # SET globex, kept (autocommit)
            with tenant_context(acme):
                schema()  # SET acme again
            connection.close()
            out.append(checkout(acme))
            out.append(checkout(globex))
        elif case == "set_undone_by_rollback":
            out.append(checkout(acme))
            with tenant_context(globex):
                try:
                    with transaction.atomic():
                        schema()  # SET globex inside the transaction ...
                        raise RuntimeError
                except RuntimeError:
                    pass  # ... undone: the session is back on acme
                connection.close()  # handed back while globex is selected
            out.append(checkout(globex))
        elif case == "handed_back_mid_transaction":
            out.append(checkout(acme))
            with tenant_context(globex):
                with transaction.atomic():
                    schema()  # SET globex inside the transaction
                    # Back to the pool mid-transaction: the pool rolls the
                    # session back, undoing the SET.
                    connection.close()
            out.append(checkout(globex))
        elif case == "set_undone_by_savepoint_rollback":
            out.append(checkout(acme))
            connection.set_tenant(acme)
            with transaction.atomic():
                schema()
                sid = transaction.savepoint()
                connection.set_tenant(globex)
                schema()  # SET globex after the savepoint ...
                transaction.savepoint_rollback(sid)  # ... undone with it
            # Committed, on acme, while globex is selected. (An atomic block
            # would release the savepoint, whose cursor would SET globex again.)
            connection.close()
            connection.set_schema_to_public()
            out.append(checkout(globex))
        elif case == "foreign_set":
            out.append(checkout(acme))
            with tenant_context(acme):
                with connection.cursor() as cursor:
                    cursor.execute(f'SET search_path = "{globex.schema_name}", public')
                # What code running foreign SQL does (tenants.provisioning).
                tenant_connection().search_path_set_schemas = None
            connection.close()
            out.append(checkout(acme))
        elif case == "commit_of_aborted_transaction":
            out.append(checkout(acme))
            with tenant_context(globex):
                with transaction.atomic():
                    schema()  # SET globex inside the transaction ...
                    try:
                        with connection.cursor() as cursor:
                            cursor.execute("SELECT 1/0")  # ... which fails ...
                    except DatabaseError:
                        pass  # ... caught without a savepoint
                # COMMIT became a ROLLBACK, SET undone: the session is on acme.
                sets.clear()
                found, pid = schema()  # same checkout, globex selected
                out.append([found, len(sets), pid])
                with transaction.atomic():
                    schema()
                    try:
                        with connection.cursor() as cursor:
                            cursor.execute("SELECT 1/0")
                    except DatabaseError:
                        pass
                connection.close()  # handed back idle while globex is selected
            out.append(checkout(globex))
        elif case == "set_rollback_false":
            out.append(checkout(acme))
            with tenant_context(globex):
                with transaction.atomic():
                    schema()
                    try:
                        with transaction.atomic(savepoint=False):
                            with connection.cursor() as cursor:
                                cursor.execute("SELECT 1/0")
                    except DatabaseError:
                        transaction.set_rollback(False)  # Django's documented API
                connection.close()
            out.append(checkout(globex))
        elif case == "public_schema":
            out.append(checkout(acme))
            sets.clear()
            with schema_context("public"):
                found, pid = schema()
            connection.close()
            out.append([found, len(sets), pid])
            out.append(checkout(acme))
        return out

    result = steps(sys.argv[1])
    print(json.dumps({"steps": result, "acme": acme.schema_name, "globex": globex.schema_name}))
    """
)


def _run(case: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT, case],
        env=manage_env(DB_POOL="1"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = json.loads(result.stdout.strip().splitlines()[-1])
    pids = {pid for _, _, pid in run["steps"]}
    assert len(pids) == 1, "every checkout must get the one pooled session"
    return run


def _schemas_and_sets(run: dict) -> list[tuple[str, int]]:
    return [(schema, sets) for schema, sets, _ in run["steps"]]


def test_the_same_tenant_again_sends_no_set():
    run = _run("same_tenant_again")
    acme = run["acme"]
    assert _schemas_and_sets(run) == [(acme, 1), (acme, 0), (acme, 0)]


def test_another_tenant_sends_its_set():
    run = _run("another_tenant")
    acme, globex = run["acme"], run["globex"]
    assert _schemas_and_sets(run) == [(acme, 1), (globex, 1), (acme, 1)]


def test_a_path_set_and_reset_in_autocommit_is_trusted():
    run = _run("switched_and_back_in_autocommit")
    acme, globex = run["acme"], run["globex"]
    assert _schemas_and_sets(run) == [(acme, 1), (acme, 0), (globex, 1)]


def test_a_set_undone_by_a_rollback_is_not_trusted():
    run = _run("set_undone_by_rollback")
    acme, globex = run["acme"], run["globex"]
    assert _schemas_and_sets(run) == [(acme, 1), (globex, 1)]


def test_a_connection_handed_back_mid_transaction_is_not_trusted():
    run = _run("handed_back_mid_transaction")
    acme, globex = run["acme"], run["globex"]
    assert _schemas_and_sets(run) == [(acme, 1), (globex, 1)]


def test_a_set_undone_by_a_savepoint_rollback_is_not_trusted():
    run = _run("set_undone_by_savepoint_rollback")
    acme, globex = run["acme"], run["globex"]
    assert _schemas_and_sets(run) == [(acme, 1), (globex, 1)]


def test_a_foreign_set_is_not_trusted():
    run = _run("foreign_set")
    acme = run["acme"]
    assert _schemas_and_sets(run) == [(acme, 1), (acme, 1)]


def test_the_public_schema_is_held_like_any_other():
    run = _run("public_schema")
    acme = run["acme"]
    assert _schemas_and_sets(run) == [(acme, 1), ("public", 1), (acme, 1)]


def test_a_failed_transaction_committed_is_not_trusted():
    """PostgreSQL answers COMMIT in a failed transaction with a silent
    ROLLBACK: a SET made in it is undone, in the same checkout and the next."""
    run = _run("commit_of_aborted_transaction")
    acme, globex = run["acme"], run["globex"]
    assert _schemas_and_sets(run) == [(acme, 1), (globex, 1), (globex, 1)]


def test_a_rollback_waived_with_set_rollback_false_is_not_trusted():
    run = _run("set_rollback_false")
    acme, globex = run["acme"], run["globex"]
    assert _schemas_and_sets(run) == [(acme, 1), (globex, 1)]
