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


class AdmissionLimit:
    """ASGI middleware: at most ``limit`` HTTP requests of this process run
    at once (``limit`` <= 0 turns it off)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self._slots: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.limit <= 0 or scope["type"] != "http" or scope.get("path") in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        if self._slots is None:  # bound to the server's loop: made on first use
            self._slots = asyncio.Semaphore(self.limit)
        slots = self._slots
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
