"""The per-user lock that serialises a user's time entry writes with
timesheet transitions (submit, approve, reopen) and with each other."""

from __future__ import annotations

from typing import Any

from tenants.locks import tenant_lock_key, tenant_xact_lock


def user_time_lock(user_id: Any) -> None:
    """Hold ``time:<user_id>`` of the current schema until the transaction ends.

    Entry writes check :func:`apps.timesheets.selectors.locking_timesheet`
    under this lock and timesheet transitions change status under it, so an
    edit racing an approval is either before it (and in its snapshot) or
    refused with ``entry_locked``.
    """
    tenant_xact_lock(f"time:{user_id}")


def user_time_lock_key(user_id: Any) -> str:
    """The key :func:`user_time_lock` takes (``tenants.locks.XACT_LOCK_SQL``),
    for a query that takes it itself."""
    return tenant_lock_key(f"time:{user_id}")
