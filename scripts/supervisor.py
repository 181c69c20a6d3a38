"""A small process supervisor for ``scripts/run``: web server, Celery worker, beat.

Why not honcho (which is in the dev lock)?  honcho's manager ends every
process as soon as one exits: that is exactly how a Celery beat that could not
write its schedule used to take the web server down with it.  What the run
command needs is the opposite:

* a child that dies is **named loudly** (which one, its exit status, its last
  log lines) and **restarted** with a bounded exponential backoff;
* a child that keeps dying is given up after ``max_restarts`` quick deaths in a
  row (a child that ran ``stable_after`` seconds starts counting afresh); giving
  up on an *optional* child (worker, beat) leaves the others running, giving up
  on an *essential* one (the web server) stops the whole run with exit status 1;
* the web server never vanishes because beat or the worker did.

Each child runs in its own session (process group): Ctrl-C in the terminal
reaches only the supervisor, which then stops the children in order
(SIGTERM, then SIGKILL for the whole group after ``stop_timeout``).  Output of
every child is forwarded line by line, prefixed with its name (``beat | ...``),
and its last lines are kept for the report.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

log = logging.getLogger("novatime.supervisor")


@dataclass(frozen=True)
class ChildSpec:
    """What to run: a name for the logs, the argv, and whether the run needs it."""

    name: str
    argv: list[str]
    essential: bool = False


@dataclass
class _Child:
    spec: ChildSpec
    lines: deque[str]
    proc: subprocess.Popen[bytes] | None = None
    reader: threading.Thread | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    quick_deaths: int = 0
    starts: int = 0
    gave_up: bool = False
    exits: list[int] = field(default_factory=list)


def describe_status(returncode: int) -> str:
    """``status 1`` or ``killed by SIGKILL`` (Popen gives -N for signal N)."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"status {returncode}"


class Supervisor:
    """Start, watch, restart and stop a fixed set of children (see module docstring)."""

    def __init__(
        self,
        specs: list[ChildSpec],
        *,
        cwd: Path,
        env: Mapping[str, str],
        out: IO[str] | None = None,
        tail_lines: int = 30,
        max_restarts: int = 5,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        stable_after: float = 60.0,
        stop_timeout: float = 15.0,
    ) -> None:
        if len({s.name for s in specs}) != len(specs):
            raise ValueError("child names must be unique")
        self.cwd = cwd
        self.env = dict(env)
        self.out = out
        self.max_restarts = max_restarts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stable_after = stable_after
        self.stop_timeout = stop_timeout
        self.children = [_Child(spec=s, lines=deque(maxlen=tail_lines)) for s in specs]
        self._width = max((len(s.name) for s in specs), default=0)
        self._out_lock = threading.Lock()
        self.failed: str | None = None
        """Name of the essential child that was given up on, if any."""

    # ----------------------------------------------------------------- public

    def child(self, name: str) -> _Child:
        return next(c for c in self.children if c.spec.name == name)

    def start(self) -> None:
        for child in self.children:
            self._spawn(child)

    def check(self, now: float | None = None) -> bool:
        """Reap and report dead children, start due restarts.

        Returns False once an essential child has been given up on.
        """
        now = time.monotonic() if now is None else now
        for child in self.children:
            if child.gave_up:
                continue
            if child.proc is not None and child.proc.poll() is not None:
                self._on_exit(child, child.proc.returncode, now)
            if child.restart_at is not None and now >= child.restart_at and not child.gave_up:
                child.restart_at = None
                self._spawn(child)
        return self.failed is None

    def run(self, stop: threading.Event, interval: float = 0.5) -> int:
        """Watch until ``stop`` is set (0) or an essential child is given up on (1)."""
        self.start()
        try:
            while not stop.is_set():
                if not self.check():
                    return 1
                stop.wait(interval)
            return 0
        finally:
            self.stop()

    def stop(self) -> None:
        """SIGTERM every live child, SIGKILL its process group after ``stop_timeout``."""
        live = [c for c in self.children if c.proc is not None and c.proc.poll() is None]
        for child in live:
            log.info("stopping %s (pid %s)", child.spec.name, child.proc.pid)  # type: ignore[union-attr]
            with contextlib.suppress(ProcessLookupError):
                child.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        deadline = time.monotonic() + self.stop_timeout
        for child in live:
            proc = child.proc
            assert proc is not None
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning(
                    "%s (pid %s) ignored SIGTERM for %.0fs: killing its process group",
                    child.spec.name,
                    proc.pid,
                    self.stop_timeout,
                )
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        for child in self.children:
            child.restart_at = None
            if child.reader is not None:
                child.reader.join(timeout=2)

    # ---------------------------------------------------------------- private

    def _spawn(self, child: _Child) -> None:
        child.lines.clear()
        child.proc = subprocess.Popen(
            child.spec.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops us in order
        )
        child.started_at = time.monotonic()
        child.starts += 1
        child.reader = threading.Thread(
            target=self._forward,
            args=(child, child.proc.stdout),
            name=f"supervisor-{child.spec.name}",
            daemon=True,
        )
        child.reader.start()
        if child.starts > 1:
            log.warning("%s restarted (pid %s)", child.spec.name, child.proc.pid)

    def _forward(self, child: _Child, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        prefix = f"{child.spec.name:<{self._width}} | "
        with stream:
            for raw in iter(stream.readline, b""):
                line = raw.decode(errors="replace").rstrip("\n")
                child.lines.append(line)
                if self.out is not None:
                    with self._out_lock:
                        self.out.write(prefix + line + "\n")
                        self.out.flush()

    def _on_exit(self, child: _Child, returncode: int, now: float) -> None:
        if child.reader is not None:
            # The pipe's last lines (a crash's traceback) belong in the report.
            child.reader.join(timeout=2)
        child.exits.append(returncode)
        child.proc = None
        ran = now - child.started_at
        child.quick_deaths = 1 if ran >= self.stable_after else child.quick_deaths + 1
        tail = "\n".join(f"    {line}" for line in child.lines) or "    (no output)"
        what = f"{child.spec.name} exited with {describe_status(returncode)} after {ran:.1f}s"
        if child.quick_deaths > self.max_restarts:
            child.gave_up = True
            if child.spec.essential:
                self.failed = child.spec.name
                log.error(
                    "%s; its last lines:\n%s\n%s died %d times in a row: giving up and stopping "
                    "everything",
                    what,
                    tail,
                    child.spec.name,
                    child.quick_deaths,
                )
            else:
                others = [c.spec.name for c in self.children if not c.gave_up]
                log.error(
                    "%s; its last lines:\n%s\n%s died %d times in a row: giving up on it; "
                    "still running: %s",
                    what,
                    tail,
                    child.spec.name,
                    child.quick_deaths,
                    ", ".join(others) or "nothing",
                )
            return
        delay = min(self.backoff_max, self.backoff_initial * 2 ** (child.quick_deaths - 1))
        child.restart_at = now + delay
        log.error(
            "%s; its last lines:\n%s\nrestarting %s in %.0fs (attempt %d of %d)",
            what,
            tail,
            child.spec.name,
            delay,
            child.quick_deaths,
            self.max_restarts,
        )
