"""The event publisher: committed events leave on a thread of their own, in
order, without the caller waiting, and failures cost only the live update."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from apps.websocket_server.publisher import EventPublisher


def test_sends_run_in_submission_order():
    publisher = EventPublisher(name="test-order")
    seen: list[int] = []

    def send(i: int):
        async def run() -> None:
            await asyncio.sleep(0.001 * (i % 3))  # later ones may be quicker
            seen.append(i)

        return run

    for i in range(50):
        publisher.submit(send(i))
    assert publisher.flush(5)
    assert seen == list(range(50))


def test_submit_does_not_wait_for_the_send():
    """A send that cannot finish until the caller has moved on: a
    synchronous publisher would deadlock here (and the flush time out)."""
    publisher = EventPublisher(name="test-nowait")
    release = threading.Event()
    done = threading.Event()

    async def slow() -> None:
        while not release.is_set():
            await asyncio.sleep(0.005)
        done.set()

    publisher.submit(slow)
    assert not done.is_set()
    release.set()  # only reached because submit() returned
    assert publisher.flush(5)
    assert done.is_set()


def test_a_failing_send_is_logged_and_the_next_still_runs(caplog):
    publisher = EventPublisher(name="test-failure")
    seen: list[str] = []

    async def broken() -> None:
        raise ConnectionError("redis is down")

    async def fine() -> None:
        seen.append("fine")

    publisher.submit(broken)
    publisher.submit(fine)
    assert publisher.flush(5)
    assert seen == ["fine"]
    assert "not sent to the channel layer" in caplog.text


def test_flush_times_out_while_a_send_hangs():
    publisher = EventPublisher(name="test-timeout")
    release = threading.Event()

    async def hang() -> None:
        while not release.is_set():
            await asyncio.sleep(0.005)

    publisher.submit(hang)
    assert publisher.flush(0.05) is False
    release.set()
    assert publisher.flush(5)


def test_flush_with_nothing_queued_returns_at_once():
    assert EventPublisher(name="test-idle").flush(0.01)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_publishes_through_its_own_thread():
    """Prefork Celery workers and gunicorn fork after the parent may have
    started its thread: the child starts its own and its events arrive."""
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    publisher = EventPublisher(name="test-fork")
    publisher.submit(lambda: asyncio.sleep(0))  # the parent's thread exists
    assert publisher.flush(5)

    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            publisher.submit(lambda: layer.send(channel, {"type": "hello", "from": "child"}))
            code = 0 if publisher.flush(5) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0

    async def receive() -> dict:
        return await asyncio.wait_for(layer.receive(channel), 5)

    assert async_to_sync(receive)() == {"type": "hello", "from": "child"}


def test_on_a_server_request_thread_sends_go_to_the_servers_loop_in_order():
    """Under ASGI a request thread's events are sent by the server's own loop
    (no private thread, no second set of Redis connections), in order."""
    from asgiref.sync import sync_to_async

    publisher = EventPublisher(name="test-loop")
    seen: list[tuple[int, int]] = []

    async def scenario() -> int:
        all_sent = asyncio.Event()

        def send(i: int):
            async def run() -> None:
                await asyncio.sleep(0.001 * (i % 3))
                seen.append((i, threading.get_ident()))
                if i == 19:
                    all_sent.set()

            return run

        def request_thread() -> None:  # what a view's on-commit hook does
            for i in range(20):
                publisher.submit(send(i))

        await sync_to_async(request_thread)()
        await asyncio.wait_for(all_sent.wait(), 5)
        return threading.get_ident()

    loop_thread = asyncio.run(scenario())
    assert [i for i, _ in seen] == list(range(20))
    assert {ident for _, ident in seen} == {loop_thread}
    assert publisher._thread is None  # the private thread was never needed
