"""Hands committed domain events to the channel layer off the caller's thread.

A service write ends with ``transaction.on_commit`` → ``events._dispatch``,
which used to send through the channel layer with ``async_to_sync`` on the
request thread. Under ASGI that call is scheduled on the server's event loop
and the request waits for it: the busier the loop (many open connections),
the longer a timer start or a chat post took, although the response does not
depend on the send at all. Under WSGI, Celery or the CLI it even started a
fresh event loop for every event.

``EventPublisher.submit`` costs a queue put and returns. In an ASGI server
the events go, in commit order, to one consumer task on the server's own
event loop (where the old ``async_to_sync`` ran them, minus the waiting);
in any other process (WSGI, Celery, the CLI) to one daemon thread with its
own event loop. Either way one FIFO per loop keeps the per-process order
(``timer.stopped`` before ``timer.started``), and each event's groups are
sent concurrently (``events._send_to_groups``). channels-redis keeps one
connection pool per event loop, so the thread's loop has its own Redis
connections.

Failure semantics are those of the old synchronous send: the business write
has committed, so a failed send is logged and costs the live update only.
What the thread has queued when the process ends is flushed for up to
``EXIT_FLUSH_SECONDS`` (``atexit``); on a server's loop, events still queued
when the server stops are dropped with the loop, like the sockets they were
for (``flush`` covers the thread only). Celery tasks flush when they finish
(``flush_after_task``), so an event a task emitted is on its way before the
worker reports the task done. The thread is started lazily and again after a
``fork`` (prefork Celery workers, gunicorn): a forked child has the parent's
queue object but not its thread.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import queue
import threading
import weakref
from collections.abc import Awaitable, Callable

from asgiref.sync import SyncToAsync

logger = logging.getLogger(__name__)

#: How long a process that exits waits for its queued events.
EXIT_FLUSH_SECONDS = 2.0
#: How long a Celery task's end waits for the events it emitted.
TASK_FLUSH_SECONDS = 5.0

Send = Callable[[], Awaitable[None]]


class EventPublisher:
    """A FIFO of sends run one after the other on a private event loop."""

    def __init__(self, name: str = "novatime-events") -> None:
        self._name = name
        self._guard = threading.Lock()
        self._pid: int | None = None
        self._queue: queue.Queue[Send | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._loop_queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Queue] = (
            weakref.WeakKeyDictionary()
        )
        self._consumers: set[asyncio.Task[None]] = set()

    def submit(self, send: Send) -> None:
        """Queue ``send`` (a coroutine function); never blocks, never raises
        for a failing send (it is logged).

        On a request thread of an ASGI server the send goes to the server's
        own event loop (one FIFO consumer task per loop): no second loop, no
        second set of Redis connections, no extra thread holding the GIL
        while the loop writes frames to sockets. Elsewhere (WSGI, Celery, the
        CLI, tests) the private thread sends it.
        """
        loop = _server_loop()
        if loop is not None:
            self._submit_to_loop(loop, send)
            return
        self._ensure_thread()
        self._queue.put(send)

    def _submit_to_loop(self, loop: asyncio.AbstractEventLoop, send: Send) -> None:
        with self._guard:
            loop_queue = self._loop_queues.get(loop)
            if loop_queue is None:
                loop_queue = self._loop_queues[loop] = asyncio.Queue()
                loop.call_soon_threadsafe(self._start_consumer, loop, loop_queue)
        loop.call_soon_threadsafe(loop_queue.put_nowait, send)

    def _start_consumer(self, loop: asyncio.AbstractEventLoop, loop_queue: asyncio.Queue) -> None:
        self._consumers.add(loop.create_task(self._consume(loop_queue)))

    async def _consume(self, loop_queue: asyncio.Queue) -> None:
        while True:
            send = await loop_queue.get()
            try:
                await send()
            except Exception:
                logger.exception("realtime event not sent to the channel layer")

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued so far is sent (or failed); False when
        ``timeout`` seconds passed first."""
        if self._pid != os.getpid() or self._thread is None:
            return True  # nothing was queued in this process
        done = threading.Event()

        async def mark() -> None:
            done.set()

        self._queue.put(mark)
        return done.wait(timeout)

    def _ensure_thread(self) -> None:
        pid = os.getpid()
        if self._pid == pid and self._thread is not None and self._thread.is_alive():
            return
        with self._guard:
            if self._pid == pid and self._thread is not None and self._thread.is_alive():
                return
            if self._pid != pid:
                # A forked child: the parent's queue may hold items (and a lock
                # state) of a thread that does not exist here.
                self._queue = queue.Queue()
                if self._pid is None:
                    atexit.register(self._flush_at_exit)
            self._pid = pid
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            while True:
                send = self._queue.get()
                if send is None:
                    return
                try:
                    loop.run_until_complete(send())
                except Exception:
                    logger.exception("realtime event not sent to the channel layer")
        finally:
            loop.close()

    def _flush_at_exit(self) -> None:
        if not self.flush(EXIT_FLUSH_SECONDS):
            logger.warning("realtime events still queued at exit were dropped")


def _server_loop() -> asyncio.AbstractEventLoop | None:
    """The ASGI server's running event loop when called from one of its
    request threads (asgiref records it for ``sync_to_async`` threads)."""
    local = SyncToAsync.threadlocal
    loop: asyncio.AbstractEventLoop | None = getattr(local, "main_event_loop", None)
    if loop is None or getattr(local, "main_event_loop_pid", None) != os.getpid():
        return None
    if loop.is_closed() or not loop.is_running():
        return None
    return loop


publisher = EventPublisher()


def flush_after_task(**_: object) -> None:
    """Celery ``task_postrun`` receiver: the events a task emitted leave
    before the worker takes the next task (and before it could be killed)."""
    if not publisher.flush(TASK_FLUSH_SECONDS):
        logger.warning("realtime events of a task still queued after %ss", TASK_FLUSH_SECONDS)
