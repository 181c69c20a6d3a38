"""config/resilience.ReusedClientRedisCacheClient: one Redis client and pool
per server for the process. Django gives each ASGI request context a cache
object of its own; with a pool per cache object, every request opened a new
TCP connection to Redis (and ran redis-py's handshake)."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.testing import HttpCommunicator
from django.core.cache import caches
from redis.connection import Connection

from config.handlers import OneHopASGIHandler


def test_cache_objects_share_one_client_and_pool():
    first, second = caches.create_connection("default"), caches.create_connection("default")
    assert first is not second
    client = first._cache.get_client(write=True)
    assert second._cache.get_client(write=True) is client
    assert second._cache.get_client(write=False).connection_pool is client.connection_pool


def test_another_server_gets_its_own_client():
    from django.conf import settings

    params = {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:6379/15"}
    other = caches["default"].__class__(params["LOCATION"], params)
    mine = caches.create_connection("default")
    assert other._cache.get_client() is not mine._cache.get_client()


@pytest.mark.django_db
def test_asgi_requests_do_not_open_redis_connections(tenant, monkeypatch):
    """Each request resolves its tenant through the cache (a Redis GET), in
    a request context of its own: once warm, no request connects anew."""
    handler = OneHopASGIHandler()
    host = [(b"host", tenant.get_primary_domain().domain.encode())]

    def request() -> int:
        communicator = HttpCommunicator(handler, "GET", "/api/v1/timer/", headers=host)
        response = async_to_sync(communicator.get_response)(timeout=30)
        return response["status"]

    assert request() == 401  # past the tenant middleware: resolved, no token
    connects = []
    original = Connection._connect  # opens the socket (connect() is a no-op when open)

    def counting(self):
        connects.append(self)
        return original(self)

    monkeypatch.setattr(Connection, "_connect", counting)
    statuses = [request() for _ in range(5)]
    assert statuses == [401] * 5
    assert connects == []


def test_a_test_run_keys_redis_by_its_own_database(settings):
    """Two test runs on one Redis (CI beside a developer's run) once read each
    other's cached memberships (a member answered 403 not_a_member): the
    cache, the channel layer and the socket groups of a test run carry the
    name of the database it runs on."""
    from django.core.cache import cache
    from django.db import connection

    from apps.websocket_server.groups import org_group

    database = connection.settings_dict["NAME"].removeprefix("test_")
    assert settings.NOVATIME_ENV_PREFIX.endswith(f"-test-{database}")
    assert cache.make_key("k").startswith(f"{settings.NOVATIME_ENV_PREFIX}:")
    assert settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"].startswith(
        settings.NOVATIME_ENV_PREFIX
    )
    assert f"test-{database}"[:25] in org_group("t_acme")


@pytest.mark.django_db
def test_a_server_subprocess_on_the_test_database_keys_redis_as_the_test_does(settings):
    """Live servers and workers of a test run get DATABASE_URL of the test
    database (``test_<name>``): their prefix is the test's, so the test's
    cache invalidations (an organization deleted, a membership changed)
    reach them."""
    import subprocess
    import sys

    from tenants.testing import manage_env

    printed = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); "
         "from django.conf import settings; print(settings.NOVATIME_ENV_PREFIX)"],
        env=manage_env(), capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    assert printed == settings.NOVATIME_ENV_PREFIX
