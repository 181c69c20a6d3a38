"""The run and test commands (called by ``scripts/run`` and ``scripts/test``).

``run``: find or start PostgreSQL and Redis, migrate, seed the demo
organization, then serve the ASGI app (HTTP + WebSocket) with uvicorn next to a
Celery worker and beat, watched by ``scripts.supervisor`` (a child that dies is
reported with its last lines and restarted; the web server stays up). Ctrl-C
(or SIGTERM, or closing the terminal) stops everything this command started.

``test``: find or start PostgreSQL and Redis, run ruff, then pytest with
coverage (the threshold lives in pyproject.toml), on every core with
pytest-xdist: each worker has its own test database and Redis key prefix
(config/settings/test.py), and a test module never leaves its worker
(``--dist loadfile``), so a module's fixtures (an isolation world, a live
server with its browser, a fresh clone) are built once.

Supervised by hand, not by honcho (dropped from the dev extras): honcho stops
every process when one exits and restarts none, where the run command must
name and restart a dead worker or beat and keep the web server up
(scripts/supervisor.py).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from scripts.embedded import Services, ServiceStartError, ensure_services
from scripts.supervisor import STOP_SIGNALS, ChildSpec, Supervisor, stop_on_signals

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
BIN = Path(sys.executable).parent
log = logging.getLogger("novatime.dev")

#: Directories the run command's processes write to, whatever the services'
#: origin (embedded servers create var/pg and var/redis themselves; with
#: DATABASE_URL/REDIS_URL nothing else would create var/ for beat's schedule).
RUN_DIRS = ("", "mail", "exports", "ai-models")


def prepare_var_dirs(var: Path = VAR) -> list[Path]:
    """Create ``var/`` and the subdirectories the run command writes to."""
    made = [var / sub if sub else var for sub in RUN_DIRS]
    for path in made:
        path.mkdir(parents=True, exist_ok=True)
    return made


def _environment(services: Services | None, settings_module: str) -> dict[str, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings_module, "PYTHONUNBUFFERED": "1"}
    if services is not None:
        env["DATABASE_URL"] = services.database_url
        if services.redis_url:
            env["REDIS_URL"] = services.redis_url
        if services.pg_bin_dir:
            # pg_dump must match the embedded server's major version.
            env.setdefault("NOVATIME_PG_BIN_DIR", services.pg_bin_dir)
    return env


def _forwarding_flags() -> list[str]:
    """uvicorn believes X-Forwarded-For only from NOVATIME_TRUSTED_PROXIES, the
    list the application uses (config/client_ip.py). Left to itself uvicorn
    trusts 127.0.0.1, so any local client could pick its own address."""
    from config.client_ip import server_forwarded_allow_ips

    trusted = server_forwarded_allow_ips()
    return ["--forwarded-allow-ips", trusted] if trusted else ["--no-proxy-headers"]


def _web_argv(host: str, port: str) -> list[str]:
    """uvicorn for the run command, with production's limits where uvicorn has
    its own: WebSocket frames over ``WS_MAX_SIZE`` are closed with 1009 before
    they are buffered (16 MiB by default), the number gunicorn's worker class
    uses (config/gunicorn_worker.py)."""
    from config.gunicorn_worker import WS_MAX_SIZE

    return [
        str(BIN / "uvicorn"),
        "config.asgi:application",
        *("--host", host, "--port", port),
        *("--lifespan", "off", "--timeout-graceful-shutdown", "10"),
        *("--ws-max-size", str(WS_MAX_SIZE)),
        *_forwarding_flags(),
    ]


def _services(mode: str) -> tuple[Services, bool]:
    """Services for ``mode``; falls back to in-memory brokers if Redis fails (run only)."""
    try:
        return ensure_services(mode=mode, var_dir=VAR), False
    except ServiceStartError as exc:
        if mode != "run" or "redis" not in str(exc).lower():
            raise
        log.warning("no Redis available (%s): using in-memory layers and eager Celery", exc)
        os.environ["REDIS_URL"] = "redis://unavailable:6379/0"
        os.environ["NOVATIME_IN_MEMORY"] = "1"
        services = ensure_services(mode=mode, var_dir=VAR)
        return services, True


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([str(BIN / "python"), "manage.py", *args], cwd=ROOT, env=env, check=True)


def interrupt_on_stop_signals() -> None:
    """Until the supervisor takes over, SIGTERM and SIGHUP (the terminal closed)
    interrupt the setup like Ctrl-C: KeyboardInterrupt, so the embedded servers
    started so far are stopped on the way out (``atexit``), where their default
    action killed this process and left them running."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.default_int_handler)


def run(args: argparse.Namespace) -> int:
    interrupt_on_stop_signals()
    prepare_var_dirs()
    services, in_memory = _services("run")
    for note in services.notes:
        log.info("%s", note)
    env = _environment(services, "config.settings.dev")
    base = env.get("NOVATIME_BASE_DOMAIN", "localhost")
    port = str(args.port)
    env.setdefault("NOVATIME_URL_PORT", port)
    try:
        _manage(env, "tenants", "migrate")
        _manage(env, "tenants", "seed-demo")
        if not in_memory:
            _manage(env, "tenants", "pool-fill", "--size", "1")
    except subprocess.CalledProcessError as exc:
        log.error("setup failed: %s", exc)
        services.stop()
        return 1

    banner = [
        "",
        "NovaTime is running",
        f"  public API     http://{base}:{port}/api/v1/  (docs: /api/docs/, admin: /admin/)",
        f"  web app        http://acme.{base}:{port}/  (sign in as a demo user)",
        f"  demo org       http://acme.{base}:{port}/api/v1/  (docs: /api/docs/)",
        f"  websocket      ws://acme.{base}:{port}/ws/",
        "  demo users     owner@, admin@, manager@ (approves), member@acme.test (a week waits)",
        "  demo password  novatime-demo",
        "  health         /healthz  /readyz",
        "  emails         var/mail/",
        f"  manage.py      DATABASE_URL={services.database_url} REDIS_URL={services.redis_url}",
        *([f"  note           {n}" for n in services.notes]),
        *(["  note           no Redis: in-memory layers, eager Celery"] if in_memory else []),
        "Ctrl-C stops everything.",
        "",
    ]
    print("\n".join(banner), flush=True)

    beat_schedule = VAR / "celerybeat-schedule"
    specs = [ChildSpec("web", _web_argv(args.host, port), essential=True)]
    if not in_memory:
        specs += [
            ChildSpec(
                "worker",
                [str(BIN / "celery"), "-A", "config", "worker", "-l", "info", "--concurrency", "2"],
            ),
            ChildSpec(
                "beat",
                [
                    *(str(BIN / "celery"), "-A", "config", "beat", "-l", "info"),
                    *("--schedule", str(beat_schedule)),
                ],
            ),
        ]
    try:
        status = supervise(specs, env)
    finally:
        services.stop()
        log.info("stopped")
    return status


def supervise(specs: list[ChildSpec], env: dict[str, str], cwd: Path = ROOT) -> int:
    """Run ``specs`` under the supervisor until Ctrl-C, SIGTERM or SIGHUP (the
    terminal closed: its default action killed this process alone and left every
    child running), then stop them all; 1 if the web server could not be kept up."""
    supervisor = Supervisor(specs, cwd=cwd, env=env, out=sys.stdout)
    stop = threading.Event()
    stop_on_signals(stop)
    return supervisor.run(stop)


#: Most pytest-xdist workers the test command starts: each builds its own test
#: database (migrations, template, session tenants: ~20 s) before its first test.
MAX_TEST_WORKERS = 4


def _workers(pytest_args: list[str]) -> list[str]:
    """``pytest_args`` with xdist's ``-n`` (one worker a core, at most
    :data:`MAX_TEST_WORKERS`, or ``NOVATIME_TEST_WORKERS``) unless the caller
    chose: ``-n``/``--numprocesses`` given, or ``-p no:xdist``."""
    if any(
        a == "no:xdist" or a.startswith(("-n", "--numprocesses", "--dist")) for a in pytest_args
    ):
        return pytest_args
    workers = os.environ.get("NOVATIME_TEST_WORKERS") or str(
        min(len(os.sched_getaffinity(0)), MAX_TEST_WORKERS)
    )
    if workers in ("0", "1"):
        return pytest_args
    return ["-n", workers, "--dist", "loadfile", *pytest_args]


def test(args: argparse.Namespace, pytest_args: list[str]) -> int:
    services = ensure_services(mode="test", var_dir=VAR)
    for note in services.notes:
        log.info("%s", note)
    env = _environment(services, "config.settings.test")
    try:
        for cmd in (["ruff", "check", "."], ["ruff", "format", "--check", "."]):
            log.info("$ %s", " ".join(cmd))
            if subprocess.run([str(BIN / cmd[0]), *cmd[1:]], cwd=ROOT, env=env).returncode:
                return 1
        cmd = [str(BIN / "pytest"), "--cov", "--cov-report=term", *_workers(pytest_args)]
        log.info("$ pytest %s", " ".join(cmd[1:]))
        return subprocess.run(cmd, cwd=ROOT, env=env).returncode
    finally:
        services.stop()


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    parser = argparse.ArgumentParser(prog="scripts.dev")
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run")
    run_parser.add_argument("--host", default=os.environ.get("NOVATIME_HOST", "127.0.0.1"))
    run_parser.add_argument("--port", type=int, default=int(os.environ.get("NOVATIME_PORT", 8000)))
    sub.add_parser("test")
    args, rest = parser.parse_known_args()
    if args.command == "run":
        return run(args)
    return test(args, rest)


if __name__ == "__main__":
    sys.exit(main())
