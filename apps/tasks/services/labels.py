"""Organization-wide labels (managers+; names unique ignoring case)."""

from __future__ import annotations

import uuid

from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from apps.common.errors import ApplicationError
from apps.organizations.models import Membership
from apps.organizations.permissions import require
from apps.tasks.constants import ActivityVerb
from apps.tasks.models import Label, Task, TaskActivity

from .activity import EventData, _activity, _emit
from .rules import (
    UNSET,
    _Unset,
)


def _label_data(label: Label) -> EventData:
    return {"id": str(label.pk), "name": label.name, "color": label.color}


def _require_free_label_name(name: str, *, excluding: uuid.UUID | None = None) -> None:
    taken = Label.objects.annotate(lower=Lower("name")).filter(lower=name.lower())
    if excluding is not None:
        taken = taken.exclude(pk=excluding)
    if taken.exists():
        raise ApplicationError(
            f"A label named {name!r} already exists.",
            code="label_name_taken",
            extra={"fields": {"name": ["A label with this name already exists."]}},
        )


def label_create(*, actor: Membership, name: str, color: str | None = None) -> Label:
    """Create an organization-wide label (managers+; names unique ignoring case).
    Event: ``label``/``created``."""
    require(actor, "tasks.manage_all")
    try:
        with transaction.atomic():
            _require_free_label_name(name)
            label = Label.objects.create(name=name, **({"color": color} if color else {}))
            _emit("created", _label_data(label), None, type="label")
    except IntegrityError:  # a concurrent create won the unique index
        _require_free_label_name(name)
        raise
    return label


def label_update(
    *,
    actor: Membership,
    label: Label,
    name: str | _Unset = UNSET,
    color: str | _Unset = UNSET,
) -> Label:
    """Rename or recolour a label (managers+). Event: ``label``/``updated``."""
    require(actor, "tasks.manage_all")
    with transaction.atomic():
        label = Label.objects.select_for_update().get(pk=label.pk)
        fields = []
        if name is not UNSET and name != label.name:
            _require_free_label_name(name, excluding=label.pk)
            label.name = name
            fields.append("name")
        if color is not UNSET and color != label.color:
            label.color = color
            fields.append("color")
        if fields:
            label.save(update_fields=[*fields, "updated_at"])
            _emit("updated", _label_data(label), None, type="label")
    return label


def label_delete(*, actor: Membership, label: Label) -> None:
    """Delete a label (managers+); it disappears from every task, deleted ones
    included, and each of those tasks gets an ``updated`` activity row for
    ``labels``. Event: ``label``/``deleted``."""
    require(actor, "tasks.manage_all")
    with transaction.atomic():
        tasks = list(
            Task.all_objects.filter(labels=label).prefetch_related("labels").order_by("pk")
        )
        now = timezone.now()
        activities = []
        for task in tasks:
            old = {x.pk for x in task.labels.all()}
            changes = {"labels": (old, old - {label.pk})}
            activities.append(_activity(task.pk, actor, ActivityVerb.UPDATED, changes, now))
        if tasks:
            Task.all_objects.filter(pk__in=[t.pk for t in tasks]).update(updated_at=now)
        TaskActivity.objects.bulk_create(activities)
        label_id = label.pk
        Label.objects.filter(pk=label_id).delete()
        _emit("deleted", {"id": str(label_id)}, None, type="label")
