"""The timer's hot path: every statement that leaves the ORM's usual way, in one place.

A timer start, stop and heartbeat are the requests NovaTime serves most,
fifty clients at a time. Written with plain ``QuerySet`` calls and
``save()``, a start took 518 ms at p95 under load; with what is below it
takes about 10 ms (``docs/benchmarks/timer.md``). Nothing here changes what
is written: each function does what the ORM call it replaces would do,
minus the part named, and the services in :mod:`apps.time_entries.services`
keep every rule (validation, permissions, events, constraint errors).

What is skipped, and why it is safe:

- **Compiling querysets on every call.** The timer's project look-up (with
  the rate hierarchy and the visibility rule), the running and later
  entries and the running entry are :class:`~apps.common.prepared.PreparedQuery`:
  compiled once per process and shape, rows read as ``RawQuerySet`` reads
  them with that reading planned once. The ORM stays their only definition.
  (The lock rule, :mod:`apps.time_entries.locking`, and the rate,
  :mod:`apps.time_entries.rates`, compile their queries the same way next to
  the rule they are.)
- **A round trip for the user's time lock.** :func:`timer_project_locked`
  takes :func:`~apps.time_entries.locking.user_time_lock` in a ``RawSQL``
  annotation of the project query: sound because the lock protects nothing
  that query reads (see its docstring).
- **``Model.save()`` for the new running entry.** :func:`insert_new` writes
  what ``save()`` would (every concrete field, ``pre_save`` — ``auto_now`` —
  and ``get_db_prep_save`` applied) with the lock rule's query in the same
  statement (``INSERT ... SELECT ... WHERE NOT EXISTS``). It skips the
  ``pre_save``/``post_save`` signals and any ``save()`` override, so it
  refuses a model with save receivers at run time.
- **``save(update_fields=...)`` for a stop.** :func:`stop_update` sends the
  UPDATE that call would send (the caller sets ``updated_at``, the only
  ``auto_now`` field), with the lock rule in its ``WHERE``.
- **A read before the heartbeat's write.** :func:`heartbeat_update` is one
  ``UPDATE ... FROM (SELECT ... FOR UPDATE) ... RETURNING``.

What they lean on is checked by ``tests/test_hot_path.py``, which fails
loudly when it breaks: ``TimeEntry`` has no ``save()`` override and no save
receivers, ``updated_at`` is its only ``auto_now`` field, the columns named
here exist, and the Django and django-tenants internals used by this module
and ``apps/common/prepared.py`` exist with the signatures used.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from django.db import connection, connections, router
from django.db.models import F, Model, Q, QuerySet, TextField
from django.db.models.expressions import RawSQL
from django.db.models.signals import post_save, pre_save

from apps.common.prepared import PreparedQuery, PreparedQueryError
from apps.organizations.models import Membership
from apps.projects.models import Project
from apps.projects.selectors import member_visible_project_filter, sees_all_projects
from apps.tasks.models import Task
from tenants.db import current_tenant
from tenants.locks import XACT_LOCK_SQL

from .locking import UserId, user_time_lock_key
from .models import TimeEntry
from .rates import rate_expression

# --- the timer's project, with the rate and the user's time lock ----------------------


def _timer_project(
    sees_all: bool,
    *,
    viewer_id: uuid.UUID,
    project_id: uuid.UUID,
    user_id: uuid.UUID,
    organization_id: uuid.UUID,
    lock_key: str,
) -> QuerySet[Project]:
    """The project ``viewer_id`` may see, with ``user_id``'s hourly rate on it;
    the row also takes ``user_id``'s time lock (``lock_key``)."""
    visible = Q() if sees_all else member_visible_project_filter(viewer_id)
    return Project.all_objects.filter(visible, pk=project_id).annotate(
        user_hourly_rate=rate_expression(user_id=user_id, organization_id=organization_id),
        user_time_locked=RawSQL(XACT_LOCK_SQL, [lock_key], output_field=TextField()),
    )[:1]


#: Compiled once per process and visibility (the timer's hot path: see
#: apps/common/prepared.py for what compiling it every time cost).
_TIMER_PROJECT = PreparedQuery(
    _timer_project,
    viewer_id=uuid.UUID,
    project_id=uuid.UUID,
    user_id=uuid.UUID,
    organization_id=uuid.UUID,
    lock_key=str,
)


def timer_project_locked(actor: Membership, project_id: uuid.UUID | str) -> Project | None:
    """The timer's project as the actor may see it (unchecked: the caller
    refuses deleted and archived ones), with the member's hourly rate on it
    as ``project.user_hourly_rate``, and the member's
    :func:`~apps.time_entries.locking.user_time_lock` taken — all in one
    statement, one round trip fewer on the timer's hot path.

    Taking the lock in the statement that reads the project is sound because
    the lock protects none of what it reads (projects and rates are not
    written under it): what needs the lock — the running timer, the entries
    in the way, the timesheets — is read by the statements that follow, each
    with a snapshot taken after the lock was granted. No row (unknown,
    invisible or malformed id) takes no lock, and the request ends in a 400.
    """
    user_id = actor.user_id
    try:
        rows = _TIMER_PROJECT.run(
            sees_all_projects(actor),
            viewer_id=user_id,
            project_id=project_id,
            user_id=user_id,
            organization_id=current_tenant().pk,
            lock_key=user_time_lock_key(user_id),
        )
    except ValueError:  # not a UUID: as unknown as any other
        rows = []
    return rows[0] if rows else None


# --- the running entry and the entries in a new timer's way --------------------------


def _running_and_later(
    shape: None, *, user_id: uuid.UUID, at: datetime.datetime, since: datetime.datetime
) -> QuerySet[TimeEntry]:
    return (
        TimeEntry.objects.select_for_update(of=("self",))
        .filter(user_id=user_id)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=at, started_at__gt=since))
        .exclude(ended_at=F("started_at"))  # an empty range overlaps nothing
        .order_by("started_at")
    )


#: Compiled once per process (apps/common/prepared.py).
_RUNNING_AND_LATER = PreparedQuery(
    _running_and_later, user_id=uuid.UUID, at=datetime.datetime, since=datetime.datetime
)


def running_and_later_locked(
    user_id: UserId, at: datetime.datetime, *, since: datetime.datetime
) -> tuple[TimeEntry | None, list[TimeEntry]]:
    """The user's running entry and the finished entries that end after
    ``at`` (a timer started at ``at`` would overlap them), row-locked, in one
    query — the timer start needs both, and they are the same rows' question.

    Finished entries are looked for among those that started after
    ``since`` (the start minus the longest valid entry), so the query stays
    on the (user, started_at) index however long the user's history; the
    exclusion constraint remains the backstop for anything else.
    """
    rows = _RUNNING_AND_LATER.run(user_id=user_id, at=at, since=since)
    running = next((row for row in rows if row.ended_at is None), None)
    return running, [row for row in rows if row.ended_at is not None]


def _running_with_names(shape: None, *, user_id: uuid.UUID) -> QuerySet[TimeEntry]:
    return (
        TimeEntry.objects.select_for_update(of=("self",))
        .filter(user_id=user_id, ended_at__isnull=True)
        .annotate(
            shown_project_name=F("project__name"),
            shown_project_color=F("project__color"),
            shown_task_title=F("task__title"),
        )[:1]
    )


#: Compiled once per process (apps/common/prepared.py).
_RUNNING_WITH_NAMES = PreparedQuery(_running_with_names, user_id=uuid.UUID)


def running_locked(user_id: UserId) -> TimeEntry | None:
    """The running entry, row-locked, with what the API shows of its project
    and task (name, colour, title) loaded in the same query: the other fields
    of those two are deferred, so code that reads them still gets the
    database's values, one query later."""
    rows = _RUNNING_WITH_NAMES.run(user_id=user_id)
    if not rows:
        return None
    entry = rows[0]
    entry.project = Project.from_db(
        None,
        ["id", "name", "color"],
        [entry.project_id, entry.shown_project_name, entry.shown_project_color],  # type: ignore[attr-defined]
    )
    if entry.task_id is not None:
        entry.task = Task.from_db(None, ["id", "title"], [entry.task_id, entry.shown_task_title])  # type: ignore[attr-defined]
    return entry


# --- writes without save() ------------------------------------------------------------


def insert_new(instance: Model, *, unless: tuple[str, list[Any]] | None = None) -> bool:
    """INSERT a new ``instance`` as ``save()`` would — every concrete field,
    ``pre_save`` (``auto_now``) and ``get_db_prep_save`` applied, Django's
    placeholders — and, with ``unless`` (a query's SQL and parameters), only
    when that query finds no row, in the same statement. Returns whether the
    row was written.

    For a hot path that would otherwise spend a round trip on the check and
    the ORM's per-call insert compilation on the write. Only for models with
    no save signals, no ``save()`` override and a primary key with a default;
    query expressions as values are refused (``save()`` takes those).
    """
    model = type(instance)
    if pre_save.has_listeners(model) or post_save.has_listeners(model):
        # Loud, not silent: a receiver added later would never hear of these rows.
        raise PreparedQueryError(f"{model.__name__} has save signal receivers: use save()")
    opts = model._meta
    db = router.db_for_write(model, instance=instance)
    conn = connections[db]
    fields = [f for f in opts.local_concrete_fields if not f.generated]
    placeholders, params = [], []
    for field in fields:
        value = field.get_db_prep_save(field.pre_save(instance, True), conn)
        if hasattr(value, "resolve_expression"):
            raise PreparedQueryError(f"{field.name} is an expression: use save()")
        placeholder = getattr(field, "get_placeholder", None)
        placeholders.append("%s" if placeholder is None else placeholder(value, None, conn))
        params.append(value)
    quote = conn.ops.quote_name
    sql = "INSERT INTO {} ({}) SELECT {}".format(
        quote(opts.db_table),
        ", ".join(quote(str(f.column)) for f in fields),
        ", ".join(placeholders),
    )
    if unless is not None:
        sql += f" WHERE NOT EXISTS ({unless[0]})"
        params.extend(unless[1])
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        written = cursor.rowcount == 1
    if written:
        instance._state.adding = False
        instance._state.db = db
    return written


#: The columns a stop changes: what ``save(update_fields=STOP_FIELDS)`` writes.
STOP_FIELDS = ("ended_at", "duration_seconds", "hourly_rate", "amount", "updated_at")

_STOP_SQL = (
    f"UPDATE {TimeEntry._meta.db_table} SET ended_at = %s, duration_seconds = %s, "
    "hourly_rate = %s, amount = %s, updated_at = %s WHERE id = %s"
)


def stop_update(entry: TimeEntry, *, unless: tuple[str, list[Any]]) -> bool:
    """Write a stop already set on ``entry`` (its :data:`STOP_FIELDS`) in one
    UPDATE in plain SQL — what ``save(update_fields=...)`` sends, without
    compiling it on every stop — unless the ``unless`` query (the timesheet
    lock rule of the stopped span) finds a row: a round trip fewer than
    checking first. Returns whether the row was written."""
    unless_sql, unless_params = unless
    with connection.cursor() as cursor:
        cursor.execute(
            f"{_STOP_SQL} AND NOT EXISTS ({unless_sql})",
            [
                entry.ended_at,
                entry.duration_seconds,
                entry.hourly_rate,
                entry.amount,
                entry.updated_at,
                entry.pk,
                *unless_params,
            ],
        )
        return bool(cursor.rowcount == 1)


def heartbeat_update(
    user_id: UserId, last_input_at: datetime.datetime
) -> tuple[uuid.UUID, datetime.datetime, datetime.datetime] | None:
    """Move the running entry's ``last_activity_at`` to ``last_input_at`` (never
    backwards) in one UPDATE; ``(entry id, previous activity or the start,
    new activity)``, or ``None`` when no timer runs.

    The row lock of that UPDATE orders concurrent heartbeats; the previous
    value comes back from the same statement. No transaction is needed
    around it: the UPDATE is atomic on its own, and most heartbeats write
    nothing else.
    """
    table = TimeEntry._meta.db_table
    sql = f"""
        UPDATE {table} AS e
           SET last_activity_at = greatest(p.prev, %s)
          FROM (SELECT id, greatest(coalesce(last_activity_at, started_at), started_at) AS prev
                  FROM {table}
                 WHERE user_id = %s AND ended_at IS NULL AND deleted_at IS NULL
                 FOR UPDATE) AS p
         WHERE e.id = p.id
     RETURNING e.id, p.prev, e.last_activity_at
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [last_input_at, user_id])
        row = cursor.fetchone()
    if row is None:
        return None
    entry_id, previous, current = row
    return entry_id, previous, current
