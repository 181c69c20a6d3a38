"""The ASGI app of ``config.asgi`` with ``Server-Timing`` on every response,
for bench/timer_load.py (the app itself has no timing header).

Two figures per response:

- ``app``: time inside DRF's ``APIView.dispatch`` on the request thread
  (authentication, permission, view, services, SQL, serialization) — the
  server's own work for the request, without waiting for a free thread;
- ``cpu``: CPU time of the request thread in that span (what the app costs
  when the machine is not shared; SQL time in PostgreSQL is not in it);
- ``queries``: SQL statements the request sent;
- ``asgi``: from the ASGI call to the response start, i.e. also Django's
  middleware (tenant resolution, sessions) and the wait for Django's single
  sync thread per worker when requests queue up.
"""

from __future__ import annotations

import time
from typing import Any

from config.asgi import application as _application


def _install_dispatch_timer() -> None:
    """Time DRF's dispatch (imported only now: Django is set up by config.asgi)."""
    from rest_framework.views import APIView

    dispatch = APIView.dispatch

    from django.db import connection

    def timed_dispatch(self: APIView, request: Any, *args: Any, **kwargs: Any) -> Any:
        queries = 0

        def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            nonlocal queries
            queries += 1
            return execute(sql, params, many, context)

        started, cpu_started = time.perf_counter(), time.thread_time()
        with connection.execute_wrapper(count):
            response = dispatch(self, request, *args, **kwargs)
        response["X-Bench-App-Ms"] = f"{(time.perf_counter() - started) * 1000:.3f}"
        response["X-Bench-Cpu-Ms"] = f"{(time.thread_time() - cpu_started) * 1000:.3f}"
        response["X-Bench-Queries"] = str(queries)
        response["X-Bench-Dispatch-Span"] = f"{started:.6f},{time.perf_counter():.6f}"
        return response

    APIView.dispatch = timed_dispatch  # type: ignore[method-assign]


_install_dispatch_timer()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        await _application(scope, receive, send)
        return
    started = time.perf_counter()

    async def timed_send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            total = (time.perf_counter() - started) * 1000
            headers = list(message.get("headers") or [])
            found = {k.lower(): v.decode() for k, v in headers if k.lower().startswith(b"x-bench-")}
            parts = [f"asgi;dur={total:.3f}"]
            for name, header in (("app", b"x-bench-app-ms"), ("cpu", b"x-bench-cpu-ms")):
                if header in found:
                    parts.append(f"{name};dur={found[header]}")
            if b"x-bench-queries" in found:
                parts.append(f"queries;dur={found[b'x-bench-queries']}")
            if b"x-bench-dispatch-span" in found:
                # Before DRF's dispatch (queue, thread hand-off, middleware)
                # and after it (middleware, hand-off back, response start).
                begin, end = (float(x) for x in found[b"x-bench-dispatch-span"].split(","))
                parts.append(f"pre;dur={(begin - started) * 1000:.3f}")
                parts.append(f"post;dur={(time.perf_counter() - end) * 1000:.3f}")
            headers.append((b"server-timing", ", ".join(parts).encode()))
            message = {**message, "headers": headers}
        await send(message)

    await _application(scope, receive, timed_send)
