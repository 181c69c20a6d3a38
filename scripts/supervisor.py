"""A small process supervisor for ``scripts/run``: web server, Celery worker, beat.

Why not honcho (dropped from the dev extras)?  honcho's manager ends every
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

Each child runs in its own session, so its process group id is its pid: Ctrl-C
in the terminal reaches only the supervisor, which then stops the children in
order (SIGTERM, then SIGKILL for the whole group after ``stop_timeout``); so
do SIGTERM and SIGHUP (the terminal closed), see ``stop_on_signals``.  On
Linux each child also gets SIGTERM from the kernel if the supervisor dies
without stopping it (SIGKILL, OOM killer): ``_die_with_parent``; what the
child started itself is then the child's to end on that SIGTERM (uvicorn and
Celery's worker do), and an embedded PostgreSQL or Redis is left for the next
run to reuse (scripts/embedded/).

A child's own subprocesses (Celery's prefork pool, a shell's commands) live in
its group, and the group is what ends: when a child dies, whatever it left
gets SIGTERM at once and SIGKILL ``kill_grace`` later, at every restart and at
the stop, so nothing of an old run survives into the next one.

Output of every child is forwarded line by line, prefixed with its name
(``beat | ...``); each run of a child keeps its own last lines for its report.
The watch loop never waits for a dead child's output: the report is logged as
soon as its pipe is drained, or ``tail_wait`` later if a process the child
started still holds the pipe.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

log = logging.getLogger("novatime.supervisor")

#: What ends a run in order: Ctrl-C, a stop request, and the terminal closing
#: (SIGHUP: its default action killed the supervisor alone, and the children,
#: in their own sessions, never heard of it).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def stop_on_signals(stop: threading.Event) -> None:
    """Set ``stop`` on any of ``STOP_SIGNALS`` (call from the main thread)."""

    def _stop(signum: int, _frame: object) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        stop.set()

    for sig in STOP_SIGNALS:
        signal.signal(sig, _stop)


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when the supervisor dies
    however it dies (SIGKILL, OOM killer), Linux's ``PR_SET_PDEATHSIG``; None
    elsewhere (there only an orderly stop ends the children).

    It runs in the forked child before exec and does no more than two system
    calls (no lock, no import), which is what makes ``preexec_fn`` safe next to
    the reader threads.  If the supervisor died between the fork and the
    ``prctl``, the child is already orphaned and ends itself.  The death signal
    follows the *thread* that forked: children must be started from a thread
    that lives as long as they do (the watch loop's).
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    parent = os.getpid()
    sigterm = int(signal.SIGTERM)

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, sigterm, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), sigterm)

    return preexec


@dataclass(frozen=True)
class ChildSpec:
    """What to run: a name for the logs, the argv, and whether the run needs it."""

    name: str
    argv: list[str]
    essential: bool = False


@dataclass
class _Spawn:
    """One start of a child: its process, the thread reading its output, and the
    lines of *this* run (a later run has its own: a reader still draining an old
    run's pipe never writes into the new run's report)."""

    proc: subprocess.Popen[bytes]
    lines: deque[str]
    started_at: float
    reader: threading.Thread | None = None
    eof: threading.Event = field(default_factory=threading.Event)
    handled: bool = False
    """Its exit was seen, its group signalled and the process reaped."""
    report: tuple[str, str] | None = None
    """(what happened, what is done about it) once it died; logged once, with the tail."""
    report_by: float = 0.0
    reported: bool = False


@dataclass
class _Child:
    spec: ChildSpec
    tail_lines: int
    spawn: _Spawn | None = None
    restart_at: float | None = None
    quick_deaths: int = 0
    starts: int = 0
    gave_up: bool = False
    exits: list[int] = field(default_factory=list)
    start_errors: list[str] = field(default_factory=list)

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        """The latest run's process (alive or not), None before the first start."""
        return self.spawn.proc if self.spawn is not None else None

    @property
    def lines(self) -> deque[str]:
        """The latest run's last lines."""
        return self.spawn.lines if self.spawn is not None else deque(maxlen=self.tail_lines)


def _has_exited(proc: subprocess.Popen[bytes]) -> bool:
    """Whether ``proc`` ended, *without reaping it*.

    Until it is reaped (``proc.wait()``) the zombie keeps its pid, which is also
    its process group's id (``start_new_session``): the group can be signalled
    with no risk that the number already names another process.
    """
    if proc.returncode is not None:
        return True
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # reaped elsewhere
        return proc.poll() is not None


def _signal_group(pgid: int, sig: int) -> bool:
    """Signal process group ``pgid``; False if it has no process left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member we may not signal (setuid): nothing more to do
        return False
    return True


def _group_left(pgid: int) -> bool:
    """Whether processes of the group led by the *reaped* process ``pgid`` remain.

    On Linux a pid number stays reserved while any process still has it as its
    process group id, so a live process now numbered ``pgid`` means the old
    group is empty and the number was reused: that group is not ours.
    """
    if not _signal_group(pgid, 0):
        return False
    try:
        os.kill(pgid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


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
        kill_grace: float = 5.0,
        tail_wait: float = 1.0,
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
        self.kill_grace = kill_grace
        self.tail_wait = tail_wait
        self.children = [_Child(spec=s, tail_lines=tail_lines) for s in specs]
        self._width = max((len(s.name) for s in specs), default=0)
        self._out_lock = threading.Lock()
        self._report_lock = threading.Lock()
        self._unreported: list[_Spawn] = []
        self._groups: dict[int, tuple[str, float]] = {}
        """Process groups of reaped children that still had members: pgid ->
        (child name, when they get SIGKILL)."""
        self.failed: str | None = None
        """Name of the essential child that was given up on, if any."""

    # ----------------------------------------------------------------- public

    def child(self, name: str) -> _Child:
        return next(c for c in self.children if c.spec.name == name)

    def start(self) -> None:
        for child in self.children:
            self._spawn(child)

    def check(self, now: float | None = None) -> bool:
        """Reap and report dead children, start due restarts; never waits.

        Returns False once an essential child has been given up on.
        """
        now = time.monotonic() if now is None else now
        for child in self.children:
            spawn = child.spawn
            if spawn is not None and not spawn.handled and _has_exited(spawn.proc):
                returncode = self._end(child.spec.name, spawn, now)
                self._on_exit(child, spawn, returncode, now)
            if child.restart_at is not None and now >= child.restart_at and not child.gave_up:
                child.restart_at = None
                self._spawn(child)
        self._kill_leftovers(now)
        for spawn in list(self._unreported):
            self._report(spawn, force=now >= spawn.report_by)
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
        """End every child and everything it started.

        SIGTERM to each live child first, so that it can end its own
        subprocesses in order (Celery's warm shutdown); SIGKILL to its whole
        process group if it is still there after ``stop_timeout``.  Whatever a
        child left behind in its group then gets SIGTERM, and SIGKILL after
        ``kill_grace``.
        """
        for child in self.children:
            child.restart_at = None
        live = [
            c
            for c in self.children
            if c.spawn is not None and not c.spawn.handled and not _has_exited(c.spawn.proc)
        ]
        for child in live:
            proc = child.spawn.proc  # type: ignore[union-attr]
            log.info("stopping %s (pid %s)", child.spec.name, proc.pid)
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for child in live:
            proc = child.spawn.proc  # type: ignore[union-attr]
            while not _has_exited(proc) and time.monotonic() < deadline:
                time.sleep(0.05)
            if not _has_exited(proc):
                log.warning(
                    "%s (pid %s) ignored SIGTERM for %.0fs: killing its process group",
                    child.spec.name,
                    proc.pid,
                    self.stop_timeout,
                )
                _signal_group(proc.pid, signal.SIGKILL)
        for child in self.children:
            spawn = child.spawn
            if spawn is not None and not spawn.handled:
                self._end(child.spec.name, spawn, time.monotonic())  # stopped, not a death
        while self._groups and time.monotonic() < max(d for _, d in self._groups.values()):
            self._kill_leftovers(time.monotonic())
            time.sleep(0.05)
        self._kill_leftovers(float("inf"))
        for spawn in list(self._unreported):
            spawn.eof.wait(timeout=max(0.0, spawn.report_by - time.monotonic()))
            self._report(spawn, force=True)
        for child in self.children:
            if child.spawn is not None and child.spawn.reader is not None:
                child.spawn.reader.join(timeout=1)

    # ---------------------------------------------------------------- private

    def _spawn(self, child: _Child) -> None:
        """Start ``child``; a start that fails (program gone, out of processes or
        file descriptors: OSError) counts as a death, like a crash at once, so a
        restart that cannot happen is retried and given up on like any other
        and never ends the run by itself."""
        try:
            proc = subprocess.Popen(
                child.spec.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops us
                preexec_fn=_die_with_parent(),  # ... and if it is killed, we end too
            )
        except OSError as exc:
            child.start_errors.append(str(exc))
            what = f"{child.spec.name} could not be started: {exc}"
            self._on_death(child, None, what, 0.0, time.monotonic())
            return
        spawn = _Spawn(proc=proc, lines=deque(maxlen=child.tail_lines), started_at=time.monotonic())
        child.spawn = spawn
        child.starts += 1
        spawn.reader = threading.Thread(
            target=self._forward,
            args=(child.spec.name, spawn),
            name=f"supervisor-{child.spec.name}",
            daemon=True,
        )
        spawn.reader.start()
        if child.starts > 1:
            log.warning("%s restarted (pid %s)", child.spec.name, proc.pid)

    def _forward(self, name: str, spawn: _Spawn) -> None:
        stream = spawn.proc.stdout
        try:
            if stream is None:
                return
            prefix = f"{name:<{self._width}} | "
            with stream:
                for raw in iter(stream.readline, b""):
                    line = raw.decode(errors="replace").rstrip("\n")
                    spawn.lines.append(line)
                    out = self.out
                    if out is not None:
                        with self._out_lock:
                            try:
                                out.write(prefix + line + "\n")
                                out.flush()
                            except (OSError, ValueError):
                                # The terminal went away (SIGHUP) or was closed: keep
                                # draining the pipe, or the child would block on it.
                                self.out = None
        finally:
            spawn.eof.set()
            self._report(spawn)

    def _end(self, name: str, spawn: _Spawn, now: float) -> int:
        """Signal what the ended child left in its group, then reap the child.

        The group gets SIGTERM while the child is a zombie (its pid, the group's
        id, cannot be reused yet); if members remain once it is reaped, they
        get SIGKILL ``kill_grace`` later (``_kill_leftovers``, which never waits).
        """
        pgid = spawn.proc.pid
        _signal_group(pgid, signal.SIGTERM)
        returncode = spawn.proc.wait()
        spawn.handled = True
        if _group_left(pgid):
            log.warning(
                "%s (pid %s) ended but left processes in its group: SIGTERM sent, SIGKILL in %.0fs",
                name,
                pgid,
                self.kill_grace,
            )
            self._groups[pgid] = (name, now + self.kill_grace)
        return returncode

    def _kill_leftovers(self, now: float) -> None:
        for pgid, (name, kill_at) in list(self._groups.items()):
            if not _group_left(pgid):
                del self._groups[pgid]
            elif now >= kill_at:
                log.warning("processes left by %s (group %s) ignored SIGTERM: SIGKILL", name, pgid)
                _signal_group(pgid, signal.SIGKILL)
                del self._groups[pgid]

    def _report(self, spawn: _Spawn, *, force: bool = False) -> None:
        """Log a death once: when its output is fully read, or ``tail_wait`` after
        it (a process it started may hold the pipe open; the watch loop never
        waits for that)."""
        with self._report_lock:
            if spawn.report is None or spawn.reported:
                return
            if not (force or spawn.eof.is_set()):
                return
            spawn.reported = True
            with contextlib.suppress(ValueError):
                self._unreported.remove(spawn)
            lines = list(spawn.lines)
            if not spawn.eof.is_set():
                lines.append("(output still open: a process it started holds it)")
        what, then = spawn.report
        tail = "\n".join(f"    {line}" for line in lines) or "    (no output)"
        log.error("%s; its last lines:\n%s\n%s", what, tail, then)

    def _on_exit(self, child: _Child, spawn: _Spawn, returncode: int, now: float) -> None:
        child.exits.append(returncode)
        ran = now - spawn.started_at
        what = f"{child.spec.name} exited with {describe_status(returncode)} after {ran:.1f}s"
        self._on_death(child, spawn, what, ran, now)

    def _on_death(
        self, child: _Child, spawn: _Spawn | None, what: str, ran: float, now: float
    ) -> None:
        """Decide (restart later, or give up) at once; the report may follow."""
        child.quick_deaths = 1 if ran >= self.stable_after else child.quick_deaths + 1
        if child.quick_deaths > self.max_restarts:
            child.gave_up = True
            if child.spec.essential:
                self.failed = child.spec.name
                then = (
                    f"{child.spec.name} died {child.quick_deaths} times in a row: giving up and "
                    "stopping everything"
                )
            else:
                others = [c.spec.name for c in self.children if not c.gave_up]
                then = (
                    f"{child.spec.name} died {child.quick_deaths} times in a row: giving up on "
                    f"it; still running: {', '.join(others) or 'nothing'}"
                )
        else:
            delay = min(self.backoff_max, self.backoff_initial * 2 ** (child.quick_deaths - 1))
            child.restart_at = now + delay
            then = (
                f"restarting {child.spec.name} in {delay:.0f}s "
                f"(attempt {child.quick_deaths} of {self.max_restarts})"
            )
        if spawn is None:
            log.error("%s\n%s", what, then)
            return
        with self._report_lock:
            spawn.report = (what, then)
            spawn.report_by = now + self.tail_wait
            self._unreported.append(spawn)
        self._report(spawn)
