"""Manual order of tasks: ``position`` is a float, new tasks go last, a move
takes the midpoint between two neighbours and renumbers when none is left."""

from __future__ import annotations

import math
import uuid
from typing import Final

from django.core.exceptions import ValidationError
from django.db.models import Max, Min

from apps.tasks.models import Task

#: Gap between positions of consecutive tasks when appending or renumbering.
POSITION_STEP: Final = 1024.0
#: Closer than this, two positions have no room left between them: renumber.
POSITION_EPSILON: Final = 1e-6


def _check_position(position: float) -> None:
    if not math.isfinite(position):
        raise ValidationError({"position": ValidationError("Must be a finite number.")})


def _append_position(project_id: uuid.UUID) -> float:
    top = Task.all_objects.filter(project_id=project_id).aggregate(m=Max("position"))["m"]
    return (top or 0.0) + POSITION_STEP


def _position_next_to(task: Task, anchor: Task, *, before: bool) -> float:
    for _ in range(2):
        anchor.refresh_from_db(fields=["position"])
        siblings = Task.objects.filter(project_id=anchor.project_id).exclude(pk=task.pk)
        if before:
            neighbour = siblings.filter(position__lt=anchor.position).aggregate(m=Max("position"))[
                "m"
            ]
            fallback = anchor.position - POSITION_STEP
        else:
            neighbour = siblings.filter(position__gt=anchor.position).aggregate(m=Min("position"))[
                "m"
            ]
            fallback = anchor.position + POSITION_STEP
        if neighbour is None:
            return fallback
        if abs(neighbour - anchor.position) > POSITION_EPSILON:
            return (neighbour + anchor.position) / 2
        _renumber(anchor.project_id)
    raise AssertionError("renumbering always leaves room")  # pragma: no cover


def _renumber(project_id: uuid.UUID) -> None:
    """Spread the project's alive tasks ``POSITION_STEP`` apart, same order."""
    ordered = list(
        Task.objects.select_for_update()
        .filter(project_id=project_id)
        .order_by("position", "created_at", "id")
        .values_list("pk", flat=True)
    )
    rows = [Task(pk=pk, position=(i + 1) * POSITION_STEP) for i, pk in enumerate(ordered)]
    Task.objects.bulk_update(rows, ["position"], batch_size=500)
