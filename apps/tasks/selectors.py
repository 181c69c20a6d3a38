"""Reads for tasks, labels, comments and activity.

Visibility follows the projects' rules (``apps.projects.selectors``): managers
and above see every task; members and viewers see the tasks of public projects
and of the private projects they belong to. Tasks of soft-deleted projects are
invisible to everyone. Every read that takes an id from a request goes through
``task_get_for_member``, so a hidden task, another organization's task and a
task that never existed all look the same: 404.

List reads keep a constant number of queries whatever the page size: the
subtask count and the id lists of the to-many relations (assignees, labels,
blockers) are correlated subqueries of the list statement itself.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import (
    Case,
    Count,
    IntegerField,
    Lookup,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.http import Http404

from apps.organizations.models import Membership
from apps.projects.selectors import visible_project_filter

from .constants import CLOSED_STATUSES, TaskPriority
from .models import Label, Task, TaskActivity, TaskAssignee, TaskComment, TaskDependency

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models.sql.compiler import SQLCompiler

#: Priority as a number, so "order by priority" means none < low < … < urgent
#: instead of the alphabetical order of the stored strings.
PRIORITY_RANK = Case(
    *(When(priority=value, then=Value(rank)) for rank, value in enumerate(TaskPriority.values)),
    default=Value(0),
    output_field=IntegerField(),
)


class ILike(Lookup):
    """``<lhs> ILIKE <rhs>``, used as a filter expression (never registered).

    Django's ``icontains`` compiles to ``UPPER(title) LIKE UPPER(…)`` on
    PostgreSQL, which the ``gin_trgm_ops`` index on the bare ``title`` column
    cannot serve; ``ILIKE`` on the column itself can.
    """

    lookup_name = "ilike"
    prepare_rhs = False

    def as_sql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper
    ) -> tuple[str, tuple[str | int, ...]]:
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        rhs_sql, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs_sql} ILIKE {rhs_sql}", (*lhs_params, *rhs_params)


def contains_pattern(text: str) -> str:
    """``%text%`` with LIKE's wildcards in ``text`` escaped (a search for
    ``50%`` means the characters, not "50 then anything")."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def tasks_visible_to(*, actor: Membership, include_deleted: bool = False) -> QuerySet[Task]:
    """Tasks ``actor`` may see (alive ones unless ``include_deleted``)."""
    manager = Task.all_objects if include_deleted else Task.objects
    return manager.filter(project__deleted_at__isnull=True).filter(
        visible_project_filter(actor, prefix="project__")
    )


def with_task_details(queryset: QuerySet[Task]) -> QuerySet[Task]:
    """Annotations the task serializer reads: one statement, no N+1."""
    alive_children = (
        Task.objects.filter(parent=OuterRef("pk"))
        .order_by()
        .values("parent")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return queryset.annotate(
        subtask_count=Coalesce(Subquery(alive_children, output_field=IntegerField()), 0),
        priority_rank=PRIORITY_RANK,  # harmless if already there (same expression)
        # Id lists as array subqueries in the same statement: no prefetch
        # queries, no model instances built per related row (the prefetches
        # these replace were ~40% of a list request's time at 200k tasks).
        assignee_ids=ArraySubquery(
            TaskAssignee.objects.filter(task=OuterRef("pk"))
            .order_by("created_at", "user_id")
            .values("user_id")
        ),
        label_ids=ArraySubquery(
            Task.labels.through.objects.filter(task_id=OuterRef("pk"))
            .order_by("label__name", "label_id")
            .values("label_id")
        ),
        blocked_by_ids=ArraySubquery(
            TaskDependency.objects.filter(task=OuterRef("pk"), blocked_by__deleted_at__isnull=True)
            .order_by("created_at", "id")
            .values("blocked_by_id")
        ),
    )


def task_list(*, actor: Membership) -> QuerySet[Task]:
    """The visible tasks, in manual order (``position``): the list to filter,
    order and page. Details are added per page by ``task_page_details``.

    Filtering and ordering on top of this are applied by the API's FilterSet;
    ``id`` is the last tie-breaker so pages never overlap.
    """
    return (
        tasks_visible_to(actor=actor)
        .annotate(priority_rank=PRIORITY_RANK)
        .order_by("position", "created_at", "id")
    )


def task_page_details(page_ids: list[uuid.UUID]) -> list[Task]:
    """The tasks of one page, with their details, in ``page_ids`` order.

    Two statements instead of one on purpose: PostgreSQL evaluates a row's
    correlated subqueries for every row an ``OFFSET`` skips, so details in the
    paging statement made page 40 cost 40 pages of subqueries.
    """
    by_id = {t.pk: t for t in with_task_details(Task.all_objects.filter(pk__in=page_ids))}
    return [by_id[pk] for pk in page_ids if pk in by_id]


def task_get_for_member(
    *, actor: Membership, task_id: uuid.UUID, include_deleted: bool = False
) -> Task:
    """The task if ``actor`` may see it, else 404 (unknown, hidden and
    other organizations' tasks are indistinguishable)."""
    task = (
        with_task_details(tasks_visible_to(actor=actor, include_deleted=include_deleted))
        .select_related("project")
        .filter(pk=task_id)
        .first()
    )
    if task is None:
        raise Http404("No such task.")
    return task


def task_open_blocker_ids(*, task: Task) -> list[uuid.UUID]:
    """Ids of the alive tasks blocking ``task`` that are not done or cancelled."""
    return list(
        TaskDependency.objects.filter(task=task, blocked_by__deleted_at__isnull=True)
        .exclude(blocked_by__status__in=CLOSED_STATUSES)
        .order_by("created_at", "id")
        .values_list("blocked_by_id", flat=True)
    )


def task_comment_list(*, task: Task) -> QuerySet[TaskComment]:
    """Alive comments of ``task``, oldest first (a conversation reads downwards)."""
    return TaskComment.objects.filter(task=task).order_by("created_at", "id")


def task_comment_get(*, task: Task, comment_id: uuid.UUID) -> TaskComment:
    comment = task_comment_list(task=task).filter(pk=comment_id).first()
    if comment is None:
        raise Http404("No such comment.")
    return comment


def task_activity_list(*, task: Task) -> QuerySet[TaskActivity]:
    """The activity log of ``task``, newest first."""
    return TaskActivity.objects.filter(task=task).order_by("-created_at", "verb", "id")


def label_list() -> QuerySet[Label]:
    return Label.objects.order_by("name", "id")


def label_get(*, label_id: uuid.UUID) -> Label:
    label = Label.objects.filter(pk=label_id).first()
    if label is None:
        raise Http404("No such label.")
    return label
