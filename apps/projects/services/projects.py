"""Projects: create, update (archive), soft delete, restore."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import Q

from apps.billing.limits import check_limit
from apps.common.errors import ApplicationError, ConflictError, does_not_exist
from apps.time_entries.money import refuse_currency_change
from tenants.db import current_tenant

from .. import selectors
from ..constants import ProjectStatus
from ..models import Client, Project
from .checks import (
    _check_dates,
    _check_not_negative,
    _client_currency,
    _locked,
    _rates_changed,
    _save_unique,
)
from .events import _emit_project

#: Fields of a project the API may change (``project_update``).
PROJECT_FIELDS = (
    "name",
    "code",
    "client",
    "description",
    "color",
    "status",
    "start_date",
    "end_date",
    "budget_hours",
    "budget_amount",
    "hourly_rate",
    "billable",
    "is_private",
)


def _lock_client(client: Client | None) -> None:
    """Lock a client row so that assigning it and deleting it serialise; a
    client deleted meanwhile is refused as unknown."""
    if client is None:
        return
    if not Client.objects.select_for_update().filter(pk=client.pk).exists():
        raise does_not_exist("client", "client")


def _save_project(project: Project, update_fields: Sequence[str] | None = None) -> None:
    _save_unique(
        project,
        constraint="projects_project_name_unique_alive",
        error=_name_taken_error,
        update_fields=update_fields,
    )


def _name_taken_error() -> ApplicationError:
    """409 ``name_taken`` naming the field (the one status of the code, as
    on restore)."""
    message = "A project with this name already exists for this client."
    return ConflictError(message, code="name_taken", extra={"fields": {"name": [message]}})


def _check_project(project: Project) -> None:
    """The rules a project must satisfy after any create or update."""
    _check_dates(project.start_date, project.end_date)
    _check_not_negative(
        {
            "budget_hours": project.budget_hours,
            "budget_amount": project.budget_amount,
            "hourly_rate": project.hourly_rate,
        }
    )
    if selectors.project_name_taken(
        name=project.name, client_id=project.client_id, exclude_id=project.pk
    ):
        raise _name_taken_error()


@transaction.atomic
def project_create(
    *,
    created_by_id: UUID | None,
    name: str,
    client: Client | None = None,
    code: str = "",
    description: str = "",
    color: str | None = None,
    status: str = ProjectStatus.ACTIVE,
    start_date: datetime.date | None = None,
    end_date: datetime.date | None = None,
    budget_hours: Decimal | None = None,
    budget_amount: Decimal | None = None,
    hourly_rate: Decimal | None = None,
    billable: bool = True,
    is_private: bool = False,
) -> Project:
    """A new project (400 with ``fields`` for dates out of order, a negative
    budget or rate, or a deleted client: ``does_not_exist``; 409 ``name_taken``
    for a name taken for the same client)."""
    check_limit(organization_id=current_tenant().pk, limit="projects", count=Project.objects.count)
    _lock_client(client)
    project = Project(
        name=name,
        client=client,
        code=code,
        description=description,
        status=status,
        start_date=start_date,
        end_date=end_date,
        budget_hours=budget_hours,
        budget_amount=budget_amount,
        hourly_rate=hourly_rate,
        billable=billable,
        is_private=is_private,
        created_by_id=created_by_id,
    )
    if color:
        project.color = color
    _check_project(project)
    _save_project(project)
    _emit_project(project, "created")
    return project


@transaction.atomic
def project_update(*, project: Project, data: Mapping[str, Any]) -> Project:
    """Change the given fields; the rules are checked on the merged result, so
    a PATCH of ``end_date`` alone is checked against the stored ``start_date``.

    Archiving is ``status = archived``: the project stays readable and stops
    taking new time (``selectors.project_accepts_time``).
    """
    project = _locked(Project.objects.select_related("client"), project.pk)
    was_private = project.is_private
    old_rate = project.hourly_rate
    changed = [f for f in PROJECT_FIELDS if f in data]
    if "client" in data:
        _lock_client(data["client"])
        refuse_currency_change(
            old=_client_currency(project.client),
            new=_client_currency(data["client"]),
            entries=Q(project_id=project.pk),
            what="Moving this project to that client",
            field="client",
        )
    for field in changed:
        setattr(project, field, data[field])
    _check_project(project)
    _save_project(project, update_fields=[*changed, "updated_at"])
    _emit_project(project, "updated", was_private=was_private)
    if project.hourly_rate != old_rate:
        _rates_changed(project_id=project.pk)
    return project


@transaction.atomic
def project_delete(*, project: Project) -> None:
    """Soft delete: the project leaves every list and the timeline; its members,
    milestones and dependency links stay for a restore."""
    project = _locked(Project.objects.all(), project.pk)
    project.soft_delete()
    _emit_project(project, "deleted")


@transaction.atomic
def project_restore(*, project: Project) -> Project:
    """Bring a soft-deleted project back (a live one is returned unchanged).

    409 ``name_taken`` when a live project took its name for the same client,
    409 ``client_deleted`` when its client is in the trash (restore it first).
    """
    project = _locked(Project.all_objects.select_related("client"), project.pk)
    if project.deleted_at is None:
        return project
    if project.client is not None and project.client.deleted_at is not None:
        raise ConflictError(
            "The project's client is deleted: restore the client first.", code="client_deleted"
        )
    if selectors.project_name_taken(
        name=project.name, client_id=project.client_id, exclude_id=project.pk
    ):
        raise ConflictError(
            "Another project of this client has this name now: rename it first.",
            code="name_taken",
        )
    project.restore()
    _emit_project(project, "restored")
    return project
