"""gunicorn's worker class for the web process: uvicorn's, with NovaTime's limits.

Why a subclass: gunicorn hands uvicorn its own settings (keep-alive, timeouts,
``forwarded_allow_ips``) but has none for WebSocket frames, and uvicorn's
default ``ws_max_size`` is 16 MiB: a frame up to that size was read whole into
memory before the consumer (4,096 characters at most,
apps/websocket_server/frames.py) refused it.  ``CONFIG_KWARGS`` is how
uvicorn's worker takes further ``uvicorn.Config`` arguments.

Where it lives and how gunicorn gets it: gunicorn resolves ``worker_class`` in
its master process.  Named by dotted path (``config.gunicorn_worker.…``) it
would import the ``config`` package there, and ``config/__init__.py`` sets up
the Celery app and its signal handlers, which have no business in the master.
So this module imports nothing from the project, and deploy/gunicorn.conf.py
loads it by its file path and gives gunicorn the class itself (gunicorn
accepts a class as ``worker_class``); the workers are forked from the master
and inherit it.  scripts/dev.py passes the same ``WS_MAX_SIZE`` to uvicorn's
``--ws-max-size``: one limit for the run command and production.
"""

from __future__ import annotations

from typing import Any, Final

from uvicorn_worker import UvicornWorker  # type: ignore[import-untyped]  # no py.typed

WS_MAX_SIZE: Final = 64 * 1024
"""Largest WebSocket message, in bytes, the server reads: a larger one is closed
with 1009 before it is buffered.  Above anything the consumer accepts (4,096
characters: 24 KiB even if each is a six-byte JSON escape)."""


class NovaTimeUvicornWorker(UvicornWorker):
    """uvicorn's gunicorn worker with ``ws_max_size`` set (see the module docstring)."""

    CONFIG_KWARGS: dict[str, Any] = {**UvicornWorker.CONFIG_KWARGS, "ws_max_size": WS_MAX_SIZE}
