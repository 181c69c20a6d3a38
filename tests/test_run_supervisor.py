"""The run command's supervisor (scripts/supervisor.py) with real processes.

A child that dies is named with its exit status and last lines and restarted
with a bounded backoff; an optional child that keeps dying is given up on while
the web server keeps running; an essential one that keeps dying ends the run.
The end-to-end version (the README's command from a fresh clone) is
tests/test_run_command.py.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections import deque

import psutil
import pytest

from scripts import dev
from scripts.dev import ROOT
from scripts.supervisor import ChildSpec, Supervisor, describe_status

WEB = [sys.executable, "-c", "import time; print('web: serving', flush=True); time.sleep(120)"]
BEAT_CRASHES = [
    sys.executable,
    "-c",
    "import sys; print('beat: starting', flush=True);"
    "print('PermissionError: var/celerybeat-schedule', file=sys.stderr, flush=True);"
    "sys.exit(3)",
]


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def _drive(supervisor: Supervisor, until: float, stop_when=lambda: False) -> None:
    deadline = time.monotonic() + until
    while time.monotonic() < deadline and not stop_when():
        supervisor.check()
        time.sleep(0.05)


def test_a_dying_child_is_reported_restarted_then_given_up_while_web_stays(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="novatime.supervisor")
    supervisor = Supervisor(
        [ChildSpec("web", WEB, essential=True), ChildSpec("beat", BEAT_CRASHES)],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
        max_restarts=2,
        backoff_initial=0.1,
        stop_timeout=5,
    )
    supervisor.start()
    try:
        web_pid = supervisor.child("web").proc.pid
        beat = supervisor.child("beat")
        _drive(supervisor, 20, stop_when=lambda: beat.gave_up and len(_errors(caplog)) == 3)
        assert beat.gave_up, "beat should be given up after 2 restarts"
        assert beat.starts == 3 and beat.exits == [3, 3, 3]
        # The web server never went away, and the supervisor keeps going.
        web = supervisor.child("web")
        assert web.proc is not None and web.proc.pid == web_pid and web.proc.poll() is None
        assert web.starts == 1
        assert supervisor.check() is True and supervisor.failed is None
        reports = _errors(caplog)
        assert len(reports) == 3
        for report in reports:
            assert "beat exited with status 3" in report
            # its last lines, stderr included
            assert "beat: starting" in report
            assert "PermissionError: var/celerybeat-schedule" in report
        assert "restarting beat in 0s (attempt 1 of 2)" in reports[0]
        assert "giving up on it; still running: web" in reports[2]
    finally:
        supervisor.stop()
    assert supervisor.child("web").proc.returncode == -15  # stopped by us, not before


def test_a_child_that_ran_long_enough_starts_counting_afresh(tmp_path, caplog):
    supervisor = Supervisor(
        [ChildSpec("beat", BEAT_CRASHES)],
        cwd=tmp_path,
        env={},
        max_restarts=1,
        backoff_initial=0.05,
        stable_after=0.0,  # every run counts as stable: never given up
    )
    supervisor.start()
    try:
        beat = supervisor.child("beat")
        _drive(supervisor, 20, stop_when=lambda: beat.starts >= 4)
        assert beat.starts >= 4 and not beat.gave_up
    finally:
        supervisor.stop()


def test_an_essential_child_that_keeps_dying_ends_the_run(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="novatime.supervisor")
    web_crashes = [sys.executable, "-c", "import sys; print('address in use'); sys.exit(1)"]
    worker = [sys.executable, "-c", "import time; time.sleep(120)"]
    supervisor = Supervisor(
        [ChildSpec("web", web_crashes, essential=True), ChildSpec("worker", worker)],
        cwd=tmp_path,
        env={},
        max_restarts=1,
        backoff_initial=0.05,
        stop_timeout=5,
    )
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(supervisor.run(threading.Event(), 0.05)))
    runner.start()
    runner.join(timeout=30)
    assert not runner.is_alive() and result == [1]
    assert supervisor.failed == "web"
    assert supervisor.child("worker").proc.poll() is not None  # stopped with the run
    assert any(
        "giving up and stopping everything" in r.getMessage() and "address in use" in r.getMessage()
        for r in caplog.records
    )


def test_stop_ends_children_and_kills_one_that_ignores_sigterm(tmp_path):
    stubborn = [
        sys.executable,
        "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        "print('ready', flush=True); time.sleep(120)",
    ]
    supervisor = Supervisor(
        [ChildSpec("web", WEB, essential=True), ChildSpec("stubborn", stubborn)],
        cwd=tmp_path,
        env={},
        stop_timeout=1,
    )
    stop = threading.Event()
    runner = threading.Thread(target=supervisor.run, args=(stop, 0.05))
    runner.start()
    _wait_for(lambda: "ready" in supervisor.child("stubborn").lines, 20)
    stop.set()
    runner.join(timeout=20)
    assert not runner.is_alive()
    assert supervisor.child("web").proc.returncode == -15
    assert supervisor.child("stubborn").proc.returncode == -9


def test_describe_status():
    assert describe_status(3) == "status 3"
    assert describe_status(-9) == "killed by SIGKILL"


def test_the_run_command_creates_its_directories_whatever_the_services(tmp_path):
    var = tmp_path / "var"
    made = dev.prepare_var_dirs(var)
    assert var.is_dir() and (var / "mail").is_dir() and (var / "exports").is_dir()
    assert all(p.is_dir() for p in made)
    dev.prepare_var_dirs(var)  # idempotent


def _wait_for(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail("timed out")
        time.sleep(0.05)


def _gone(proc: psutil.Process) -> bool:
    """Ended (a zombie waiting for init counts): psutil checks the process's
    identity (create time), so a reused pid does not count as alive."""
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(_gone(p) for p in procs):
        time.sleep(0.05)
    return [p for p in procs if not _gone(p)]


def _kill(procs: list[psutil.Process]) -> None:
    for proc in procs:
        if not _gone(proc):
            proc.kill()


def _pids_from(lines, marker: str) -> list[psutil.Process]:
    return [
        psutil.Process(int(pid))
        for line in list(lines)
        if line.startswith(marker)
        for pid in line.split()[1:]
    ]


#: A child that starts a grandchild (a Celery pool member, say) and then dies.
LEAVES_A_GRANDCHILD = [
    sys.executable,
    "-c",
    "import subprocess, sys;"
    "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'],"
    " stdout=subprocess.DEVNULL);"
    "print('grandchild', g.pid, flush=True); sys.exit(4)",
]


def test_a_dead_childs_own_subprocesses_are_killed(tmp_path):
    supervisor = Supervisor(
        [ChildSpec("worker", LEAVES_A_GRANDCHILD)],
        cwd=tmp_path,
        env={},
        max_restarts=0,
        kill_grace=1,
    )
    supervisor.start()
    worker = supervisor.child("worker")
    _wait_for(lambda: any(line.startswith("grandchild") for line in worker.lines), 20)
    grandchildren = _pids_from(worker.lines, "grandchild")
    try:
        _drive(supervisor, 10, stop_when=lambda: worker.gave_up)
        assert worker.gave_up and worker.exits == [4]
        left = _wait_gone(grandchildren, 5)
        assert not left, f"the dead worker's subprocess survived: {left}"
    finally:
        supervisor.stop()
        _kill(grandchildren)


def test_stop_ends_the_childrens_subprocesses_too(tmp_path):
    """One grandchild ends with SIGTERM, one ignores it and gets SIGKILL."""
    parent = [
        sys.executable,
        "-c",
        "import subprocess, sys, time;"
        "plain = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']);"
        "deaf = subprocess.Popen([sys.executable, '-c', 'import signal, time;"
        " signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); time.sleep(120)'],"
        " stdout=subprocess.PIPE); deaf.stdout.readline();"
        "print('grandchildren', plain.pid, deaf.pid, flush=True); time.sleep(120)",
    ]
    supervisor = Supervisor(
        [ChildSpec("worker", parent)], cwd=tmp_path, env={}, stop_timeout=5, kill_grace=0.5
    )
    supervisor.start()
    worker = supervisor.child("worker")
    grandchildren: list[psutil.Process] = []
    try:
        _wait_for(lambda: any(line.startswith("grandchildren") for line in worker.lines), 20)
        grandchildren = _pids_from(worker.lines, "grandchildren")
        assert len(grandchildren) == 2
        started = time.monotonic()
        supervisor.stop()
        assert time.monotonic() - started < 5
        assert worker.proc.returncode == -15
        left = _wait_gone(grandchildren, 3)
        assert not left, f"stop() left the worker's subprocesses running: {left}"
    finally:
        supervisor.stop()
        _kill(grandchildren)


def test_each_run_keeps_its_own_last_lines_and_the_watch_loop_never_waits(tmp_path, caplog):
    """A dead child's subprocess that holds the output pipe and keeps writing
    (until its SIGKILL, ``kill_grace`` later) neither stalls the watch loop nor
    writes into the next run's lines."""
    caplog.set_level(logging.INFO, logger="novatime.supervisor")
    writer = (
        "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "while True:\n    print('left by', sys.argv[1], flush=True); time.sleep(0.05)"
    )
    dies = [
        sys.executable,
        "-c",
        "import os, subprocess, sys, time;"
        f"subprocess.Popen([sys.executable, '-c', {writer!r}, str(os.getpid())]);"
        "print('run', os.getpid(), flush=True); time.sleep(0.3); sys.exit(5)",
    ]
    supervisor = Supervisor(
        [ChildSpec("beat", dies)],
        cwd=tmp_path,
        env={},
        max_restarts=1,
        backoff_initial=0.1,
        kill_grace=2,
        tail_wait=0.5,
    )
    beat = supervisor.child("beat")
    runs: list[deque[str]] = []
    slowest = 0.0
    supervisor.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (beat.gave_up and len(_errors(caplog)) == 2):
            if beat.proc is not None and (not runs or runs[-1] is not beat.lines):
                runs.append(beat.lines)
            started = time.monotonic()
            supervisor.check()
            slowest = max(slowest, time.monotonic() - started)
            time.sleep(0.02)
        assert beat.gave_up and beat.exits == [5, 5]
        assert slowest < 0.5, f"a check() took {slowest:.1f}s"
        reports = _errors(caplog)
        assert len(reports) == 2
        run_lines = [list(lines) for lines in runs]
        pids = [_run_pid(lines) for lines in run_lines]
        assert len(pids) == 2 and pids[0] != pids[1]
        for own, lines in zip(pids, run_lines, strict=True):
            foreign = [line for line in lines if line.split()[-1] != own]
            assert not foreign, f"run {own}'s lines hold another run's output: {foreign}"
        for own, other, report in zip(pids, reversed(pids), reports, strict=True):
            assert f"run {own}" in report and f"left by {own}" in report
            assert other not in report
    finally:
        supervisor.stop()


def _run_pid(lines: list[str]) -> str:
    return next(line.split()[1] for line in lines if line.startswith("run "))


def test_a_restart_that_cannot_start_counts_as_a_death_and_the_run_goes_on(tmp_path, caplog):
    """beat's program vanishes after its first run: each restart fails in Popen
    (FileNotFoundError) and is retried, then given up on; the web server and
    the run stay up."""
    caplog.set_level(logging.INFO, logger="novatime.supervisor")
    beat = tmp_path / "beat"
    beat.write_text('#!/bin/sh\necho "beat: cannot write schedule"\nrm -- "$0"\nexit 3\n')
    beat.chmod(0o755)
    supervisor = Supervisor(
        [ChildSpec("web", WEB, essential=True), ChildSpec("beat", [str(beat)])],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
        max_restarts=2,
        backoff_initial=0.05,
        stop_timeout=5,
    )
    stop = threading.Event()
    result: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(supervisor.run(stop, 0.05))
        except BaseException as exc:  # the defect: an OSError ended the run
            errors.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    try:
        _wait_for(lambda: supervisor.child("beat").gave_up or not runner.is_alive(), 20)
        assert not errors, errors
        assert runner.is_alive(), "the run ended"
        child = supervisor.child("beat")
        assert child.starts == 1 and child.exits == [3]
        assert len(child.start_errors) == 2
        web = supervisor.child("web")
        assert web.starts == 1 and web.proc.poll() is None
        reports = _errors(caplog)
        assert "beat exited with status 3" in reports[0]
        assert all("beat could not be started" in r for r in reports[1:])
        assert "No such file or directory" in reports[1]
        assert "giving up on it; still running: web" in reports[-1]
    finally:
        stop.set()
        runner.join(timeout=20)
    assert result == [0] and supervisor.child("web").proc.returncode == -15


#: scripts/dev.py's supervision (the run command's, minus the services) over
#: two children that each start a grandchild.
SUPERVISED = """
import os, sys
sys.path.insert(0, {root!r})
from scripts import dev
from scripts.supervisor import ChildSpec
child = [sys.executable, "-c", "import os, subprocess, sys, time;"
    "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']);"
    "print('pids', os.getpid(), g.pid, flush=True); time.sleep(120)"]
specs = [ChildSpec("web", child, essential=True), ChildSpec("worker", child)]
sys.exit(dev.supervise(specs, dict(os.environ), cwd={cwd!r}))
"""


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGKILL], ids=["SIGHUP", "SIGKILL"])
def test_closing_the_terminal_or_killing_the_supervisor_leaves_no_child(tmp_path, sig):
    """SIGHUP (the terminal closed) stops the run in order: children and their
    subprocesses end, the supervisor exits 0. Even a SIGKILLed supervisor leaves
    no child: the kernel sends each one SIGTERM (PR_SET_PDEATHSIG)."""
    if sig == signal.SIGKILL and not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux's")
    script = tmp_path / "supervised.py"
    script.write_text(SUPERVISED.format(root=str(ROOT), cwd=str(tmp_path)))
    supervisor = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # the signal is for the supervisor alone, as from a terminal
    )
    output: list[str] = []
    reader = threading.Thread(
        target=lambda: output.extend(line.decode(errors="replace") for line in supervisor.stdout),
        daemon=True,
    )
    reader.start()
    children: list[psutil.Process] = []
    grandchildren: list[psutil.Process] = []
    try:
        _wait_for(lambda: sum("| pids " in line for line in output) == 2, 30)
        for line in output:
            if "| pids " in line:
                child, grandchild = line.split("| pids ")[1].split()
                children.append(psutil.Process(int(child)))
                grandchildren.append(psutil.Process(int(grandchild)))
        supervisor.send_signal(sig)
        assert supervisor.wait(timeout=30) == (0 if sig == signal.SIGHUP else -9)
        left = _wait_gone(children, 10)
        assert not left, f"{sig.name} to the supervisor left its children running: {left}"
        if sig == signal.SIGHUP:
            left = _wait_gone(grandchildren, 10)
            assert not left, f"SIGHUP left the children's subprocesses running: {left}"
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()
        _kill(children + grandchildren)
    reader.join(timeout=5)


SETUP = """
import atexit, sys, time
sys.path.insert(0, {root!r})
from scripts import dev
atexit.register(lambda: print("cleaned up", flush=True))
dev.interrupt_on_stop_signals()
print("ready", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM], ids=["SIGHUP", "SIGTERM"])
def test_a_stop_signal_during_the_setup_interrupts_it_like_ctrl_c(tmp_path, sig):
    """Before the supervisor runs (services, migrations), SIGHUP or SIGTERM ends
    the run command through KeyboardInterrupt, so ``atexit`` stops the embedded
    servers (scripts/embedded/ registers that), instead of killing it outright."""
    script = tmp_path / "setup.py"
    script.write_text(SETUP.format(root=str(ROOT)))
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # An uncaught KeyboardInterrupt ends Python as if by SIGINT, after atexit.
    assert proc.returncode == -signal.SIGINT and "KeyboardInterrupt" in out, (proc.returncode, out)
    assert "cleaned up" in out
