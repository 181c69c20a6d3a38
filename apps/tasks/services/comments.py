"""Comments on tasks, with ``@[<user id>]`` mentions."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Final

from django.db import transaction
from django.http import Http404
from django.utils import timezone

from apps.common.errors import PermissionDeniedError
from apps.organizations.models import Membership
from apps.organizations.permissions import may, require
from apps.projects.models import Project
from apps.tasks.constants import ActivityVerb
from apps.tasks.models import Task, TaskComment

from .activity import EventData, _audience, _emit, _record
from .rules import (
    _require_may_see,
    _require_writable,
    _roles_of_members,
)

#: ``@[<user uuid>]`` in a comment body mentions that user.
MENTION_RE: Final = re.compile(r"@\[([0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})\]")


def mentions_in(body: str) -> list[uuid.UUID]:
    """User ids mentioned as ``@[<uuid>]`` in ``body``, first-mention order,
    without duplicates. Anything else that looks like ``@name`` is plain text."""
    return list(dict.fromkeys(uuid.UUID(m) for m in MENTION_RE.findall(body)))


def _comment_data(comment: TaskComment) -> EventData:
    return {
        "id": str(comment.pk),
        "task": str(comment.task_id),
        "author": str(comment.author_id),
        "body": comment.body,
        "mentions": [str(u) for u in comment.mentions],
    }


def _emit_mentions(actor: Membership, comment: TaskComment, user_ids: Iterable[uuid.UUID]) -> None:
    """``task.mention``/``created`` to each newly mentioned user (not the author)."""
    targets = [u for u in user_ids if u != actor.user_id]
    if targets:
        data = {
            "task": str(comment.task_id),
            "comment": str(comment.pk),
            "author": str(actor.user_id),
        }
        _emit("created", data, targets, type="task.mention")


def _checked_mentions(actor: Membership, project: Project, body: str) -> list[uuid.UUID]:
    mentioned = mentions_in(body)
    roles = _roles_of_members(actor, mentioned, field="body")
    _require_may_see(project, roles, field="body")
    return mentioned


def _locked_comment(comment_id: uuid.UUID) -> TaskComment:
    """The alive comment, row locked, with its task and project; else 404."""
    comment = (
        TaskComment.objects.select_for_update(of=("self",))
        .select_related("task__project")
        .filter(pk=comment_id)
        .first()
    )
    if comment is None:
        raise Http404("No such comment.")
    return comment


def task_comment_create(*, actor: Membership, task: Task, body: str) -> TaskComment:
    """Comment on a visible task (members+). Mentions are parsed from ``body``
    (``@[<user id>]``) and must be members who can see the task.

    Activity: ``commented`` ``{"comment": [null, id]}``. Events:
    ``task.comment``/``created``; ``task.mention``/``created`` to the mentioned.
    """
    require(actor, "tasks.contribute")
    with transaction.atomic():
        project = Project.objects.get(pk=task.project_id)
        _require_writable(project)
        mentioned = _checked_mentions(actor, project, body)
        now = timezone.now()
        comment = TaskComment.objects.create(
            task_id=task.pk, author_id=actor.user_id, body=body, mentions=mentioned, created_at=now
        )
        _record(task.pk, actor, ActivityVerb.COMMENTED, {"comment": (None, comment.pk)}, now)
        _emit("created", _comment_data(comment), _audience(actor, project), type="task.comment")
        _emit_mentions(actor, comment, mentioned)
    return comment


def task_comment_update(*, actor: Membership, comment: TaskComment, body: str) -> TaskComment:
    """Edit a comment (its author only). Newly mentioned users are notified.

    Activity: ``commented`` ``{"comment": [id, id], "body": [old, new]}``.
    """
    require(actor, "tasks.contribute")
    if comment.author_id != actor.user_id:
        raise PermissionDeniedError("Only the author can edit a comment.", code="not_author")
    with transaction.atomic():
        comment = _locked_comment(comment.pk)
        project = comment.task.project
        _require_writable(project)
        if body == comment.body:
            return comment
        mentioned = _checked_mentions(actor, project, body)
        newly = [u for u in mentioned if u not in set(comment.mentions)]
        old_body, now = comment.body, timezone.now()
        comment.body, comment.mentions, comment.updated_at = body, mentioned, now
        comment.save(update_fields=["body", "mentions", "updated_at"])
        changes = {"comment": (comment.pk, comment.pk), "body": (old_body, body)}
        _record(comment.task_id, actor, ActivityVerb.COMMENTED, changes, now)
        _emit("updated", _comment_data(comment), _audience(actor, project), type="task.comment")
        _emit_mentions(actor, comment, newly)
    return comment


def task_comment_delete(*, actor: Membership, comment: TaskComment) -> None:
    """Soft-delete a comment: its author, or an admin+ (moderation).

    Activity: ``commented`` ``{"comment": [id, null]}``.
    """
    require(actor, "tasks.contribute")
    if comment.author_id != actor.user_id and not may(actor, "comments.moderate"):
        raise PermissionDeniedError(
            "Only the author or an admin can delete a comment.", code="not_author"
        )
    with transaction.atomic():
        comment = _locked_comment(comment.pk)
        project = comment.task.project
        _require_writable(project)
        now = timezone.now()
        TaskComment.objects.filter(pk=comment.pk).update(deleted_at=now, updated_at=now)
        _record(
            comment.task_id,
            actor,
            ActivityVerb.COMMENTED,
            {"comment": (comment.pk, None)},
            now,
        )
        _emit(
            "deleted",
            {"id": str(comment.pk), "task": str(comment.task_id)},
            _audience(actor, project),
            type="task.comment",
        )
