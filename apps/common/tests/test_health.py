"""``/healthz`` and ``/readyz``: answered on every host, before tenant resolution."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client

from apps.common import health

pytestmark = pytest.mark.django_db

HOSTS = ["localhost", "www.localhost", "acme.localhost", "nope.localhost", "127.0.0.1"]
READY = {"status": "ok", "checks": {"database": "ok", "redis": "ok", "migrations": "ok"}}


def get(path: str, host: str = "localhost") -> Any:
    return Client().get(path, HTTP_HOST=host)


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("path", ["/healthz", "/healthz/"])
def test_healthz_is_ok_on_every_host(host, path, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = get(path, host)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("path", ["/readyz", "/readyz/"])
def test_readyz_reports_every_check_ok_on_every_host(host, path):
    response = get(path, host)

    assert response.status_code == 200
    assert response.json() == READY
    assert connection.schema_name == "public"


def test_health_paths_are_exact():
    # A look-alike path is not a health check: it goes through tenant routing.
    response = get("/healthzz", "nope.localhost")

    assert response.status_code == 404
    assert response.json()["code"] == "tenant_not_found"


def test_readyz_fails_on_unapplied_migrations(monkeypatch):
    monkeypatch.setattr(health, "unapplied_migrations", lambda: {"x.0001"})

    response = get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {
            "database": "ok",
            "redis": "ok",
            "migrations": "1 unapplied migration(s): x.0001",
        },
    }


def test_readyz_lists_at_most_five_unapplied_migrations(monkeypatch):
    pending = {f"app.{i:04d}" for i in range(7)}
    monkeypatch.setattr(health, "unapplied_migrations", lambda: pending)

    body = get("/readyz").json()

    assert body["checks"]["migrations"] == (
        "7 unapplied migration(s): app.0000, app.0001, app.0002, app.0003, app.0004"
    )


def test_readyz_reports_an_unknown_migration_state(monkeypatch):
    def broken() -> set[str]:
        raise RuntimeError("boom")

    monkeypatch.setattr(health, "unapplied_migrations", broken)

    response = get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == "migration state unknown: RuntimeError"


class _BrokenCache:
    def set(self, *args: Any, **kwargs: Any) -> None:
        raise ConnectionError("redis is down")

    def get(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("redis is down")


class _ForgetfulCache:
    def set(self, *args: Any, **kwargs: Any) -> None:
        pass

    def get(self, *args: Any, **kwargs: Any) -> Any:
        return None


def test_readyz_says_degraded_when_redis_is_down(monkeypatch):
    """Still ready (200): the API serves through a Redis outage
    (config/resilience.py), and the outage is every pod's."""
    monkeypatch.setattr(health, "cache", _BrokenCache())

    response = get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "degraded",
        "checks": {
            "database": "ok",
            "redis": "redis unavailable: ConnectionError",
            "migrations": "ok",
        },
    }


def test_readyz_says_degraded_when_redis_loses_the_value(monkeypatch):
    monkeypatch.setattr(health, "cache", _ForgetfulCache())

    response = get("/readyz")

    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["redis"] == "redis did not return the value it stored"


def test_readyz_is_unavailable_when_the_database_and_redis_are_down(monkeypatch):
    monkeypatch.setattr(health, "cache", _BrokenCache())
    monkeypatch.setattr(health, "_check_database", lambda: "database unavailable: OperationalError")

    response = get("/readyz")

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


def test_readyz_skips_migrations_when_the_database_is_down(monkeypatch):
    monkeypatch.setattr(health, "_check_database", lambda: "database unavailable: OperationalError")
    called: list[bool] = []
    monkeypatch.setattr(health, "unapplied_migrations", lambda: called.append(True) or set())

    response = get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"] == {
        "database": "database unavailable: OperationalError",
        "redis": "ok",
        "migrations": "skipped: database unavailable",
    }
    assert called == []


def test_readiness_returns_the_checks():
    assert health.readiness() == ("ok", READY["checks"])


def test_database_check_reports_the_exception_class(monkeypatch):
    class _DeadConnection:
        def cursor(self) -> Any:
            raise ConnectionRefusedError("no server")

    monkeypatch.setattr(health, "connection", _DeadConnection())

    assert health._check_database() == "database unavailable: ConnectionRefusedError"
