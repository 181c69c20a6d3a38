"""Milestones: dated checkpoints of a project."""

from __future__ import annotations

import datetime
from collections.abc import Mapping

from django.db import transaction
from django.utils import timezone

from apps.websocket_server.events import send_event_on_commit

from ..models import Milestone, Project
from .checks import _locked
from .events import EVENT_MILESTONE, _audience


def _milestone_event(milestone: Milestone, op: str) -> None:
    send_event_on_commit(
        type=EVENT_MILESTONE,
        op=op,
        data={
            "id": milestone.pk,
            "project": milestone.project_id,
            "name": milestone.name,
            "due_date": milestone.due_date,
            "completed_at": milestone.completed_at,
        },
        user_ids=_audience(milestone.project),
    )


@transaction.atomic
def milestone_create(
    *, project: Project, name: str, due_date: datetime.date, completed: bool = False
) -> Milestone:
    """A dated checkpoint; ``completed`` stamps ``completed_at`` with now."""
    milestone = Milestone.objects.create(
        project=project,
        name=name,
        due_date=due_date,
        completed_at=timezone.now() if completed else None,
    )
    _milestone_event(milestone, "created")
    return milestone


@transaction.atomic
def milestone_update(*, milestone: Milestone, data: Mapping[str, object]) -> Milestone:
    """Rename, move or (un)complete a milestone.

    ``completed: true`` keeps the first completion time when repeated, so the
    date a milestone was reached is not rewritten by a second click.
    """
    milestone = _locked(Milestone.objects.select_related("project"), milestone.pk)
    changed = [f for f in ("name", "due_date") if f in data]
    for field in changed:
        setattr(milestone, field, data[field])
    if "completed" in data:
        if not data["completed"]:
            milestone.completed_at = None
        elif milestone.completed_at is None:
            milestone.completed_at = timezone.now()
        changed.append("completed_at")
    milestone.save(update_fields=[*changed, "updated_at"])
    _milestone_event(milestone, "updated")
    return milestone


@transaction.atomic
def milestone_delete(*, milestone: Milestone) -> None:
    milestone = _locked(Milestone.objects.select_related("project"), milestone.pk)
    _milestone_event(milestone, "deleted")
    milestone.delete()
