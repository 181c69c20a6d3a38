"""Task dependencies ("blocked by"): add and remove, with the cycle check."""

from __future__ import annotations

import uuid

from django.db import connection, transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from apps.common.errors import ConflictError
from apps.organizations.models import Membership
from apps.organizations.permissions import require
from apps.tasks.constants import ActivityVerb
from apps.tasks.models import Task, TaskDependency
from tenants.locks import tenant_xact_lock

from .activity import _audience, _emit, _ids, _record
from .rules import (
    _locked_task,
    _require_may_edit,
    _require_writable,
    _visible_task,
)


def _blocks_transitively(*, blocker: uuid.UUID, task: uuid.UUID) -> bool:
    """Whether ``task`` is already (transitively) blocking ``blocker``, i.e.
    following ``blocked_by`` edges from ``blocker`` reaches ``task``. ``UNION``
    (not ``UNION ALL``) visits each task once, so the walk always ends."""
    table = TaskDependency._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE reach(id) AS (
                SELECT %s::uuid
                UNION
                SELECT d.blocked_by_id FROM {table} d JOIN reach r ON d.task_id = r.id
            )
            SELECT EXISTS (SELECT 1 FROM reach WHERE id = %s)
            """,
            [blocker, task],
        )
        return bool(cursor.fetchone()[0])


def _alive_blocker_ids(task: Task) -> list[uuid.UUID]:
    return list(
        TaskDependency.objects.filter(task=task, blocked_by__deleted_at__isnull=True).values_list(
            "blocked_by_id", flat=True
        )
    )


def task_dependency_add(
    *, actor: Membership, task: Task, blocked_by_id: uuid.UUID
) -> TaskDependency:
    """Record that ``task`` is blocked by another visible task (any project of
    the organization). 409 ``dependency_cycle`` if the link would close a
    loop (itself included), 409 ``dependency_exists`` for a duplicate.

    Activity: ``dependency_added`` ``{"blocked_by": [null, id]}``. Event:
    ``updated`` with ``changes.blocked_by`` (old and new lists).
    """
    require(actor, "tasks.contribute")
    with transaction.atomic():
        task = _locked_task(task.pk)
        _require_may_edit(actor, task)
        _require_writable(task.project)
        if blocked_by_id == task.pk:
            raise ConflictError("A task cannot block itself.", code="dependency_cycle")
        blocker = _visible_task(actor, blocked_by_id, field="blocked_by")
        tenant_xact_lock("tasks.dependencies")
        if TaskDependency.objects.filter(task=task, blocked_by=blocker).exists():
            raise ConflictError("This dependency already exists.", code="dependency_exists")
        if _blocks_transitively(blocker=blocker.pk, task=task.pk):
            raise ConflictError(
                "That task already waits for this one: the dependency would make a cycle.",
                code="dependency_cycle",
            )
        old = _alive_blocker_ids(task)
        now = timezone.now()
        dependency = TaskDependency.objects.create(task=task, blocked_by=blocker, created_at=now)
        _record(
            task.pk,
            actor,
            ActivityVerb.DEPENDENCY_ADDED,
            {"blocked_by": (None, blocker.pk)},
            now,
        )
        _emit(
            "updated",
            {
                "id": str(task.pk),
                "project": str(task.project_id),
                "changes": {"blocked_by": [_ids(old), _ids([*old, blocker.pk])]},
            },
            _audience(actor, task.project),
        )
    return dependency


def task_dependency_remove(*, actor: Membership, task: Task, dependency_id: uuid.UUID) -> None:
    """Remove one of ``task``'s blockers. ``dependency_id`` is the link's id or
    the blocking task's id (both are unique among the task's links); 404 if
    neither matches.

    Activity: ``dependency_removed`` ``{"blocked_by": [id, null]}``. Event:
    ``updated`` with ``changes.blocked_by``.
    """
    require(actor, "tasks.contribute")
    with transaction.atomic():
        task = _locked_task(task.pk)
        _require_may_edit(actor, task)
        _require_writable(task.project)
        link = (
            TaskDependency.objects.filter(task=task)
            .filter(Q(pk=dependency_id) | Q(blocked_by_id=dependency_id))
            .first()
        )
        if link is None:
            raise Http404("No such dependency.")
        old = _alive_blocker_ids(task)
        link.delete()
        now = timezone.now()
        _record(
            task.pk,
            actor,
            ActivityVerb.DEPENDENCY_REMOVED,
            {"blocked_by": (link.blocked_by_id, None)},
            now,
        )
        new = [b for b in old if b != link.blocked_by_id]
        _emit(
            "updated",
            {
                "id": str(task.pk),
                "project": str(task.project_id),
                "changes": {"blocked_by": [_ids(old), _ids(new)]},
            },
            _audience(actor, task.project),
        )
