"""Request context for logs and errors: request id, tenant and user.

One context variable holds "what is running now" — an HTTP request, a
WebSocket connection or a Celery task. The logging filter and Sentry's
``before_send`` read it *when a record or an event is produced*, so the tenant
and the user are those known at that moment: DRF authenticates inside the view,
after the middleware ran, and the record of a log line written in the view
still carries the user.

* ``RequestIdMiddleware`` (first in ``MIDDLEWARE``): takes ``X-Request-ID`` from
  the client or the proxy when it is a sane token, else makes one; returns it
  in the response; writes one JSON access line per request.
* ``RequestContextFilter``: adds ``request_id``, ``tenant`` and ``user_id`` to
  every log record (``LOGGING`` in config/settings/base.py).
* ``SocketContextMiddleware``: the same for a WebSocket connection, plus the
  open-connection gauge (config/asgi.py).
* ``connect_celery_signals``: the task id as request id, the task's schema as
  tenant, task metrics (config/celery.py).
* ``init_sentry``: Django, Celery and logging integrations, PII off; the
  tenant and user id are attached as tags. ``wrap_websocket_app`` puts
  ``SentryAsgiMiddleware`` around the socket stack.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from celery import Task
    from sentry_sdk.transport import Transport
    from sentry_sdk.types import Event, Hint

    from config.admission import ASGIApp, Receive, Scope, Send

logger = logging.getLogger("novatime.request")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@dataclass
class Context:
    """What is running now; ``source`` is the request or socket scope, read lazily."""

    request_id: str
    kind: str  # "http" | "websocket" | "task"
    source: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def tenant(self) -> str | None:
        if self.kind == "http":
            tenant = getattr(self.source, "tenant", None)
            return tenant.schema_name if tenant is not None else None
        if self.kind == "websocket":
            tenant = self.source.get("tenant")
            return tenant.schema_name if tenant is not None else None
        if self.kind == "task":
            from django.db import connection

            schema = getattr(connection, "schema_name", None)
            return schema if schema and schema != "public" else None
        return None

    def user_id(self) -> str | None:
        user = None
        if self.kind == "http":
            # Never trigger a lazy session lookup from a log call: read the user
            # only once Django or DRF has resolved it.
            user = self.source.__dict__.get("user")
            wrapped = getattr(user, "_wrapped", None)
            if user is not None and wrapped is not None:
                from django.utils.functional import empty

                user = None if wrapped is empty else wrapped
        elif self.kind == "websocket":
            user = self.source.get("user")
            wrapped = getattr(user, "_wrapped", None)
            if wrapped is not None:
                from django.utils.functional import empty

                user = None if wrapped is empty else wrapped
        if user is None or not getattr(user, "is_authenticated", False):
            return None
        return str(user.pk)


current: contextvars.ContextVar[Context | None] = contextvars.ContextVar(
    "novatime_context", default=None
)


def request_id_from(value: str | None) -> str:
    """The client's/proxy's id when it is a sane token, else a fresh one."""
    if value and _REQUEST_ID.match(value):
        return value
    return uuid.uuid4().hex


class RequestContextFilter(logging.Filter):
    """Adds request_id, tenant and user_id (None outside any context)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = current.get()
        record.request_id = ctx.request_id if ctx else None
        try:
            record.tenant = ctx.tenant() if ctx else None
            record.user_id = ctx.user_id() if ctx else None
        except Exception:  # a log line must never fail because of its context
            record.tenant = record.user_id = None
        return True


class RequestIdMiddleware:
    """X-Request-ID in and out, the context for logs and Sentry, an access line."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_from(request.META.get("HTTP_X_REQUEST_ID"))
        request.request_id = request_id  # type: ignore[attr-defined]
        token = current.set(Context(request_id=request_id, kind="http", source=request))
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            if request.path_info.rstrip("/") not in {"/healthz", "/readyz", "/metrics"}:
                from apps.common.metrics import route_of

                logger.info(
                    "%s %s %s",
                    request.method,
                    route_of(request),
                    response.status_code,
                    extra={
                        "method": request.method,
                        "route": route_of(request),
                        "status": response.status_code,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    },
                )
            return response
        finally:
            current.reset(token)


class SocketContextMiddleware:
    """ASGI: context for a WebSocket connection's lifetime, and the gauge of
    open connections. Sits inside the tenant and auth middlewares, so the scope
    it sees has ``tenant`` and ``user``."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from apps.common.metrics import WEBSOCKET_CONNECTIONS

        headers = dict(scope.get("headers") or [])
        raw = headers.get(b"x-request-id", b"").decode("latin-1") or None
        token = current.set(
            Context(request_id=request_id_from(raw), kind="websocket", source=scope)
        )
        WEBSOCKET_CONNECTIONS.inc()
        try:
            return await self.inner(scope, receive, send)
        finally:
            WEBSOCKET_CONNECTIONS.dec()
            current.reset(token)


# --- Celery ------------------------------------------------------------------------

_task_started: dict[str, tuple[float, contextvars.Token]] = {}


def _task_prerun(task_id: str | None = None, task: Task | None = None, **_: object) -> None:
    token = current.set(Context(request_id=task_id or uuid.uuid4().hex, kind="task"))
    _task_started[task_id or ""] = (time.perf_counter(), token)


def _task_postrun(
    task_id: str | None = None, task: Task | None = None, state: str | None = None, **_: object
) -> None:
    from apps.common.metrics import CELERY_TASK_DURATION, CELERY_TASKS

    started, token = _task_started.pop(task_id or "", (None, None))
    name = getattr(task, "name", "unknown")
    if started is not None:
        CELERY_TASK_DURATION.labels(name).observe(time.perf_counter() - started)
    outcome = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried"}.get(
        state or "", (state or "unknown").lower()
    )
    CELERY_TASKS.labels(name, outcome).inc()
    if token is not None:
        try:
            current.reset(token)
        except ValueError:  # reset from another context (eventlet/gevent pools)
            current.set(None)


def connect_celery_signals() -> None:
    """Task context and metrics for every task (idempotent: weak=False, dispatch_uid)."""
    from celery import signals

    signals.task_prerun.connect(_task_prerun, weak=False, dispatch_uid="novatime-prerun")
    signals.task_postrun.connect(_task_postrun, weak=False, dispatch_uid="novatime-postrun")


# --- Sentry ----------------------------------------------------------------------


def _before_send(event: Event, hint: Hint) -> Event:
    ctx = current.get()
    if ctx is not None:
        tags = event.setdefault("tags", {})
        tags["request_id"] = ctx.request_id
        tags["context"] = ctx.kind
        try:
            tenant, user_id = ctx.tenant(), ctx.user_id()
        except Exception:
            tenant = user_id = None
        if tenant:
            tags["tenant"] = tenant
        if user_id:
            tags["user_id"] = user_id
            # The id only: no email, name or address (send_default_pii=False).
            event["user"] = {"id": user_id}
    return event


def init_sentry(
    *,
    dsn: str,
    environment: str = "production",
    traces_sample_rate: float = 0.0,
    release: str | None = None,
    transport: Transport | None = None,
) -> None:
    """Sentry for Django (HTTP, ASGI), Celery and log records of ERROR."""
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration

    options: dict[str, Any] = {}
    if transport is not None:
        options["transport"] = transport
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        traces_sample_rate=traces_sample_rate,
        # PII stays off: send_default_pii is left at its default (False; naming it
        # is deprecated since sentry-sdk 2.7x in favour of data_collection, and
        # data_collection would turn the default scrubber off). Tested: no
        # cookies, tokens or emails reach an event.
        max_request_body_size="never",
        integrations=[
            DjangoIntegration(),
            CeleryIntegration(monitor_beat_tasks=False),
            LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
        ],
        before_send=_before_send,
        **options,
    )


def wrap_websocket_app(app: ASGIApp) -> ASGIApp:
    """Sentry's ASGI middleware around the WebSocket stack (errors in consumers
    reach Sentry with the tenant/user tags); a no-op cost when Sentry is off."""
    from sentry_sdk.integrations.asgi import SentryAsgiMiddleware

    return SentryAsgiMiddleware(app)
