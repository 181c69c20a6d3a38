"""Saving an entry: the database constraints a request may lose a race on
become their 409/400, never an ``IntegrityError`` 500.

PostgreSQL holds the two invariants no Python check can hold across
processes (one running timer per user; no overlapping live entries). The
services check them first for a clear message, and the database refusal of a
request that raced past the check is mapped to the same codes
(``timer_already_running``, ``entry_overlap``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from django.db import IntegrityError, OperationalError, transaction

from apps.common.errors import ApplicationError, ConflictError, field_error

from ..models import TimeEntry


def timer_running_error() -> ConflictError:
    return ConflictError(
        "A timer is already running for this user: stop it first.", code="timer_already_running"
    )


def overlap_error(other: TimeEntry | None = None) -> ConflictError:
    extra = {"conflicting_entry": str(other.pk)} if other is not None else {}
    return ConflictError(
        "This time overlaps another entry of the same user.", code="entry_overlap", extra=extra
    )


#: Database constraint name → the error a lost race on it becomes.
_CONSTRAINT_ERRORS: dict[str, Callable[[], ApplicationError]] = {
    "time_entries_one_running_timer": timer_running_error,
    "time_entries_no_overlap": overlap_error,
    "time_entries_end_after_start": lambda: field_error(
        "ended_at", "The end is before the start.", code="end_before_start"
    ),
}


def _constraint_name(exc: IntegrityError) -> str:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) or str(exc)


def save(entry: TimeEntry) -> None:
    """Save; a constraint the checks could not see coming (a concurrent
    writer that bypassed the user lock, e.g. a raw import) is mapped to its
    409/400 instead of an IntegrityError 500.

    No savepoint (two round trips on the timer's hot path): the error is
    raised on, so the caller's whole transaction rolls back anyway; a caller
    that caught it and went on writing would get Django's "transaction is
    broken" error, never a silent half-write."""
    with constraint_errors_mapped():
        entry.save()


@contextmanager
def constraint_errors_mapped() -> Iterator[None]:
    """Run a write; database constraint violations become their 409/400 (see
    :func:`save`)."""
    try:
        with transaction.atomic(savepoint=False):
            yield
    except IntegrityError as exc:
        name = _constraint_name(exc)
        for constraint, error in _CONSTRAINT_ERRORS.items():
            if constraint in name:
                raise error() from exc
        raise
    except OperationalError as exc:
        # Two overlapping inserts checking the exclusion constraint at once
        # can wait on each other; PostgreSQL then aborts one of them.
        if _is_exclusion_deadlock(exc):
            raise overlap_error() from exc
        raise


def _is_exclusion_deadlock(exc: OperationalError) -> bool:
    cause = exc.__cause__
    if not isinstance(cause, psycopg.errors.DeadlockDetected):
        return False
    context = getattr(cause.diag, "context", None) or str(cause)
    return "exclusion constraint" in context
