"""Fault behaviour with real services: Redis down (under every settings
module — dev, test, production — HTTP reads, writes and login keep working,
/readyz says degraded, the WebSocket upgrade is refused cleanly with 1013,
Celery sends are retried then logged, never a 500), a PostgreSQL connection
killed under a persistent connection (the next request recovers through
CONN_HEALTH_CHECKS), and a worker killed mid-task (acks_late redelivers; the
idempotent task applies its effect once)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from decimal import Decimal

import pytest
import redis
from celery import shared_task
from django.conf import settings
from django.core.cache import caches
from django.test import override_settings
from django_tenants.utils import tenant_context
from prometheus_client import REGISTRY

from apps.organizations.tests.factories import client_as
from apps.projects.models import Project
from apps.projects.tests.factories import ProjectFactory
from config.celery import app as celery_app
from tenants.testing import manage_env

pytestmark = pytest.mark.django_db

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _dead_cache(backend: str) -> dict:
    return {
        "default": {
            "BACKEND": backend,
            "LOCATION": DEAD_REDIS,
            "KEY_PREFIX": "faults",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }


# --- Redis down: cache ---------------------------------------------------------------

SETTINGS_MODULES = ["config.settings.dev", "config.settings.test", "config.settings.production"]


def _settings_env(settings_module: str, **extra: str) -> dict[str, str]:
    """Environment of a process under ``settings_module`` on this run's test
    database, Redis and host names. Production's secrets are made up; its
    HTTPS redirect is off because the fault scripts speak plain HTTP."""
    env = {
        "DJANGO_SETTINGS_MODULE": settings_module,
        "NOVATIME_BASE_DOMAIN": settings.NOVATIME_BASE_DOMAIN,
        "NOVATIME_IN_MEMORY": "0",
        "CELERY_TASK_ALWAYS_EAGER": "0",
    }
    if settings_module.endswith("production"):
        env |= {
            "SECRET_KEY": "fault-probe-" + uuid.uuid4().hex * 2,
            "SECURE_SSL_REDIRECT": "0",
            "SENTRY_DSN": "",
            "ALLOWED_HOSTS": f"{settings.NOVATIME_BASE_DOMAIN},.{settings.NOVATIME_BASE_DOMAIN}",
        }
    return manage_env(**(env | extra))


def _outage_env(settings_module: str) -> dict[str, str]:
    """As :func:`_settings_env`, with Redis (cache, channel layer, broker)
    unreachable."""
    return _settings_env(settings_module, REDIS_URL=DEAD_REDIS, CELERY_BROKER_URL=DEAD_REDIS)


@pytest.mark.slow
@pytest.mark.parametrize("settings_module", SETTINGS_MODULES)
def test_redis_down_the_whole_application_degrades_alike_under_every_settings_module(
    settings_module,
):
    """Redis really unreachable (REDIS_URL on a port nothing listens on) in a
    process under each settings module — the dev settings of scripts/run
    included — running the real ASGI application: reads, writes, login and
    its throttle/lockout answer as usual, /readyz says degraded (200), the
    socket ticket is refused with 503 and the socket with 1013 (try again
    later), nothing answers 500 or crashes."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.redis_outage_probe"],
        env=_outage_env(settings_module),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=settings.BASE_DIR,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    run = json.loads(result.stdout.strip().splitlines()[-1])
    assert run["cache_backend"] == "config.resilience.ResilientRedisCache"
    assert run["read"]["status"] == 200, run["read"]
    assert run["write"]["status"] == 201, run["write"]
    assert run["project_saved"] is True
    assert run["login_wrong"]["status"] == 400, run["login_wrong"]
    assert run["login"]["status"] == 200, run["login"]
    assert run["readyz"]["status"] == 200, run["readyz"]
    assert run["readyz"]["body"]["status"] == "degraded"
    assert run["readyz"]["body"]["checks"]["database"] == "ok"
    assert run["readyz"]["body"]["checks"]["redis"].startswith("redis unavailable")
    assert run["ticket"]["status"] == 503, run["ticket"]
    assert run["ticket"]["body"]["code"] == "realtime_unavailable"
    assert run["websocket"] == {
        "accepted": True,
        "type": "websocket.close",
        "code": 1013,
        "reason": "realtime_unavailable",
        "seconds": run["websocket"].get("seconds"),
    }, run["websocket"]
    for step in ("read", "write", "login_wrong", "login", "readyz", "ticket"):
        # Connection refused is immediate; the broker retry (~2 s) is the
        # longest wait, for the write's after-commit task.
        assert run[step]["seconds"] < 5, (step, run[step])


def test_every_settings_module_uses_the_one_cache_configuration():
    """base.py defines the cache; dev, test and production only point it at
    their Redis (and test at its own key prefix)."""
    script = (
        "import json, django; django.setup(); from django.conf import settings; "
        "c = settings.CACHES['default']; print(json.dumps([c['BACKEND'], c.get('OPTIONS', {})]))"
    )
    seen = set()
    for module in SETTINGS_MODULES:
        env = _outage_env(module)
        result = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr[-3000:]
        seen.add(result.stdout.strip().splitlines()[-1])
    assert seen == {json.dumps(["config.resilience.ResilientRedisCache", {}])}


def test_redis_down_http_api_keeps_working_and_readyz_reports_it(tenant):
    client = client_as(tenant, "member")
    with tenant_context(tenant):
        ProjectFactory(name="Still here")
    assert client.get("/api/v1/projects/").status_code == 200  # warm: URLconf imports
    errors_before = _sample("novatime_cache_errors_total", operation="get")
    with override_settings(CACHES=_dead_cache("config.resilience.ResilientRedisCache")):
        started = time.perf_counter()
        response = client.get("/api/v1/projects/")
        elapsed = time.perf_counter() - started
        assert response.status_code == 200
        assert [p["name"] for p in response.json()["results"]] == ["Still here"]
        assert elapsed < 2  # connection refused is immediate; timeouts bound a hung Redis
        ready = client.get("/readyz")
        assert ready.status_code == 200  # still serving: stays in the load balancer
        body = ready.json()
        assert body["status"] == "degraded"
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["redis"] == "redis unavailable: ConnectionError"
        assert client.get("/healthz").status_code == 200  # liveness: no restart for this
    assert _sample("novatime_cache_errors_total", operation="get") > errors_before
    # Back to the real Redis: "ok" again (the degraded state answers 200 too).
    back = client.get("/readyz")
    assert back.status_code == 200
    assert back.json() == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "ok", "migrations": "ok"},
    }


def test_without_the_resilient_backend_a_redis_outage_fails_requests(tenant):
    """Why every settings module uses ResilientRedisCache: Django's own backend raises."""
    client = client_as(tenant, "member")
    client.raise_request_exception = False
    with override_settings(CACHES=_dead_cache("django.core.cache.backends.redis.RedisCache")):
        assert client.get("/api/v1/projects/").status_code == 500


def test_resilient_cache_semantics_during_an_outage():
    with override_settings(CACHES=_dead_cache("config.resilience.ResilientRedisCache")):
        cache = caches["default"]
        assert cache.get("k", "fallback") == "fallback"
        assert cache.set("k", 1) is None
        assert cache.add("k", 1) is False  # "not added": debounced jobs are skipped
        assert cache.delete("k") is False  # "not deleted": single-use tickets fail closed
        assert cache.get_many(["a", "b"]) == {}
        assert cache.set_many({"a": 1}) == ["a"]
        assert cache.has_key("a") is False


# --- Redis down: Celery broker ---------------------------------------------------------


class _BrokerDown:
    """Point the app at a dead broker; connection and producer pools are
    dropped on the way in and out so that no connection is reused."""

    def __enter__(self) -> None:
        self.url = celery_app.conf.broker_url
        celery_app.conf.broker_url = DEAD_REDIS
        self._reset()

    def __exit__(self, *exc: object) -> None:
        celery_app.conf.broker_url = self.url
        self._reset()

    @staticmethod
    def _reset() -> None:
        celery_app._pool = None
        celery_app.amqp._producer_pool = None


def test_broker_down_a_send_is_retried_then_logged_not_raised(caplog):
    from tenants.tasks import pool_refill

    before = _sample("novatime_celery_publish_failures_total", task="tenants.pool_refill")
    with _BrokerDown(), caplog.at_level(logging.ERROR, logger="config.resilience"):
        started = time.perf_counter()
        assert pool_refill.delay() is None
        elapsed = time.perf_counter() - started
    assert elapsed > 0.3  # kombu retried the connection before giving up
    assert (
        _sample("novatime_celery_publish_failures_total", task="tenants.pool_refill") == before + 1
    )
    assert "could not queue task tenants.pool_refill" in caplog.text


def test_broker_down_a_committed_change_answers_200(tenant, commit):
    """A rate change queues a recompute after commit; the broker being down
    must not turn the committed change into a 500."""
    client = client_as(tenant, "admin")
    with tenant_context(tenant):
        project = ProjectFactory()
    before = _sample(
        "novatime_celery_publish_failures_total", task="time_entries.recompute_amounts"
    )
    with _BrokerDown(), commit():
        response = client.patch(
            f"/api/v1/projects/{project.id}/", {"hourly_rate": "80.00"}, format="json"
        )
    assert response.status_code == 200, response.content
    with tenant_context(tenant):
        assert Project.objects.get(pk=project.pk).hourly_rate == Decimal("80.00")
    failures = _sample(
        "novatime_celery_publish_failures_total", task="time_entries.recompute_amounts"
    )
    assert failures == before + 1


# --- PostgreSQL connection killed ----------------------------------------------------

_DB_KILL_SCRIPT = textwrap.dedent(
    """
    import os, sys, json
    import django
    from django.conf import settings
    django.setup()
    from django.db import connection
    settings.DATABASES["default"]["CONN_MAX_AGE"] = 60
    settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] = sys.argv[1] == "on"
    connection.settings_dict["CONN_MAX_AGE"] = 60
    connection.settings_dict["CONN_HEALTH_CHECKS"] = sys.argv[1] == "on"
    connection.health_check_enabled = sys.argv[1] == "on"
    import psycopg
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import RequestFactory

    handler = WSGIHandler()
    host = settings.NOVATIME_BASE_DOMAIN

    def get(path):
        environ = RequestFactory().get(path, HTTP_HOST=host).environ
        out = {}
        def start_response(status, headers, exc_info=None):
            out["status"] = int(status.split()[0])
        body = b"".join(handler(environ, start_response))
        return out["status"], json.loads(body)

    first = get("/readyz")
    pid = connection.connection.info.backend_pid
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    second = get("/readyz")
    new_pid = connection.connection.info.backend_pid if connection.connection else None
    print(json.dumps({"first": first, "second": second, "pid": pid, "new_pid": new_pid}))
    """
)


def _script_result(script: str, *args: str, settings_module: str, **env: str) -> dict:
    """Run ``script`` in a fresh process under ``settings_module`` on the test
    database; its last line of output, as JSON."""
    result = subprocess.run(
        [sys.executable, "-c", script, *args],
        env=_settings_env(settings_module, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _kill_connection_run(health_checks: str, settings_module: str) -> dict:
    # Persistent connections without a pool (production's pool is its default).
    return _script_result(
        _DB_KILL_SCRIPT,
        health_checks,
        settings_module=settings_module,
        NOVATIME_DB_POOL_MODE="direct",
        DB_POOL="0",
    )


@pytest.mark.slow
@pytest.mark.parametrize("settings_module", SETTINGS_MODULES)
def test_a_killed_database_connection_is_replaced_on_the_next_request(settings_module):
    run = _kill_connection_run("on", settings_module)
    assert run["first"][0] == 200
    assert run["second"][0] == 200, run["second"]
    assert run["second"][1]["checks"]["database"] == "ok"
    assert run["new_pid"] != run["pid"]


@pytest.mark.slow
@pytest.mark.parametrize("settings_module", SETTINGS_MODULES)
def test_without_health_checks_the_killed_connection_fails_a_request(settings_module):
    """The control: what CONN_HEALTH_CHECKS (every settings module) saves us from."""
    run = _kill_connection_run("off", settings_module)
    assert run["first"][0] == 200
    assert run["second"][0] == 503
    assert run["second"][1]["checks"]["database"].startswith("database unavailable")


_POOL_KILL_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, time
    import django
    django.setup()
    import psycopg
    from django.db import connection
    from config.db_backend.base import _RETURNED_AT

    assert connection.settings_dict["OPTIONS"].get("pool"), "pool not enabled"
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    raw = connection.connection
    connection.close()  # back to the pool, stamped
    stamped = getattr(raw, _RETURNED_AT, None) is not None

    pool = connection.pool
    lent = [pool.getconn() for _ in range(pool.get_stats()["pool_size"])]
    pids = [c.info.backend_pid for c in lent]
    for c in lent:
        setattr(c, _RETURNED_AT, time.monotonic())  # as connection.close() does
        pool.putconn(c)
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as admin:
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    time.sleep(0.2)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            outcome = "ok" if cursor.fetchone()[0] not in pids else "old connection"
    except Exception as exc:
        outcome = type(exc).__name__
    print(json.dumps({"stamped": stamped, "outcome": outcome}))
    """
)


def _pool_kill_run(idle_seconds: str, settings_module: str) -> dict:
    return _script_result(
        _POOL_KILL_SCRIPT,
        settings_module=settings_module,
        DB_POOL="1",  # dev and test
        NOVATIME_DB_POOL_MODE="django",  # production
        NOVATIME_DB_POOL_CHECK_IDLE_SECONDS=idle_seconds,
    )


@pytest.mark.slow
@pytest.mark.parametrize("settings_module", SETTINGS_MODULES)
def test_a_pooled_connection_idle_past_the_check_delay_is_checked_and_replaced(settings_module):
    """config/db_backend: connections killed while idle in the pool for
    longer than NOVATIME_DB_POOL_CHECK_IDLE_SECONDS never reach a request."""
    run = _pool_kill_run("0", settings_module)
    assert run == {"stamped": True, "outcome": "ok"}


@pytest.mark.slow
@pytest.mark.parametrize("settings_module", SETTINGS_MODULES)
def test_a_pooled_connection_back_within_the_check_delay_is_lent_unchecked(settings_module):
    """The control, and the price of the saved round trip (PgBouncer's
    server_check_delay): a connection that died within the delay fails the
    one request that gets it."""
    run = _pool_kill_run("3600", settings_module)
    assert run["stamped"] is True
    assert run["outcome"] == "OperationalError"


# --- worker killed mid-task ----------------------------------------------------------


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@shared_task(name="tests.idempotent_effect", bind=True)
def idempotent_effect(self, token: str, hold_seconds: float) -> None:
    """Applies its effect at most once per token (an idempotency key), then
    lingers: a worker killed now has done the work but not acked it."""
    r = _redis()
    r.incr(f"faults:attempts:{token}")
    if r.set(f"faults:effect:{token}", self.request.id, nx=True, ex=600):
        r.incr(f"faults:applied:{token}")
    r.set(f"faults:effect-done:{token}", 1, ex=600)
    time.sleep(hold_seconds)
    r.set(f"faults:finished:{token}", 1, ex=600)


_WORKER_SCRIPT = textwrap.dedent(
    """
    import sys
    import django
    django.setup()
    from config.celery import app
    import tests.test_faults  # registers tests.idempotent_effect
    # Unacked messages of a dead worker come back after the visibility timeout.
    # kombu scans for them only every ``unacked_restore_throttle`` idle polls
    # (default 10, ~10 s apart): a second worker that starts within the 2 s
    # would otherwise wait for its next scan, past the test's patience. Own
    # keys: no other worker on this Redis shares (or holds the mutex of) them.
    app.conf.broker_transport_options = {
        "visibility_timeout": 2,
        "unacked_restore_throttle": 1,
        "unacked_key": f"unacked-{sys.argv[1]}",
        "unacked_index_key": f"unacked_index-{sys.argv[1]}",
        "unacked_mutex_key": f"unacked_mutex-{sys.argv[1]}",
    }
    app.worker_main(["worker", "--pool", "solo", "--without-mingle", "--without-gossip",
                     "--loglevel", "WARNING", "-Q", sys.argv[1], "-n", sys.argv[2]])
    """
)


def _start_worker(queue: str, name: str, settings_module: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", _WORKER_SCRIPT, queue, name],
        env=_settings_env(settings_module),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("settings_module", SETTINGS_MODULES)
def test_a_worker_killed_mid_task_is_redelivered_without_double_effects(settings_module):
    assert settings.CELERY_TASK_ACKS_LATE and settings.CELERY_TASK_REJECT_ON_WORKER_LOST
    r = _redis()
    token = uuid.uuid4().hex
    queue = f"{settings.NOVATIME_ENV_PREFIX}-faults-{token[:8]}"
    first = _start_worker(queue, f"first-{token[:8]}@%h", settings_module)
    second = None
    try:
        idempotent_effect.apply_async((token, 60.0), queue=queue)
        assert _wait(lambda: r.exists(f"faults:effect-done:{token}"), 60), "task never started"
        os.killpg(first.pid, signal.SIGKILL)  # the whole worker, mid-task, unacked
        first.wait(10)
        assert not r.exists(f"faults:finished:{token}")
        # A new worker picks the message up again once its visibility timeout
        # has passed; this time the task runs to the end.
        second = _start_worker(queue, f"second-{token[:8]}@%h", settings_module)
        assert _wait(lambda: int(r.get(f"faults:attempts:{token}") or 0) >= 2, 90), (
            "not redelivered: " + (second.stderr.read1(4000).decode() if second.stderr else "")
        )
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        r.delete(queue, f"unacked-{queue}", f"unacked_index-{queue}", f"unacked_mutex-{queue}")
    assert int(r.get(f"faults:attempts:{token}")) >= 2  # it ran again
    assert int(r.get(f"faults:applied:{token}")) == 1  # but the effect happened once
