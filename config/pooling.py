"""Refuse to run behind a pooler that does not keep session state.

NovaTime selects the tenant with a session-level ``SET search_path``. A pooler
in *transaction* (or statement) mode hands the server connection to another
client after every transaction, so the next query of this client may run with
someone else's search_path — another tenant's schema. Supported: no pooler,
Django's psycopg pool (in-process, per connection checkout), or PgBouncer in
*session* mode. ``NOVATIME_DB_POOL_MODE`` refuses the unsupported modes by
name (config/settings/production.py); this probe catches a pooler that is
misconfigured whatever the setting says.

The probe is deterministic, not statistical: client A sets a marker
search_path (autocommit: its transaction ends at once); client B opens a
transaction and keeps it open, pinning a server connection; A then reads its
search_path. Directly or through a session-mode pooler, A still has its own
backend and its marker. Through a transaction-mode pooler, A's SET went to a
server connection that B (most recently released first) now holds, and A's read
runs elsewhere: the marker is gone, or A waits for a free server connection
and the probe times out — both are refusals.

    python -m config.pooling     # exit 0 ok, 1 refused (deploy/entrypoint.sh)
"""

from __future__ import annotations

import logging
import sys
import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg
    from psycopg.rows import TupleRow

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str


def _search_path(conn: psycopg.Connection[TupleRow]) -> str:
    """The session's ``search_path`` (``SHOW`` always returns one row)."""
    row = conn.execute("SHOW search_path").fetchone()
    if row is None:
        raise RuntimeError("SHOW search_path returned no row")
    return str(row[0])


def probe_session_state(conn_params: dict[str, Any], *, timeout: float = 5.0) -> ProbeResult:
    """Does a session's search_path survive while another client holds a transaction?"""
    import psycopg

    params = {**conn_params, "autocommit": True}
    params.setdefault("connect_timeout", max(1, int(timeout)))
    marker = f"novatime_probe_{uuid.uuid4().hex[:12]}"
    a = psycopg.connect(**params)
    b = psycopg.connect(**params)
    try:
        a.execute(f'SET search_path TO "{marker}", public')
        with b.transaction():
            b.execute("SELECT 1")
            b_path = _search_path(b)
            seen: list[str] = []
            reader = threading.Thread(
                target=lambda: seen.append(_search_path(a)),
                daemon=True,
            )
            reader.start()
            reader.join(timeout)
            if reader.is_alive():
                a.cancel()
                reader.join(timeout)
                return ProbeResult(
                    False,
                    "a client's next statement waited for a free server connection: the "
                    "pooler does not keep one per session (transaction/statement mode)",
                )
        a_path = seen[0] if seen else ""
    finally:
        for conn in (a, b):
            try:
                conn.close()
            except Exception:  # closing a cancelled connection may fail; nothing to keep
                logger.debug("closing probe connection failed", exc_info=True)
    if marker in b_path:
        return ProbeResult(False, "another client saw this session's search_path")
    if marker not in a_path:
        return ProbeResult(False, f"the session's search_path was lost (now {a_path!r})")
    return ProbeResult(True, "session state persists across transactions")


def check_database_pooling(alias: str = "default") -> ProbeResult:
    """Probe the configured database (``DATABASES[alias]``) as Django connects."""
    from django.db import connections

    params = connections[alias].get_connection_params()
    result = probe_session_state(params)
    if result.ok:
        logger.info("database pooling check passed: %s", result.detail)
    else:
        logger.error("database pooling check FAILED: %s", result.detail)
    return result


def main() -> int:
    import django

    django.setup()
    result = check_database_pooling()
    stream = sys.stdout if result.ok else sys.stderr
    stream.write(
        ("ok: " if result.ok else "refusing to start: ")
        + result.detail
        + ("" if result.ok else " -- use PgBouncer in session mode (see deploy/README.md)")
        + "\n"
    )
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
