"""Admission control for HTTP requests in one ASGI process.

Django runs every HTTP request's sync code (middleware, DRF views, the ORM)
on a thread of its own. Uvicorn accepts every request a client sends, so 25
concurrent requests on a worker meant 25 threads taking turns on one GIL:
each request's time inside the view grew with the number of its neighbours
(a 10 ms timer start took 250 ms at 50 concurrent clients on 2 workers), and
each thread wanted a database connection at the same time. Threads beyond a
few per process buy no throughput — the work is CPU-bound Python between
short database round trips.

``AdmissionLimit`` lets at most ``limit`` requests per process into Django at
once; the others wait on the event loop, in arrival order, where waiting
costs nothing but a coroutine. The queue is then in front of the view (as in
a pre-forked WSGI server's accept queue) instead of inside it, so a request
that is admitted runs at its own speed, and database connections per process
stay at the limit (size the pool accordingly). A slot is given back when the
response starts: a streamed export keeps producing its chunks without
holding one. Health probes and ``/metrics`` bypass the queue, so an
orchestrator sees a busy process as busy, not dead; WebSockets are not
HTTP requests and never queue here.

Two lanes. Requests that may take long or wait on something outside — AI
calls to an LLM provider, reports and exports, imports, billing calls to
Stripe, signup (a schema is provisioned), login (password hashing), the
admin, the OpenAPI schema — queue for slots of their own (``slow_limit``,
``slow_prefixes``): they never hold up the quick majority (timer, heartbeat,
CRUD), which runs one at a time per process by default, the setting with
the lowest time inside the view (``bench/timer_load.py``: two at once in
one process share a GIL and take twice as long each).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]  # Django's handler types its scope as a dict

#: Paths that never wait: liveness/readiness probes and the metrics scrape.
EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

#: Path prefixes of the slow lane (see the module docstring).
SLOW_PREFIXES = (
    "/api/v1/ai/",
    "/api/v1/reports/",
    "/api/v1/imports/",
    "/api/v1/billing/",
    "/api/v1/signup/",  # provisions a schema
    "/api/v1/auth/",
    "/admin/",
    "/api/schema/",
    "/api/docs/",
)


class AdmissionLimit:
    """ASGI middleware: at most ``limit`` HTTP requests of this process run
    at once (<= 0: no limit), plus at most ``slow_limit`` whose path starts
    with one of ``slow_prefixes`` (<= 0: no slow lane; those paths share the
    quick one)."""

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        slow_limit: int = 0,
        slow_prefixes: tuple[str, ...] = SLOW_PREFIXES,
    ) -> None:
        self.app = app
        self.limit = limit
        self.slow_limit = slow_limit
        self.slow_prefixes = slow_prefixes
        self._lanes: dict[bool, asyncio.Semaphore] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path") or ""
        slow = bool(self.slow_limit) and path.startswith(self.slow_prefixes)
        limit = self.slow_limit if slow else self.limit
        if limit <= 0 or scope["type"] != "http" or path in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        slots = self._lanes.get(slow)
        if slots is None:  # bound to the server's loop: made on first use
            slots = self._lanes[slow] = asyncio.Semaphore(limit)
        await slots.acquire()
        held = True

        async def send_and_release(message: Message) -> None:
            nonlocal held
            if held and message["type"] == "http.response.start":
                held = False
                slots.release()
            await send(message)

        try:
            await self.app(scope, receive, send_and_release)
        finally:
            if held:
                slots.release()
