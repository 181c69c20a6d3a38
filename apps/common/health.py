"""Liveness and readiness endpoints, answered on every host.

They run before tenant resolution on purpose: orchestrators probe a pod by its
IP address, which is no organization's host, and a readiness probe must not
depend on the tenant cache it is meant to check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

from tenants.db import tenant_connection
from tenants.migration_state import unapplied_migrations

logger = logging.getLogger(__name__)


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any failure means "not ready", never a 500
        logger.warning("readiness: database check failed: %s", exc)
        return f"database unavailable: {exc.__class__.__name__}"
    return None


def _check_redis() -> str | None:
    try:
        ping = getattr(cache, "ping", None)  # ResilientRedisCache hides outages otherwise
        if ping is not None:
            ping()
        cache.set("readyz", "1", timeout=5)
        if cache.get("readyz") != "1":
            return "redis did not return the value it stored"
    except Exception as exc:
        logger.warning("readiness: redis check failed: %s", exc)
        return f"redis unavailable: {exc.__class__.__name__}"
    return None


def _check_migrations() -> str | None:
    try:
        pending = unapplied_migrations()
    except Exception as exc:
        logger.warning("readiness: migration check failed: %s", exc)
        return f"migration state unknown: {exc.__class__.__name__}"
    if pending:
        return f"{len(pending)} unapplied migration(s): {', '.join(sorted(pending)[:5])}"
    return None


#: Checks whose failure leaves the API serving: the pod is ``degraded``, not
#: unready. A Redis outage is shared by every pod, and the API keeps serving
#: reads and writes through it (config/resilience.py); answering 503 would
#: take every pod out of the load balancer and turn the degradation into an
#: outage.
DEGRADING_CHECKS = frozenset({"redis"})


def readiness() -> tuple[str, dict[str, str]]:
    """Run every readiness check; returns (status, {check: "ok" | problem})
    where status is ``ok``, ``degraded`` (only a check of DEGRADING_CHECKS
    failed: still ready) or ``unavailable``."""
    results: dict[str, str] = {}
    db_problem = _check_database()
    results["database"] = db_problem or "ok"
    results["redis"] = _check_redis() or "ok"
    results["migrations"] = (
        "skipped: database unavailable" if db_problem else (_check_migrations() or "ok")
    )
    failed = {name for name, outcome in results.items() if outcome != "ok"}
    if not failed:
        return "ok", results
    return ("degraded" if failed <= DEGRADING_CHECKS else "unavailable"), results


class HealthCheckMiddleware:
    """Answers ``/healthz`` and ``/readyz`` before any other middleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info.rstrip("/")
        if path == "/healthz":
            return JsonResponse({"status": "ok"})
        if path == "/readyz":
            status, checks = readiness()
            tenant_connection().set_schema_to_public()
            return JsonResponse(
                {"status": status, "checks": checks},
                status=503 if status == "unavailable" else 200,
            )
        return self.get_response(request)
