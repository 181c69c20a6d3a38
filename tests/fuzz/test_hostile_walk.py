"""Every operation of both hosts' OpenAPI documents x every hostile class:
never a 5xx, every 4xx in the shared error shape, and a refused request
writes nothing.

The requests go through the whole Django stack in-process (middleware,
tenant resolution, DRF parsers, views, PostgreSQL), as the owner of the
seeded organization ``acme`` (``tests/isolation/world.py`` seeds every tenant
model, so path ids are real rows and views get past their lookups) and
anonymously. Each request runs in a savepoint that is rolled back
afterwards, so every request starts from the same database. So that what a
commit would check or start still happens, each savepoint checks
constraints at once (``SET CONSTRAINTS ALL IMMEDIATE``: deferred foreign
keys) and runs the request's ``on_commit`` callbacks (Celery tasks inline)
before it is rolled back; a failure there counts as a 5xx.

"Nothing written" is read from PostgreSQL's own per-transaction counters
(``pg_stat_xact_user_tables``: rows inserted, updated, deleted in every
table of every schema, public and tenants alike) before and after the
request: any change on a 4xx answer is a write by a refused request. When
the counters move, an md5 of every row of the two organizations' schemas
and the public schema is compared with the one taken before the walk, so a
refused request whose own savepoint rolled its write back is told apart
from one that left something behind (only the latter fails).

CI runs the bounded walk (every operation x class x place with one value:
:func:`tests.fuzz.hostile.requests_for`); ``make fuzz`` sets
``NOVATIME_HOSTILE_FULL=1`` for every value in every parameter on its own.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from functools import cache
from typing import Any
from urllib.parse import quote

import pytest
import stripe
from django.db import DatabaseError, connection, transaction
from rest_framework.throttling import SimpleRateThrottle

from apps.common.error_codes import ERROR_CODES
from config.celery import app as celery_app
from tenants.testing import TenantAPIClient
from tests.fuzz.hostile import CLASSES, HostileRequest, Walked, operations, requests_for
from tests.isolation.endpoints import tenant_endpoints
from tests.isolation.world import World

FULL = os.environ.get("NOVATIME_HOSTILE_FULL", "") not in ("", "0")
#: Figures of the walks of this session, by (host, actor); printed by conftest.
RESULTS: dict[str, Walked] = {}
WEBHOOK_PATH = "/webhooks/stripe/"


class _Rollback(Exception):
    pass


class _BodyCutOff(Exception):
    """A streamed response failed after its status was sent."""


@cache
def _table_oids(schemas: tuple[str, ...]) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p')",
            [list(schemas)],
        )
        return [row[0] for row in cursor.fetchall()]


def _write_counter(schemas: tuple[str, ...]) -> int:
    """Rows inserted, updated or deleted so far in this transaction in the
    tables of ``schemas`` (PostgreSQL's per-transaction counters; rows of a
    rolled-back savepoint count too)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(pg_stat_get_xact_tuples_inserted(oid) "
            "+ pg_stat_get_xact_tuples_updated(oid) + pg_stat_get_xact_tuples_deleted(oid)), 0) "
            "FROM unnest(%s::oid[]) AS oid",
            [_table_oids(schemas)],
        )
        return int(cursor.fetchone()[0])


def _content_md5(schemas: list[str]) -> str:
    """md5 of every row of every table in ``schemas``."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema = ANY(%s) AND table_type = 'BASE TABLE' "
            "ORDER BY 1, 2",
            [schemas],
        )
        tables = cursor.fetchall()
        parts = [
            f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
            f'FROM "{schema}"."{table}" t'
            for schema, table in tables
        ]
        cursor.execute(f"SELECT md5(string_agg(h, ',')) FROM ({' UNION ALL '.join(parts)}) AS x(h)")
        return str(cursor.fetchone()[0])


def _path_values(seeded: World, host: str) -> dict[str, dict[str, str]]:
    """OpenAPI path → a real id of the seeded organization for each uuid
    path parameter (``x`` for the others)."""
    if host == "public":
        return {}
    out: dict[str, dict[str, str]] = {}
    for endpoint in tenant_endpoints():
        template = "/" + endpoint.route
        values: dict[str, str] = {}
        for name, _ in endpoint.params:
            template = template.replace(f"<{name}>", "{" + name + "}")
            values[name] = seeded.id_for(seeded.a, endpoint, name) or "x"
        out[template] = values
    return out


def _known_ids(seeded: World) -> dict[str, str]:
    """Real ids of the seeded organization for uuid parameters, by the
    parameter's name (``project``, ``task_id``, ``user``...)."""
    known: dict[str, str] = {}
    for model, ids in seeded.a.ids.items():
        if ids:
            known.setdefault(model, str(ids[0]))
            known.setdefault(f"{model}_id", str(ids[0]))
    for name in ("user", "user_id", "assignee", "owner"):
        known[name] = str(seeded.both_owner.user_id)
    return known


def _send(client: TenantAPIClient, request: HostileRequest) -> tuple[int, bytes, str]:
    extra: dict[str, Any] = {}
    body = request.body
    if request.op.path == WEBHOOK_PATH and body is not None:
        # signed like Stripe signs, so the event parsing is what is attacked
        text = body.decode("utf-8", "replace")
        extra["HTTP_STRIPE_SIGNATURE"] = stripe.WebhookSignature.generate_signature_header(
            text, _WEBHOOK_SECRET
        )
        body = text.encode("utf-8", "surrogatepass")
    method = getattr(client, request.op.method)
    if body is None:
        response = method(request.url, **extra)
    else:
        response = method(request.url, body, content_type=request.content_type, **extra)
    content = getattr(response, "streaming_content", None)
    if content is None:
        return response.status_code, response.content, response.get("Content-Type", "")
    try:
        raw = b"".join(content)
    except Exception as exc:  # what a client sees: a file cut off
        raise _BodyCutOff(f"{response.status_code} sent, then the body broke: {exc!r}") from exc
    return response.status_code, raw, response.get("Content-Type", "")


_WEBHOOK_SECRET = "whsec_hostile_walk"


def _shape_problem(status: int, raw: bytes, content_type: str) -> str | None:
    if not 400 <= status < 500:
        return None
    if "json" not in content_type:
        return f"{status} with {content_type!r}"
    try:
        body = json.loads(raw)
    except ValueError:
        return f"{status} body is not JSON: {raw[:100]!r}"
    if not isinstance(body, dict):
        return f"{status} body is not an object: {raw[:100]!r}"
    if not isinstance(body.get("code"), str) or not isinstance(body.get("message"), str):
        return f"{status} body lacks code/message: {raw[:200]!r}"
    if body["code"] not in ERROR_CODES:  # the catalogue is the contract (apps.common.error_codes)
        return f"{status} code {body['code']!r} is not in the error catalogue"
    return None


@pytest.fixture
def walk_settings(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Stripe configured against the fake Stripe (no network; checkout and
    portal reach their input checks instead of 503 billing_not_configured)
    and throttles off (they are tested on their own; here they would turn
    the walk into 429s after the first few requests of a scope)."""
    from apps.billing import gateway
    from apps.billing.tests.fake_stripe import PRICES, FakeStripe

    settings.STRIPE_SECRET_KEY = "sk_test_novatime"
    settings.STRIPE_WEBHOOK_SECRET = _WEBHOOK_SECRET
    settings.STRIPE_PRICES = dict(PRICES)
    monkeypatch.setattr(gateway, "MAX_NETWORK_RETRIES", 0)
    monkeypatch.setattr(SimpleRateThrottle, "allow_request", lambda self, request, view: True)
    # tasks queued after "commit" run inline and raise: a task that fails on
    # what a request stored is a failure of that request (and nothing is
    # left queued in the broker)
    eager = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = celery_app.conf.task_eager_propagates = True
    try:
        with gateway.use_http_client(FakeStripe()):
            yield
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = eager


def _constraints_immediate() -> None:
    """Every request runs in a savepoint of the test's transaction and is
    rolled back, so it never commits: foreign keys (DEFERRABLE INITIALLY
    DEFERRED, as Django creates them) would never be checked. Checked at
    each statement instead, a dangling reference is the 500 it would be at
    commit on a server."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def _run_on_commit(start: int) -> tuple[int, str | None]:
    """Run the ``transaction.on_commit`` callbacks the request registered (and
    those they register), as its commit would on a server; Celery tasks run
    inline (``walk_settings``). How many ran, and the first failure,
    described (``None`` when all ran). Like
    ``captureOnCommitCallbacks(execute=True)``, but a robust callback's
    failure counts too (Django would only log it)."""
    ran = 0
    while True:
        pending = connection.run_on_commit[start:]
        if not pending:
            return ran, None
        start = len(connection.run_on_commit)
        for _, callback, _robust in pending:
            ran += 1
            try:
                with transaction.atomic():  # as after a commit: its own transaction
                    callback()
            except Exception as exc:
                return ran, f"an on_commit callback failed: {exc!r}"[:300]


def _walk(
    seeded: World, host: str, client: TenantAPIClient, schemas: list[str], *, spread: bool
) -> Walked:
    walked = Walked()
    tables = tuple(schemas)
    baseline = _content_md5(schemas)
    path_values = _path_values(seeded, host)
    known = _known_ids(seeded)
    before: int | None = None  # the write counter after the previous request
    started = time.monotonic()
    for op in operations(host):
        values = path_values.get(op.path, {n: "x" for n in op.path_params})
        values = {n: quote(v, safe="") for n, v in values.items()}
        walked.operations.add(op.id)
        for hostile in CLASSES:
            for request in requests_for(op, hostile, values, full=FULL, spread=spread, known=known):
                walked.requests += 1
                walked.by_class[hostile.name] = walked.by_class.get(hostile.name, 0) + 1
                if before is None:
                    before = _write_counter(tables)
                try:
                    with transaction.atomic():
                        _constraints_immediate()
                        callbacks_from = len(connection.run_on_commit)
                        sent = time.monotonic()
                        try:
                            status, raw, content_type = _send(client, request)
                        except _BodyCutOff as cut:
                            walked.server_errors.append(f"{request.describe()}: {cut}")
                            before = None
                            raise _Rollback from None
                        where = request.describe()
                        ran, failed = _run_on_commit(callbacks_from)
                        walked.on_commit_callbacks += ran
                        walked.send_seconds += time.monotonic() - sent
                        walked.statuses[status] = walked.statuses.get(status, 0) + 1
                        if failed:
                            walked.server_errors.append(f"{where}: {status}, then {failed}")
                            before = None
                            raise _Rollback
                        if status >= 500:
                            walked.server_errors.append(f"{where}: {status} {raw[:200]!r}")
                            before = None  # the savepoint may be unusable: read after it
                            raise _Rollback
                        problem = _shape_problem(status, raw, content_type)
                        if problem:
                            walked.bad_shape.append(f"{where}: {problem}")
                        try:
                            written = _write_counter(tables)
                        except DatabaseError:
                            walked.server_errors.append(f"{where}: left the transaction broken")
                            before = None
                            raise _Rollback from None
                        changed, before = written != before, written
                        refused = 400 <= status < 500
                        if refused and changed and _content_md5(schemas) != baseline:
                            walked.writes.append(f"{where}: {status}")
                        raise _Rollback
                except _Rollback:
                    pass
    walked.seconds = time.monotonic() - started
    return walked


def _check(walked: Walked) -> None:
    problems = walked.server_errors + walked.bad_shape + [f"WRITE {w}" for w in walked.writes]
    kinds = Counter(re.sub(r".*\[([a-z_]+ in [a-z]+).*", r"\1", p, flags=re.S) for p in problems)
    summary = ", ".join(f"{kind}: {n}" for kind, n in kinds.most_common())
    assert not problems, f"{len(problems)} problems ({summary}):\n" + "\n".join(problems[:80])


@pytest.mark.django_db
@pytest.mark.parametrize("host", ["tenant", "public"])
@pytest.mark.parametrize("actor", ["owner", "anonymous"])
def test_hostile_walk(world, walk_settings, host, actor):
    """No 5xx, 4xx in the shared shape, no write by a refused request."""
    tenant = world.a.tenant if host == "tenant" else None
    client = TenantAPIClient(tenant)
    client.raise_request_exception = False  # a 500 is a response to count, as on a server
    if actor == "owner":
        client.force_authenticate(world.both_owner.user)
    schemas = ["public", world.a.tenant.schema_name, world.b.tenant.schema_name]
    walked = _walk(world, host, client, schemas, spread=actor == "owner")
    RESULTS[f"{host}/{actor}"] = walked
    _check(walked)
