"""Assertion helpers shared by the API tests of every app."""

from __future__ import annotations

from typing import Any

#: ``(role, status, code)`` for a write that needs manager or above:
#: ``None`` = anonymous, ``"outsider"`` = authenticated non-member; a ``None``
#: status means the write is allowed.
MANAGER_WRITE_MATRIX: list[tuple[str | None, int | None, str | None]] = [
    (None, 401, "not_authenticated"),
    ("outsider", 403, "not_a_member"),
    ("viewer", 403, "role_required"),
    ("member", 403, "role_required"),
] + [(role, None, None) for role in ("manager", "admin", "owner")]


def expect(response: Any, status: int, code: str | None = None) -> Any:
    """Assert the status (and the error ``code``); return the JSON body, if any."""
    assert response.status_code == status, response.content
    if code:
        assert response.json()["code"] == code
    return response.json() if response.content else None


def clear_test_cache() -> None:
    """Delete this test run's cache keys only.

    ``cache.clear()`` is FLUSHDB on the shared Redis database: it would wipe
    other processes' socket tickets, channel groups and Celery queues.
    """
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    cache = caches["default"]
    if not isinstance(cache, RedisCache):
        raise TypeError(f"clear_test_cache() needs the Redis cache, not {type(cache).__name__}")
    client = cache._cache.get_client(write=True)
    keys = list(client.scan_iter(match=f"{cache.key_prefix}:*", count=500))
    if keys:
        client.delete(*keys)


def app_queries(captured: Any) -> list[dict[str, Any]]:
    """The statements of a ``CaptureQueriesContext`` other than ``SET
    search_path``: whether a request sends that one depends on the path the
    session held before (config/db_backend/tenants), not on the code under
    test, so a query count that must compare two requests leaves it out."""
    return [q for q in captured.captured_queries if not q["sql"].startswith("SET search_path")]
