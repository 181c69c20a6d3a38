"""The task page ``/tasks/<id>/``: title, status (and its form), assignees,
subtasks, blockers, comments (with mentions, and the ``Comment`` form) and
activity.

Thin like the API's views (apps/tasks/api/views.py): the task is found with
``selectors.task_get_for_member`` (a hidden task is a 404, like an unknown
one), its parts with the selectors the API's sub-resources read, and the
forms call the same services (``task_update``, ``task_comment_create``)
after the same input serializers, under the API's write permission
(``tasks.contribute``; the finer rules — own tasks, archived projects, open
blockers — are the services'). Comment bodies are shown as the API gives
them: plain text (escaped here), each ``@[<user id>]`` the API resolved into
``mentions`` shown as that member's name.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from apps.common.errors import ApplicationError
from apps.iam.web.access import member_page, refused
from apps.organizations.models import Membership
from apps.organizations.permissions import may
from apps.projects.web.forms import apply_error, apply_errors
from apps.tasks import selectors
from apps.tasks.api.serializers import TaskCommentSerializer, TaskUpdateSerializer
from apps.tasks.constants import ActivityVerb, TaskStatus
from apps.tasks.models import Task, TaskActivity, TaskComment
from apps.tasks.services.comments import MENTION_RE, task_comment_create
from apps.tasks.services.tasks import task_update

from .forms import CommentForm, StatusForm

#: At most this many comments (the newest), activity rows and subtasks on the page.
MAX_COMMENTS = 200
MAX_ACTIVITY = 50
MAX_SUBTASKS = 200


@dataclass(frozen=True)
class Segment:
    """A piece of a comment body: plain text, or a resolved mention."""

    text: str
    mention: bool = False


def comment_segments(comment: TaskComment, names: dict[uuid.UUID, str]) -> list[Segment]:
    """The body as text and mentions: ``@[<id>]`` is a mention where the API
    resolved it (the id is in ``comment.mentions``), shown as ``@Name``;
    anything else stays the text that was written."""
    mentioned = set(comment.mentions or ())
    segments: list[Segment] = []
    last = 0
    for match in MENTION_RE.finditer(comment.body):
        user_id = uuid.UUID(match.group(1))
        if user_id not in mentioned:
            continue
        if match.start() > last:
            segments.append(Segment(comment.body[last : match.start()]))
        segments.append(Segment("@" + (names.get(user_id) or _("unknown member")), mention=True))
        last = match.end()
    if last < len(comment.body):
        segments.append(Segment(comment.body[last:]))
    return segments


def _names(actor: Membership, user_ids: set[Any]) -> dict[uuid.UUID, str]:
    """Display names of the organization's members among ``user_ids`` (one query)."""
    if not user_ids:
        return {}
    rows = Membership.objects.filter(
        organization_id=actor.organization_id, user_id__in=user_ids
    ).select_related("user")
    return {m.user_id: m.user.full_name for m in rows}


def _status_label(value: Any) -> str:
    return str(TaskStatus(value).label) if value in TaskStatus.values else str(value or "—")


def _activity_text(row: TaskActivity) -> str:
    """What an activity row changed, in a few words."""
    changes = row.changes or {}
    if row.verb == ActivityVerb.STATUS_CHANGED and "status" in changes:
        old, new = changes["status"]
        return f"{_status_label(old)} → {_status_label(new)}"
    fields = [name for name in changes if name not in ("comment", "position", "completed_at")]
    return ", ".join(fields)


def _task_page(
    request: HttpRequest,
    actor: Membership,
    task: Task,
    *,
    status_form: StatusForm | None = None,
    comment_form: CommentForm | None = None,
    status: int = 200,
) -> HttpResponse:
    # Annotations of selectors.with_task_details (task_get_for_member loads them).
    assignee_ids: list[uuid.UUID] = list(getattr(task, "assignee_ids", []))
    blocked_by_ids: list[uuid.UUID] = list(getattr(task, "blocked_by_ids", []))
    visible = selectors.tasks_visible_to(actor=actor)
    subtasks = list(
        visible.filter(parent=task).order_by("position", "created_at", "id")[:MAX_SUBTASKS]
    )
    blockers = list(visible.filter(pk__in=blocked_by_ids).order_by("title", "id"))
    newest = selectors.task_comment_list(task=task).order_by("-created_at", "-id")
    comments = list(newest[:MAX_COMMENTS])[::-1]  # the newest ones, read downwards
    activity = list(selectors.task_activity_list(task=task)[:MAX_ACTIVITY])
    names = _names(
        actor,
        {*assignee_ids, task.reporter_id}
        | {c.author_id for c in comments}
        | {u for c in comments for u in (c.mentions or ())}
        | {a.actor_id for a in activity},
    )
    for comment in comments:
        comment.author_name = names.get(comment.author_id, _("former member"))  # type: ignore[attr-defined]
        comment.segments = comment_segments(comment, names)  # type: ignore[attr-defined]
    for row in activity:
        row.actor_name = names.get(row.actor_id, _("someone")) if row.actor_id else _("system")  # type: ignore[attr-defined]
        row.text = _activity_text(row)  # type: ignore[attr-defined]
    may_contribute = may(actor, "tasks.contribute")
    context: dict[str, Any] = {
        "actor": actor,
        "task": task,
        "project": task.project,
        "status_label": _status_label(task.status),
        "assignees": [names.get(u, "") for u in assignee_ids],
        "reporter": names.get(task.reporter_id, "") if task.reporter_id else "",
        "subtasks": subtasks,
        "blockers": blockers,
        "comments": comments,
        "activity": activity,
        "may_contribute": may_contribute,
        "status_form": status_form or StatusForm(initial={"status": task.status}),
        "comment_form": comment_form or CommentForm(),
    }
    return render(request, "tasks/task.html", context, status=status)


@require_GET
@member_page
def task_page(request: HttpRequest, task_id: uuid.UUID, *, actor: Membership) -> HttpResponse:
    task = selectors.task_get_for_member(actor=actor, task_id=task_id)
    return _task_page(request, actor, task)


@require_POST
@member_page
def task_status(request: HttpRequest, task_id: uuid.UUID, *, actor: Membership) -> HttpResponse:
    """Change the status: ``PATCH /api/v1/tasks/<id>/ {status}``."""
    task = selectors.task_get_for_member(actor=actor, task_id=task_id)
    if not may(actor, "tasks.contribute"):  # the API's write permission, before the input
        return refused(request, _("Your role may not change tasks."))
    form = StatusForm(request.POST)
    body = TaskUpdateSerializer(data={"status": request.POST.get("status", "")}, partial=True)
    if not body.is_valid():
        apply_errors(form, body.errors)
        return _task_page(request, actor, task, status_form=form, status=400)
    try:
        task_update(actor=actor, task=task, status=body.validated_data["status"])
    except ApplicationError as exc:
        apply_error(form, exc, field="status")
        return _task_page(request, actor, task, status_form=form, status=exc.status_code)
    return HttpResponseRedirect(reverse("tasks_web:task", args=[task.pk]))


@require_POST
@member_page
def task_comment(request: HttpRequest, task_id: uuid.UUID, *, actor: Membership) -> HttpResponse:
    """``Post comment``: ``POST /api/v1/tasks/<id>/comments/ {body}``."""
    task = selectors.task_get_for_member(actor=actor, task_id=task_id)
    if not may(actor, "tasks.contribute"):  # the API's write permission, before the input
        return refused(request, _("Your role may not comment."))
    form = CommentForm(request.POST)
    body = TaskCommentSerializer(data={"body": request.POST.get("body", "")})
    if not body.is_valid():
        apply_errors(form, body.errors)
        return _task_page(request, actor, task, comment_form=form, status=400)
    try:
        task_comment_create(actor=actor, task=task, body=body.validated_data["body"])
    except ApplicationError as exc:
        apply_error(form, exc, field="body")
        return _task_page(request, actor, task, comment_form=form, status=exc.status_code)
    return HttpResponseRedirect(reverse("tasks_web:task", args=[task.pk]) + "#comments")
