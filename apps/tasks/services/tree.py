"""Subtasks: the parent tree (recursive CTEs), parent checks and moves.

A task's parent lives in the same project and is never the task or one of
its descendants; a task moving to another project takes its subtasks along.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Final

from django.db import connection

from apps.common.errors import ApplicationError, ConflictError
from apps.organizations.models import Membership
from apps.projects.models import Project
from apps.tasks.constants import ActivityVerb
from apps.tasks.models import Task, TaskActivity
from tenants.locks import tenant_xact_lock

from .activity import _activity
from .rules import (
    UNSET,
    _require_writable,
    _Unset,
    _visible_project,
    _visible_task,
)

#: Bound of the walks up and down the parent tree (a guard against bad data:
#: the services never let a cycle in, so real walks stop at the root).
MAX_TREE_DEPTH: Final = 10_000


def _is_ancestor_or_self(*, candidate: uuid.UUID, of: uuid.UUID) -> bool:
    """Whether ``candidate`` is ``of`` or one of its ancestors (walk up the
    parent chain, deleted tasks included, bounded by ``MAX_TREE_DEPTH``)."""
    table = Task._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE chain(id, parent_id, depth) AS (
                SELECT id, parent_id, 1 FROM {table} WHERE id = %s
                UNION ALL
                SELECT t.id, t.parent_id, c.depth + 1
                FROM {table} t JOIN chain c ON t.id = c.parent_id
                WHERE c.depth < %s
            )
            SELECT EXISTS (SELECT 1 FROM chain WHERE id = %s)
            """,
            [of, MAX_TREE_DEPTH, candidate],
        )
        return bool(cursor.fetchone()[0])


def _descendant_ids(task_id: uuid.UUID) -> list[uuid.UUID]:
    """All tasks below ``task_id`` (any depth, deleted ones included)."""
    table = Task._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE below(id, depth) AS (
                SELECT id, 1 FROM {table} WHERE parent_id = %s
                UNION ALL
                SELECT t.id, b.depth + 1 FROM {table} t JOIN below b ON t.parent_id = b.id
                WHERE b.depth < %s
            )
            SELECT id FROM below
            """,
            [task_id, MAX_TREE_DEPTH],
        )
        return [row[0] for row in cursor.fetchall()]


def _check_parent(
    actor: Membership, task: Task | None, parent_id: uuid.UUID | None, project: Project
) -> uuid.UUID | None:
    """The parent must be visible, alive, in the same project and not the task
    itself or one of its descendants (409 ``parent_cycle``)."""
    if parent_id is None:
        return None
    if task is not None and parent_id == task.pk:
        raise ConflictError("A task cannot be its own parent.", code="parent_cycle")
    parent = _visible_task(actor, parent_id, field="parent")
    if parent.project_id != project.pk:
        raise ApplicationError(
            "The parent task belongs to another project.",
            code="parent_other_project",
            extra={"fields": {"parent": ["The parent must be in the same project."]}},
        )
    if task is not None:
        tenant_xact_lock("tasks.tree")
        if _is_ancestor_or_self(candidate=task.pk, of=parent.pk):
            raise ConflictError(
                "That parent is a subtask of this task: it would make a cycle.",
                code="parent_cycle",
            )
    return parent.pk


def _destination(
    actor: Membership,
    task: Task,
    project_id: uuid.UUID | _Unset,
    parent_id: uuid.UUID | _Unset | None,
) -> tuple[Project, uuid.UUID | None]:
    """The project and parent id ``task`` ends up with, checked: a new project
    must be visible and not archived; the parent must live in the final
    project (a subtask moves to another project only with a parent there, or
    none) and must not be the task or one of its subtasks."""
    project = task.project
    if project_id is not UNSET and project_id != task.project_id:
        project = _visible_project(actor, project_id)
        _require_writable(project)
    if parent_id is not UNSET and parent_id != task.parent_id:
        return project, _check_parent(actor, task, parent_id, project)
    if task.parent_id is not None and project.pk != task.project_id:
        raise ApplicationError(
            "A subtask moves to another project only with a parent there (or none).",
            code="parent_other_project",
            extra={"fields": {"parent": ["The parent must be in the same project."]}},
        )
    return project, task.parent_id


def _move_subtasks(
    actor: Membership, task: Task, old_project: Project, now: datetime
) -> list[TaskActivity]:
    """Subtasks (any depth, deleted ones too) follow their task to its new
    project, so a parent and its children always share one; each gets an
    ``updated`` activity row for ``project``."""
    moved = _descendant_ids(task.pk)
    Task.all_objects.filter(pk__in=moved).update(project=task.project, updated_at=now)
    change = {"project": (old_project.pk, task.project_id)}
    return [_activity(d, actor, ActivityVerb.UPDATED, change, now) for d in moved]
