"""The run command's web server believes forwarding headers only from the
proxies the application trusts (#18, item 5): uvicorn's own default trusts
127.0.0.1, which let any local client choose the address the throttles and the
login lockout count.  And both web servers (the run command's uvicorn,
production's gunicorn workers) refuse WebSocket frames over one limit before
buffering them (uvicorn's default: 16 MiB)."""

from __future__ import annotations

import asyncio
import logging
import os
import runpy
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scripts.dev import _forwarding_flags, _web_argv

ROOT = Path(__file__).resolve().parent.parent


def test_no_trusted_proxies_turns_uvicorns_proxy_headers_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NOVATIME_TRUSTED_PROXIES", raising=False)
    assert _forwarding_flags() == ["--no-proxy-headers"]


def test_trusted_proxies_are_uvicorns_forwarded_allow_ips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOVATIME_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7")
    assert _forwarding_flags() == ["--forwarded-allow-ips", "10.0.0.0/8,192.0.2.7/32"]


def test_a_malformed_proxy_list_stops_the_run_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOVATIME_TRUSTED_PROXIES", "10.0.0.5/8")
    with pytest.raises(ValueError, match="NOVATIME_TRUSTED_PROXIES"):
        _forwarding_flags()


def test_the_run_commands_uvicorn_refuses_large_websocket_frames(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from config.gunicorn_worker import WS_MAX_SIZE

    monkeypatch.delenv("NOVATIME_TRUSTED_PROXIES", raising=False)
    argv = _web_argv("127.0.0.1", "8000")
    assert argv[argv.index("--ws-max-size") + 1] == str(WS_MAX_SIZE)


def test_gunicorns_workers_refuse_large_websocket_frames_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """deploy/gunicorn.conf.py, read and resolved by gunicorn's own Config, gives a
    worker whose uvicorn Config carries the run command's ws_max_size."""
    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    from config.gunicorn_worker import WS_MAX_SIZE

    monkeypatch.delenv("NOVATIME_TRUSTED_PROXIES", raising=False)
    settings = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    cfg = Config()
    for name in ("worker_class", "forwarded_allow_ips", "keepalive", "timeout"):
        cfg.set(name, settings[name])
    # The worker points uvicorn's loggers at gunicorn's handlers: put them back after.
    saved = {
        name: (lg.handlers[:], lg.level, lg.propagate)
        for name in ("uvicorn.error", "uvicorn.access")
        for lg in [logging.getLogger(name)]
    }
    try:
        worker = cfg.worker_class(1, os.getpid(), [], None, cfg.timeout, cfg, Logger(cfg))
        assert worker.config.ws_max_size == WS_MAX_SIZE == 64 * 1024
        worker.tmp.close()
    finally:
        for name, (handlers, level, propagate) in saved.items():
            lg = logging.getLogger(name)
            lg.handlers, lg.level, lg.propagate = handlers, level, propagate


def test_gunicorns_master_does_not_import_the_config_package() -> None:
    """Loading the worker class must not set up Celery in gunicorn's master
    (config/__init__.py does): the class is loaded by its file path."""
    probe = (
        "import runpy, sys; runpy.run_path('deploy/gunicorn.conf.py');"
        "print(sorted(m for m in sys.modules"
        " if m == 'config' or m.startswith(('config.', 'celery'))))"
    )
    env = {k: v for k, v in os.environ.items() if k != "NOVATIME_TRUSTED_PROXIES"}
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


ECHO_APP = """
async def app(scope, receive, send):
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    while (message := await receive())["type"] == "websocket.receive":
        await send({"type": "websocket.send", "text": str(len(message.get("text") or ""))})
"""


def test_a_real_gunicorn_with_the_deploy_config_closes_an_oversized_frame_with_1009(tmp_path):
    """gunicorn's master loads the worker class by path and forks workers that
    read a frame of WS_MAX_SIZE bytes, and close one byte more with 1009 (Message
    Too Big) instead of buffering it for the application."""
    import websockets

    from config.gunicorn_worker import WS_MAX_SIZE

    (tmp_path / "echo_app.py").write_text(ECHO_APP)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **{k: v for k, v in os.environ.items() if k != "NOVATIME_TRUSTED_PROXIES"},
        "PYTHONPATH": str(tmp_path),
        "WEB_CONCURRENCY": "1",
        "PORT": str(port),
        "PROMETHEUS_MULTIPROC_DIR": "",
    }
    command = [str(Path(sys.executable).parent / "gunicorn"), "-c", "deploy/gunicorn.conf.py"]
    command += ["--bind", f"127.0.0.1:{port}", "--control-socket", str(tmp_path / "ctl")]
    server = subprocess.Popen(
        [*command, "echo_app:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )

    async def exchange() -> tuple[str, int | None]:
        deadline = time.monotonic() + 30
        while True:
            try:
                ws = await websockets.connect(f"ws://127.0.0.1:{port}/", max_size=None)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                await asyncio.sleep(0.2)
        async with ws:
            await ws.send("x" * WS_MAX_SIZE)
            fits = str(await ws.recv())
            await ws.send("x" * (WS_MAX_SIZE + 1))
            try:
                await ws.recv()
            except websockets.ConnectionClosed as closed:
                return fits, closed.rcvd.code if closed.rcvd else None
            return fits, None

    try:
        fits, code = asyncio.run(exchange())
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=30)
    assert fits == str(WS_MAX_SIZE)
    assert code == 1009, errors
    assert "Using worker: NovaTimeUvicornWorker" in errors
