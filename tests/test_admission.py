"""AdmissionLimit (config/admission.py): at most ``limit`` HTTP requests
inside the app at once, the rest wait in arrival order; slots come back at
the response start, also on errors; probes, metrics and WebSockets never
wait."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from config.admission import AdmissionLimit


class _App:
    """Records how many calls run at once; each waits for ``gate``."""

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0
        self.order: list[str] = []
        self.gate = asyncio.Event()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        self.running += 1
        self.peak = max(self.peak, self.running)
        self.order.append(scope["path"])
        try:
            await self.gate.wait()
            if scope["path"] == "/boom":
                raise RuntimeError("boom")
            await send({"type": "http.response.start", "status": 200, "headers": []})
        finally:
            self.running -= 1


async def _receive() -> dict:
    return {"type": "http.request"}


async def _send(message: dict) -> None:
    return None


def _http(path: str) -> dict:
    return {"type": "http", "path": path}


def test_no_more_than_the_limit_run_at_once_and_the_rest_go_in_order():
    async def scenario() -> _App:
        app = _App()
        limited = AdmissionLimit(app, limit=2)
        calls = [asyncio.create_task(limited(_http(f"/r{i}"), _receive, _send)) for i in range(6)]
        await asyncio.sleep(0.05)
        assert app.order == ["/r0", "/r1"]  # the others wait outside the app
        app.gate.set()
        await asyncio.gather(*calls)
        return app

    app = asyncio.run(scenario())
    assert app.peak == 2
    assert app.order == [f"/r{i}" for i in range(6)]


def test_an_error_gives_the_slot_back():
    async def scenario() -> _App:
        app = _App()
        limited = AdmissionLimit(app, limit=1)
        app.gate.set()
        with pytest.raises(RuntimeError):
            await limited(_http("/boom"), _receive, _send)
        await asyncio.wait_for(limited(_http("/after"), _receive, _send), 1)
        return app

    assert asyncio.run(scenario()).order == ["/boom", "/after"]


def test_the_slot_is_given_back_when_the_response_starts():
    """A streamed response (an export) goes on producing its body without
    holding a slot: the next request enters once the first one's head is sent."""

    async def scenario() -> list[str]:
        seen: list[str] = []
        body_may_finish = asyncio.Event()

        async def streaming(scope: dict, receive: Any, send: Any) -> None:
            seen.append(scope["path"])
            await send({"type": "http.response.start", "status": 200, "headers": []})
            if scope["path"] == "/export":
                await body_may_finish.wait()  # still streaming

        limited = AdmissionLimit(streaming, limit=1)
        export = asyncio.create_task(limited(_http("/export"), _receive, _send))
        await asyncio.sleep(0.01)
        await asyncio.wait_for(limited(_http("/next"), _receive, _send), 1)
        body_may_finish.set()
        await export
        return seen

    assert asyncio.run(scenario()) == ["/export", "/next"]


def test_probes_metrics_and_websockets_do_not_wait():
    async def scenario() -> None:
        app = _App()
        limited = AdmissionLimit(app, limit=1)
        busy = asyncio.create_task(limited(_http("/api/v1/timer/"), _receive, _send))
        await asyncio.sleep(0.01)
        others = [
            asyncio.create_task(limited(scope, _receive, _send))
            for scope in (
                _http("/healthz"),
                _http("/readyz"),
                _http("/metrics"),
                {"type": "websocket", "path": "/ws/"},
            )
        ]
        await asyncio.sleep(0.05)
        assert app.running == 5  # all of them entered beside the busy request
        app.gate.set()
        await asyncio.gather(busy, *others)

    asyncio.run(scenario())


def test_zero_turns_the_limit_off():
    async def scenario() -> _App:
        app = _App()
        limited = AdmissionLimit(app, limit=0)
        calls = [asyncio.create_task(limited(_http(f"/r{i}"), _receive, _send)) for i in range(5)]
        await asyncio.sleep(0.05)
        assert app.running == 5
        app.gate.set()
        await asyncio.gather(*calls)
        return app

    assert asyncio.run(scenario()).peak == 5


def test_slow_paths_have_a_lane_of_their_own():
    """A report or an AI call never waits behind the quick lane, nor the
    quick lane behind them; each lane keeps its own limit."""

    async def scenario() -> None:
        app = _App()
        limited = AdmissionLimit(app, limit=1, slow_limit=2)
        quick = [
            asyncio.create_task(limited(_http(f"/api/v1/timer/{i}"), _receive, _send))
            for i in range(2)
        ]
        slow = [
            asyncio.create_task(limited(_http(path), _receive, _send))
            for path in ("/api/v1/reports/export/", "/api/v1/ai/summary/", "/api/v1/auth/login/")
        ]
        await asyncio.sleep(0.05)
        # One quick request, two slow ones: the third slow one waits for its
        # lane, the second quick one for its own.
        assert app.order == ["/api/v1/timer/0", "/api/v1/reports/export/", "/api/v1/ai/summary/"]
        assert app.running == 3
        app.gate.set()
        await asyncio.gather(*quick, *slow)
        assert app.peak == 3

    asyncio.run(scenario())


def test_without_a_slow_limit_every_path_shares_one_lane():
    async def scenario() -> None:
        app = _App()
        limited = AdmissionLimit(app, limit=1)
        calls = [
            asyncio.create_task(limited(_http(path), _receive, _send))
            for path in ("/api/v1/timer/", "/api/v1/reports/summary/")
        ]
        await asyncio.sleep(0.05)
        assert app.order == ["/api/v1/timer/"]
        app.gate.set()
        await asyncio.gather(*calls)

    asyncio.run(scenario())
