"""Django's ASGI handler with the middleware chain run in one thread hop.

In ASGI mode Django keeps every async-capable middleware async; for the
built-in ``MiddlewareMixin`` ones that means each ``process_request`` and
``process_response`` hook is its own ``sync_to_async`` call — a trip from
the event loop to the request's thread and back — and NovaTime's own
middleware, which is sync only, adds more hops in between. Measured on the
timer's hot path (bench/timer_load.py, ``pre``/``post``): about 10 ms per
request outside the view, more than the view itself.

None of NovaTime's HTTP views or middleware is async, so nothing is gained
by the async chain: this handler builds the chain in sync mode, as a WSGI
server would run it, and calls it with one ``sync_to_async``. Requests keep
their own thread (Django's per-request ``ThreadSensitiveContext``), response
streaming is unchanged (``ASGIHandler.send_response``), and WebSockets do not
come here (Channels routes them).
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler


class OneHopASGIHandler(ASGIHandler):
    """``ASGIHandler`` whose middleware chain and view run in one hop."""

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)  # the sync chain, view included
        handler: Any = self  # the stubs do not declare Django's _middleware_chain
        handler._middleware_chain = sync_to_async(handler._middleware_chain, thread_sensitive=True)


def get_asgi_application() -> OneHopASGIHandler:
    """``django.core.asgi.get_asgi_application`` with :class:`OneHopASGIHandler`."""
    import django

    django.setup(set_prefix=False)
    return OneHopASGIHandler()
