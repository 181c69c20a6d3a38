"""Degrading instead of failing when Redis (cache or broker) is down.

* ``ResilientRedisCache`` — Django's Redis cache whose reads miss and whose
  writes are dropped while Redis is unreachable, with short socket timeouts,
  a warning at most every 30 s per process and a counter
  (``novatime_cache_errors_total``). What that means while Redis is down:
  tenant resolution goes to the database on every request (still correct),
  throttles and login-lockout counters count nothing (fail open: availability
  over rate limiting for the length of the outage), socket tickets cannot be
  issued (``add`` reports "not added": the ticket endpoint answers 503
  ``realtime_unavailable``) or redeemed (``delete`` reports "not deleted":
  fail closed), debounced jobs are not scheduled (``add`` reports "not
  added"). It is every settings module's backend (config/settings/base.py),
  so dev and production degrade alike. ``/readyz`` answers 200 with status
  ``degraded`` and the Redis problem: the pod still serves the API, so it
  stays in the load balancer (a 503 would take every pod out at once for an
  outage they all share); the counter and the warning tell the on-call person.
  Why not django-redis' ``IGNORE_EXCEPTIONS`` (the same idea): it belongs to
  another backend, a new runtime dependency without the shared per-process
  client below, and it logs every failed call with no counter and returns
  ``None`` from ``incr``; over Django's own backend it takes these ~100 lines.
* ``PublishSafeTask`` — the Celery task base: sending a task retries the broker
  connection (kombu's publish retry policy, ``CELERY_TASK_PUBLISH_RETRY_POLICY``)
  and, when the broker stays unreachable, logs an error (Sentry gets it through
  the logging integration) and counts it (``novatime_celery_publish_failures_total``)
  instead of raising into a request whose transaction has already committed.
  Work that must not be lost is recoverable by design: webhook events are
  stored before they are queued and a periodic sweep re-queues them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from tenant_schemas_celery.task import TenantTask

if TYPE_CHECKING:
    from celery.result import AsyncResult
    from redis import Redis

logger = logging.getLogger(__name__)

_OUTAGE = (RedisConnectionError, RedisTimeoutError, OSError)
_WARN_EVERY_SECONDS = 30.0


#: One ``redis.Redis`` (and its connection pool) per server and options, for
#: the whole process. See ReusedClientRedisCacheClient.
_SHARED_CLIENTS: dict[tuple[str, type, type, str], Redis] = {}
_SHARED_CLIENTS_LOCK = threading.Lock()


class ReusedClientRedisCacheClient(RedisCacheClient):
    """Django's Redis cache client, with one ``redis.Redis`` and one
    connection pool per server for the whole process.

    Django gives every thread and every ASGI request context a cache object
    of its own, and each such object its own connection pool: under ASGI,
    where each request is a new context, every request opened a new TCP
    connection to Redis (with redis-py's handshake, which also reads the
    package metadata from disk: ~2 ms of CPU per request on the timer's hot
    path). Django also builds a new ``redis.Redis`` on every call (its
    constructor copies ~170 response callbacks). ``redis.Redis`` keeps no
    per-call state and its pool is thread-safe and resets itself in a forked
    child, so one per server and options serves every call of the process.
    """

    def get_client(self, key: object = None, *, write: bool = False) -> Redis:
        django: Any = self  # Django's private attributes below are not in the stubs
        index = django._get_connection_pool_index(write)
        server = django._servers[index]
        shared = (server, django._pool_class, django._client, repr(django._pool_options))
        client = _SHARED_CLIENTS.get(shared)
        if client is None:
            with _SHARED_CLIENTS_LOCK:
                client = _SHARED_CLIENTS.get(shared)
                if client is None:
                    pool = django._pool_class.from_url(server, **django._pool_options)
                    client = _SHARED_CLIENTS[shared] = django._client(connection_pool=pool)
        return client


class ReusedClientRedisCache(RedisCache):
    """Django's RedisCache with :class:`ReusedClientRedisCacheClient` (every
    environment's cache; production wraps it in :class:`ResilientRedisCache`)."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient


class ResilientRedisCache(ReusedClientRedisCache):
    """Django's RedisCache that treats an unreachable Redis as an empty cache."""

    _last_warning = 0.0

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        params = {**params}
        options = {**params.get("OPTIONS", {})}
        # Fail fast: a request must not hang on a dead Redis.
        options.setdefault("socket_connect_timeout", 0.5)
        options.setdefault("socket_timeout", 0.5)
        params["OPTIONS"] = options
        super().__init__(server, params)

    def ping(self) -> None:
        """Reach Redis, raising if it cannot be reached (``/readyz`` asks
        this: the cache methods below hide an outage by design)."""
        self._cache.get_client(write=True).ping()

    def _outage(self, operation: str, exc: Exception) -> None:
        from apps.common.metrics import CACHE_ERRORS

        CACHE_ERRORS.labels(operation).inc()
        now = time.monotonic()
        if now - ResilientRedisCache._last_warning > _WARN_EVERY_SECONDS:
            ResilientRedisCache._last_warning = now
            logger.warning("cache unavailable (%s failed: %s); serving without it", operation, exc)

    def get(self, key: str, default: Any = None, version: int | None = None) -> Any:
        try:
            return super().get(key, default, version)
        except _OUTAGE as exc:
            self._outage("get", exc)
            return default

    def get_many(self, keys: Iterable[str], version: int | None = None) -> dict[str, Any]:
        try:
            return super().get_many(keys, version)
        except _OUTAGE as exc:
            self._outage("get_many", exc)
            return {}

    def has_key(self, key: str, version: int | None = None) -> bool:
        try:
            return super().has_key(key, version)
        except _OUTAGE as exc:
            self._outage("has_key", exc)
            return False

    def set(
        self, key: str, value: Any, timeout: float | None = None, version: int | None = None
    ) -> None:
        from django.core.cache.backends.base import DEFAULT_TIMEOUT

        try:
            super().set(key, value, DEFAULT_TIMEOUT if timeout is None else timeout, version)
        except _OUTAGE as exc:
            self._outage("set", exc)

    def set_many(
        self, data: dict[str, Any], timeout: float | None = None, version: int | None = None
    ) -> list:
        from django.core.cache.backends.base import DEFAULT_TIMEOUT

        try:
            return super().set_many(data, DEFAULT_TIMEOUT if timeout is None else timeout, version)
        except _OUTAGE as exc:
            self._outage("set_many", exc)
            return list(data)

    def add(
        self, key: str, value: Any, timeout: float | None = None, version: int | None = None
    ) -> bool:
        from django.core.cache.backends.base import DEFAULT_TIMEOUT

        try:
            return super().add(key, value, DEFAULT_TIMEOUT if timeout is None else timeout, version)
        except _OUTAGE as exc:
            self._outage("add", exc)
            return False

    def delete(self, key: str, version: int | None = None) -> bool:
        try:
            return super().delete(key, version)
        except _OUTAGE as exc:
            self._outage("delete", exc)
            return False

    def delete_many(self, keys: Iterable[str], version: int | None = None) -> None:
        try:
            super().delete_many(keys, version)
        except _OUTAGE as exc:
            self._outage("delete_many", exc)

    def incr(self, key: str, delta: int = 1, version: int | None = None) -> int:
        """During an outage the key is missing, as for a read: ``ValueError``,
        Django's answer for incrementing a key that does not exist."""
        try:
            return super().incr(key, delta, version)
        except _OUTAGE as exc:
            self._outage("incr", exc)
            raise ValueError(f"Key '{key}' not found (cache unavailable)") from exc

    def touch(self, key: str, timeout: float | None = None, version: int | None = None) -> bool:
        from django.core.cache.backends.base import DEFAULT_TIMEOUT

        try:
            return super().touch(key, DEFAULT_TIMEOUT if timeout is None else timeout, version)
        except _OUTAGE as exc:
            self._outage("touch", exc)
            return False


class PublishSafeTask(TenantTask):
    """Tenant-aware task whose sending never raises a broker outage."""

    abstract = True

    def apply_async(self, *args: Any, **kwargs: Any) -> AsyncResult | None:
        try:
            return super().apply_async(*args, **kwargs)
        except KombuOperationalError as exc:
            from apps.common.metrics import CELERY_PUBLISH_FAILURES

            CELERY_PUBLISH_FAILURES.labels(self.name).inc()
            logger.error(
                "could not queue task %s after retries (broker unavailable): %s",
                self.name,
                exc,
                exc_info=True,
            )
            return None
