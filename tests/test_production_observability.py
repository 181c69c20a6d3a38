"""Observability: request ids, JSON logs with tenant and user, Prometheus
metrics with bounded labels, a protected /metrics, Celery task context and
metrics, the WebSocket connection gauge, Sentry tags without PII."""

from __future__ import annotations

import io
import json
import logging
import time
import uuid
from typing import Any

import pytest
import sentry_sdk
from asgiref.sync import async_to_sync
from celery import shared_task
from celery.contrib.testing.worker import start_worker
from channels.testing import WebsocketCommunicator
from django.core.cache import cache
from django.test import override_settings
from prometheus_client import REGISTRY
from pythonjsonlogger.json import JsonFormatter
from sentry_sdk.transport import Transport

from apps.common.metrics import tenant_bucket
from apps.organizations.tests.factories import client_as
from apps.projects.tests.factories import ProjectFactory
from config.celery import app as celery_app
from config.observability import RequestContextFilter, init_sentry

pytestmark = pytest.mark.django_db


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def json_log() -> Any:
    """Records of the app and request loggers, formatted as production formats
    them (not on the root logger: a Celery test worker resets its handlers)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(RequestContextFilter())
    loggers = [logging.getLogger(name) for name in ("apps.test", "novatime.request")]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)

    def lines() -> list[dict[str, Any]]:
        return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]

    yield lines
    for logger in loggers:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)


# --- request id -----------------------------------------------------------------


def test_request_id_is_taken_from_the_client_or_made(tenant):
    client = client_as(tenant, "member")
    given = client.get("/api/v1/projects/", HTTP_X_REQUEST_ID="abc-123.lb:7")
    assert given.status_code == 200
    assert given["X-Request-ID"] == "abc-123.lb:7"
    made = client.get("/api/v1/projects/")
    assert len(made["X-Request-ID"]) == 32 and made["X-Request-ID"] != "abc-123.lb:7"
    hostile = client.get("/api/v1/projects/", HTTP_X_REQUEST_ID="a b\nInjected: 1")
    assert hostile["X-Request-ID"] != "a b\nInjected: 1" and len(hostile["X-Request-ID"]) == 32
    assert client.get("/healthz")["X-Request-ID"]  # probes too


def test_json_access_line_carries_request_id_tenant_and_user(tenant, json_log):
    client = client_as(tenant, "member")
    response = client.get("/api/v1/projects/", HTTP_X_REQUEST_ID="req-42")
    assert response.status_code == 200
    (line,) = [r for r in json_log() if r["name"] == "novatime.request"]
    assert line["request_id"] == "req-42"
    assert line["tenant"] == tenant.schema_name
    assert line["user_id"] == str(client.user.id)  # DRF authenticated it inside the view
    assert line["route"] == "api/v1/projects/"
    assert line["status"] == 200 and line["method"] == "GET"
    assert isinstance(line["duration_ms"], float)


def test_log_lines_written_inside_a_view_carry_the_context(tenant, json_log, monkeypatch):
    from apps.common.api import views

    original = views.HostMetaView.get

    def logging_get(self, request):
        logging.getLogger("apps.test").warning("inside the view")
        return original(self, request)

    monkeypatch.setattr(views.HostMetaView, "get", logging_get)
    client = client_as(tenant, "admin")
    assert client.get("/api/v1/meta/", HTTP_X_REQUEST_ID="in-view").status_code == 200
    (line,) = [r for r in json_log() if r["message"] == "inside the view"]
    assert (line["request_id"], line["tenant"], line["user_id"]) == (
        "in-view",
        tenant.schema_name,
        str(client.user.id),
    )


def test_public_host_and_anonymous_requests_log_no_tenant_or_user(public_client, json_log):
    public_client.get("/api/v1/meta/")
    (line,) = [r for r in json_log() if r["name"] == "novatime.request"]
    assert line["tenant"] is None and line["user_id"] is None and line["request_id"]


def test_log_lines_outside_any_request_have_empty_context(json_log):
    logging.getLogger("apps.test").warning("no request")
    (line,) = json_log()
    assert line["request_id"] is None and line["tenant"] is None


# --- metrics ----------------------------------------------------------------------


def test_requests_are_counted_by_route_pattern_never_raw_path(tenant):
    client = client_as(tenant, "admin")
    with _in(tenant):
        project = ProjectFactory()
    route = "api/v1/projects/<uuid:pk>/"
    labels = {"method": "GET", "route": route, "status": "200"}
    before = _sample("novatime_http_requests_total", **labels)
    hist_before = _sample("novatime_http_request_duration_seconds_count", method="GET", route=route)
    assert client.get(f"/api/v1/projects/{project.id}/").status_code == 200
    assert client.get(f"/api/v1/projects/{uuid.uuid4()}/").status_code == 404
    assert _sample("novatime_http_requests_total", **labels) == before + 1
    assert _sample("novatime_http_requests_total", **{**labels, "status": "404"}) >= 1
    assert (
        _sample("novatime_http_request_duration_seconds_count", method="GET", route=route)
        == hist_before + 2
    )
    # No series is labelled with an id.
    routes = {
        s.labels["route"]
        for metric in REGISTRY.collect()
        if metric.name == "novatime_http_requests"
        for s in metric.samples
    }
    assert not any(str(project.id) in r for r in routes)


def test_unmatched_paths_and_odd_methods_share_one_label(tenant):
    client = client_as(tenant, "member")
    before = _sample(
        "novatime_http_requests_total", method="GET", route="<unmatched>", status="404"
    )
    for i in range(3):
        client.get(f"/no/such/path/{i}/")
    assert (
        _sample("novatime_http_requests_total", method="GET", route="<unmatched>", status="404")
        == before + 3
    )
    client.generic("BREW", "/api/v1/projects/")
    assert not any(
        s.labels.get("method") == "BREW"
        for m in REGISTRY.collect()
        for s in m.samples
        if m.name.startswith("novatime_http")
    )


def test_tenant_counter_uses_a_bounded_hashed_bucket(tenant, other_tenant):
    bucket = tenant_bucket(tenant.schema_name)
    assert bucket == tenant_bucket(tenant.schema_name)  # stable
    assert len({tenant_bucket(f"t_{i:032x}") for i in range(5000)}) <= 64
    before = _sample("novatime_tenant_requests_total", tenant_bucket=bucket)
    client_as(tenant, "member").get("/api/v1/projects/")
    assert _sample("novatime_tenant_requests_total", tenant_bucket=bucket) == before + 1
    assert not any(
        tenant.schema_name in str(s.labels) or tenant.slug in str(s.labels)
        for m in REGISTRY.collect()
        for s in m.samples
        if m.name.startswith("novatime_")
    )


@override_settings(NOVATIME_METRICS_TOKEN="s3cret")
def test_metrics_endpoint_requires_the_token(public_client, tenant):
    refused = public_client.get("/metrics")
    assert refused.status_code == 403
    assert refused.json()["code"] == "permission_denied"
    assert public_client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 403
    ok = public_client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret")
    assert ok.status_code == 200
    assert b"novatime_http_requests_total" in ok.content
    # Answered on any host, before tenant resolution (scrapers use the pod IP).
    by_ip = public_client.get("/metrics", HTTP_HOST="10.1.2.3", HTTP_AUTHORIZATION="Bearer s3cret")
    assert by_ip.status_code == 200


@override_settings(NOVATIME_METRICS_TOKEN="")
def test_metrics_without_token_only_for_private_addresses(public_client):
    assert public_client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert public_client.get("/metrics", REMOTE_ADDR="10.0.3.4").status_code == 200
    assert public_client.get("/metrics", REMOTE_ADDR="1.2.3.4").status_code == 403


def test_metrics_multiprocess_mode_aggregates_worker_files(tmp_path, monkeypatch):
    import subprocess
    import sys
    import textwrap

    # Two "workers" write their own files; the scrape process sums them.
    script = textwrap.dedent(
        """
        import os, sys
        os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
        import django; django.setup()
        from apps.common.metrics import HTTP_REQUESTS, render_metrics
        if sys.argv[1] == "count":
            HTTP_REQUESTS.labels("GET", "api/v1/projects/", "200").inc(int(sys.argv[2]))
        else:
            sys.stdout.write(render_metrics().decode())
        """
    )
    env = {**__import__("os").environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for n in ("3", "4"):
        subprocess.run([sys.executable, "-c", script, "count", n], env=env, check=True)
    out = subprocess.run(
        [sys.executable, "-c", script, "show"], env=env, check=True, capture_output=True, text=True
    ).stdout
    line = next(
        x for x in out.splitlines() if x.startswith("novatime_http_requests_total{") and "200" in x
    )
    assert line.endswith(" 7.0")


# --- Celery -----------------------------------------------------------------------


@shared_task(name="tests.observability_task")
def observability_task(token: str) -> None:
    logging.getLogger("apps.test").warning("task %s", token)
    cache.set(f"obs-test:{token}", "done", 60)


@shared_task(name="tests.observability_failing_task")
def observability_failing_task() -> None:
    raise ValueError("boom")


def test_celery_tasks_are_counted_and_log_their_tenant(tenant, json_log):
    from django_tenants.utils import tenant_context

    ok_before = _sample(
        "novatime_celery_tasks_total", task="tests.observability_task", state="succeeded"
    )
    failed_before = _sample(
        "novatime_celery_tasks_total", task="tests.observability_failing_task", state="failed"
    )
    token = uuid.uuid4().hex
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        with tenant_context(tenant):
            result = observability_task.delay(token)
        observability_failing_task.delay()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (
            cache.get(f"obs-test:{token}") is None
            or _sample(
                "novatime_celery_tasks_total",
                task="tests.observability_failing_task",
                state="failed",
            )
            == failed_before
        ):
            time.sleep(0.05)
    assert cache.get(f"obs-test:{token}") == "done"
    assert (
        _sample("novatime_celery_tasks_total", task="tests.observability_task", state="succeeded")
        == ok_before + 1
    )
    assert (
        _sample(
            "novatime_celery_tasks_total", task="tests.observability_failing_task", state="failed"
        )
        == failed_before + 1
    )
    (line,) = [r for r in json_log() if r["message"] == f"task {token}"]
    assert line["request_id"] == result.id
    assert line["tenant"] == tenant.schema_name


# --- WebSocket gauge --------------------------------------------------------------


def test_websocket_connections_gauge(tenant, monkeypatch):
    from config.asgi import application

    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)
    host = f"{tenant.slug}.localhost"

    async def run() -> tuple[float, float, float]:
        before = _sample("novatime_websocket_connections")
        communicator = WebsocketCommunicator(
            application,
            "/ws/",
            headers=[(b"host", host.encode()), (b"origin", f"http://{host}".encode())],
        )
        await communicator.connect()  # anonymous: the consumer closes it, after accepting the scope
        during = _sample("novatime_websocket_connections")
        await communicator.disconnect()
        return before, during, _sample("novatime_websocket_connections")

    before, during, after = async_to_sync(run)()
    assert during == before + 1
    assert after == before


# --- Sentry -------------------------------------------------------------------------


class _Capture(Transport):
    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self.events: list[dict[str, Any]] = []

    def capture_envelope(self, envelope: Any) -> None:
        for item in envelope.items:
            if item.type == "event":
                self.events.append(item.payload.json)


@pytest.fixture
def sentry_events() -> Any:
    transport = _Capture()
    init_sentry(dsn="https://public@sentry.invalid/1", transport=transport)
    yield transport.events
    sentry_sdk.init()  # no DSN: back to a disabled client


def test_sentry_event_has_tenant_and_user_tags_and_no_pii(tenant, sentry_events, monkeypatch):
    from apps.common.api import views

    def boom(self, request):
        raise RuntimeError("view crashed")

    monkeypatch.setattr(views.HostMetaView, "get", boom)
    client = client_as(tenant, "admin")
    client.raise_request_exception = False
    response = client.get(
        "/api/v1/meta/",
        HTTP_X_REQUEST_ID="sentry-1",
        HTTP_COOKIE="sessionid=very-secret",
        HTTP_AUTHORIZATION="Token also-secret",
    )
    assert response.status_code == 500
    sentry_sdk.flush()
    (event,) = [e for e in sentry_events if e.get("exception")]
    assert event["tags"]["tenant"] == tenant.schema_name
    assert event["tags"]["user_id"] == str(client.user.id)
    assert event["tags"]["request_id"] == "sentry-1"
    assert event["user"] == {"id": str(client.user.id)}
    blob = json.dumps(event)
    assert "very-secret" not in blob and "also-secret" not in blob
    assert client.user.email not in blob


def _in(tenant: Any) -> Any:
    from django_tenants.utils import tenant_context

    return tenant_context(tenant)
