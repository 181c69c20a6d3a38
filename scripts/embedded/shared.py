"""What the embedded PostgreSQL and Redis share: the error, the loopback
address, and the cross-process bookkeeping (lock, state file, ports, logs)
that lets several processes use one embedded server (see scripts/embedded)."""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("novatime.services")

LOCAL_HOST = "127.0.0.1"


class ServiceStartError(RuntimeError):
    """An embedded server could not be started (message says why and where the log is)."""


# --------------------------------------------------------------------------- #
# Cross-process bookkeeping
# --------------------------------------------------------------------------- #


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Exclusive inter-process lock (flock) on ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fh = open(path, "a")  # noqa: SIM115 - closed below
    except PermissionError:  # lock file created by another OS user: flock works read-only too
        fh = open(path)  # noqa: SIM115
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _process_identity(pid: int) -> float | None:
    """Create time of a live (non-zombie) process, or None if it is gone."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc.create_time()
    except psutil.Error:
        return None


class State:
    """``var_dir/<name>.state.json``: server pid/port we started + pids using it.

    Must only be used while holding the services lock.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {}
        try:
            self.data = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            self.data = {}
        self.data.setdefault("users", [])

    def live_users(self) -> list[list[float]]:
        """Registered [pid, create_time] pairs whose process is still alive."""
        live = []
        for pid, ctime in self.data["users"]:
            now = _process_identity(int(pid))
            if now is not None and abs(now - ctime) < 1.0:
                live.append([pid, ctime])
        return live

    def add_user(self, pid: int) -> None:
        ctime = _process_identity(pid)
        users = [u for u in self.live_users() if u[0] != pid]
        users.append([pid, ctime])
        self.data["users"] = users

    def remove_user(self, pid: int) -> list[list[float]]:
        """Unregister ``pid``; return the remaining live users."""
        self.data["users"] = [u for u in self.live_users() if u[0] != pid]
        return self.data["users"]

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1))
        tmp.replace(self.path)


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Like postgres/redis themselves: ignore TIME_WAIT leftovers of a previous run.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOCAL_HOST, port))
        except OSError:
            return False
    return True


def pick_port(preferred: int | None) -> int:
    """``preferred`` if it is free (stable URLs across restarts), else a free one."""
    if preferred and _port_is_free(preferred):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCAL_HOST, 0))
        return int(sock.getsockname()[1])


def display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def package_dir(name: str) -> Path:
    """Directory of an installed package, without importing it (no side effects)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ServiceStartError(
            f"Python package {name!r} is not installed (pip install 'novatime[embedded]')"
        )
    return Path(next(iter(spec.submodule_search_locations)))
