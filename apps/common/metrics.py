"""Prometheus metrics: HTTP requests, latency, Celery tasks, WebSocket
connections and per-tenant request counters with bounded cardinality.

Label values are always drawn from small, fixed sets, so a scrape never grows
with traffic or with the number of organizations:

* ``route`` is the URL *pattern* Django matched (``api/v1/projects/<uuid:pk>/``),
  never the raw path; unmatched paths are ``<unmatched>``;
* ``tenant_bucket`` is a stable hash of the tenant's schema name into
  ``NOVATIME_METRICS_TENANT_BUCKETS`` buckets (default 64): enough to see that
  one tenant is hot (its bucket stands out; the bucket of a schema is printed
  by ``tenant_bucket(schema)``) without one series per organization.

Multiprocess (gunicorn with several workers): set ``PROMETHEUS_MULTIPROC_DIR``
to an empty directory per pod before the workers start (deploy/entrypoint.sh
does), and gunicorn's ``child_exit`` hook marks dead workers
(deploy/gunicorn.conf.py); ``/metrics`` then aggregates every worker's files.

``/metrics`` is answered by ``MetricsMiddleware`` before tenant resolution (a
scraper uses the pod IP, no organization's host). It needs
``Authorization: Bearer $NOVATIME_METRICS_TOKEN`` when that variable is set;
without a token it answers only to loopback and private addresses.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prom_multiprocess

from apps.common.errors import json_error
from config.client_ip import client_ip

HTTP_REQUESTS = Counter(
    "novatime_http_requests_total",
    "HTTP requests by method, matched URL pattern and status code.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "novatime_http_request_duration_seconds",
    "Time from the first middleware to the response, by method and URL pattern.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
TENANT_REQUESTS = Counter(
    "novatime_tenant_requests_total",
    "HTTP requests on organization hosts, by hashed tenant bucket (bounded).",
    ["tenant_bucket"],
)
CELERY_TASKS = Counter(
    "novatime_celery_tasks_total",
    "Celery task outcomes by task name and state (succeeded, failed, retried).",
    ["task", "state"],
)
CELERY_TASK_DURATION = Histogram(
    "novatime_celery_task_duration_seconds",
    "Celery task run time by task name.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0),
)
CELERY_PUBLISH_FAILURES = Counter(
    "novatime_celery_publish_failures_total",
    "Tasks that could not be handed to the broker (after retries).",
    ["task"],
)
CACHE_ERRORS = Counter(
    "novatime_cache_errors_total",
    "Cache operations that failed because Redis was unreachable (served without it).",
    ["operation"],
)
WEBSOCKET_CONNECTIONS = Gauge(
    "novatime_websocket_connections",
    "Open WebSocket connections in this process (summed over live processes).",
    multiprocess_mode="livesum",
)

KNOWN_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"})
HEALTH_PATHS = {"/healthz": "healthz", "/readyz": "readyz", "/metrics": "metrics"}
UNMATCHED = "<unmatched>"


def tenant_bucket(schema_name: str) -> str:
    """Stable bucket label of a tenant schema (same on every process and pod)."""
    buckets = getattr(settings, "NOVATIME_METRICS_TENANT_BUCKETS", 64)
    digest = hashlib.blake2b(schema_name.encode(), digest_size=4).digest()
    return f"b{int.from_bytes(digest, 'big') % buckets:02d}"


def route_of(request: HttpRequest) -> str:
    """The URL pattern that served the request, never the raw path."""
    path = request.path_info.rstrip("/")
    if path in HEALTH_PATHS:
        return HEALTH_PATHS[path]
    match = getattr(request, "resolver_match", None)
    if match is None:
        return UNMATCHED
    return match.route or match.view_name or UNMATCHED


def render_metrics() -> bytes:
    """The exposition text: this process's registry, or every worker's files
    in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prom_multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()


def _private_client(request: HttpRequest) -> bool:
    """Whether the client (``config.client_ip``: behind a trusted proxy, the
    address it forwarded, not the proxy's own private one) is private."""
    try:
        address = ipaddress.ip_address(client_ip(request))
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def metrics_allowed(request: HttpRequest) -> bool:
    token = getattr(settings, "NOVATIME_METRICS_TOKEN", "") or os.environ.get(
        "NOVATIME_METRICS_TOKEN", ""
    )
    if token:
        given = request.META.get("HTTP_AUTHORIZATION", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    return _private_client(request)


class MetricsMiddleware:
    """First in the stack: answers ``/metrics``, and counts and times every
    other request (health probes included, under their own route names)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.rstrip("/") == "/metrics":
            if not metrics_allowed(request):
                return json_error(403, "permission_denied", "Metrics need the scrape token.")
            return HttpResponse(render_metrics(), content_type=CONTENT_TYPE_LATEST)
        started = time.perf_counter()
        response = self.get_response(request)
        route = route_of(request)
        method = request.method if request.method in KNOWN_METHODS else "OTHER"
        HTTP_REQUESTS.labels(method, route, str(response.status_code)).inc()
        HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - started)
        tenant = getattr(request, "tenant", None)
        if tenant is not None:
            TENANT_REQUESTS.labels(tenant_bucket(tenant.schema_name)).inc()
        return response
