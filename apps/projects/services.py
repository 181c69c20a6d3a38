"""Writes for clients, projects, project members, milestones and dependencies.

Every function is one transaction: it checks what the database cannot hold
(or should not be the one to refuse: a failed CHECK or unique index surfaces
as an ``IntegrityError``, i.e. a 500), writes, and queues one realtime event
for after the commit. A refused call raises :class:`ApplicationError` (400
with ``fields``) or :class:`ConflictError` (409) and writes nothing.

Users are referred to by ``user_id`` (they live in the public schema). The
organization a user must belong to is the one whose schema the connection
is on: deriving it from the connection (rather than taking it as an argument)
means the check can never be made against another organization than the one
being written to.

Events (``type`` / ``op``), data without rates (the audience is wider than
those who may see rates):

- ``client``: created, updated, deleted, restored
- ``project``: created, updated, deleted, restored
- ``project.member``: created, updated, deleted
- ``project.milestone``: created, updated, deleted
- ``project.dependency``: created, deleted

Events about a private project go only to its members and to the roles that
see every project; everything else goes to the whole organization.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from apps.billing.limits import check_limit
from apps.common.errors import ApplicationError, ConflictError, field_error
from apps.organizations.constants import MembershipStatus, Role
from apps.organizations.models import Membership
from apps.organizations.permissions import role_has
from apps.time_entries.money import client_currency, refuse_currency_change
from apps.websocket_server.events import send_event_on_commit
from tenants.db import current_tenant
from tenants.locks import tenant_xact_lock

from . import selectors
from .constants import ProjectRole, ProjectStatus
from .models import Client, Milestone, Project, ProjectDependency, ProjectMember

EVENT_CLIENT = "client"
EVENT_PROJECT = "project"
EVENT_PROJECT_MEMBER = "project.member"
EVENT_MILESTONE = "project.milestone"
EVENT_DEPENDENCY = "project.dependency"

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
CLIENT_FIELDS = ("name", "contact_email", "notes", "currency", "is_archived")
PROJECT_MEMBER_FIELDS = ("role", "hourly_rate")

#: Organization roles that see every project (and so every project's events).
_ROLES_SEEING_ALL = tuple(role for role in Role if role_has(role, "projects.manage"))


# --- helpers ------------------------------------------------------------------------


def _locked(queryset: QuerySet[Any], pk: Any) -> Any:
    """The row, locked until commit (only its own table: nullable joins cannot
    be locked); 404 when it vanished meanwhile."""
    obj = queryset.select_for_update(of=("self",)).filter(pk=pk).first()
    if obj is None:
        raise Http404("No such object.")
    return obj


def _organization_id() -> Any:
    """The organization whose schema this connection writes to."""
    return getattr(current_tenant(), "pk", None)


def _organization_currency() -> str:
    return str(getattr(current_tenant(), "currency", "") or "")


def _client_currency(client: Client | None) -> str:
    """The currency of amounts of a project with ``client`` (money's one rule)."""
    return client_currency(client, default=_organization_currency())


def _check_dates(start: datetime.date | None, end: datetime.date | None) -> None:
    if start is not None and end is not None and end < start:
        raise field_error("end_date", "The end date is before the start date.")


def _check_not_negative(values: Mapping[str, Decimal | None]) -> None:
    for field, value in values.items():
        if value is not None and value < 0:
            raise field_error(field, "Must be zero or more.")


def _audience(project: Project, *, also: Iterable[Any] = (), was_private: bool = True) -> Any:
    """Who may receive events about ``project``: ``None`` (the organization)
    for a public project, else its members and the roles that see all.

    ``was_private=False`` widens the audience when a public project just
    turned private, so that everyone who had it learns of the change.
    """
    if not (project.is_private and was_private):
        return None
    members = ProjectMember.objects.filter(project=project).values_list("user_id", flat=True)
    seeing_all = Membership.objects.filter(
        organization_id=_organization_id(),
        status=MembershipStatus.ACTIVE,
        role__in=_ROLES_SEEING_ALL,
    ).values_list("user_id", flat=True)
    return sorted({str(uid) for uid in (*members, *seeing_all, *also)})


def _project_event_data(project: Project) -> dict[str, Any]:
    return {
        "id": project.pk,
        "name": project.name,
        "code": project.code,
        "client": project.client_id,
        "status": project.status,
        "is_archived": project.status == ProjectStatus.ARCHIVED,
        "is_private": project.is_private,
        "color": project.color,
        "start_date": project.start_date,
        "end_date": project.end_date,
        "deleted_at": project.deleted_at,
    }


def _client_event_data(client: Client) -> dict[str, Any]:
    return {
        "id": client.pk,
        "name": client.name,
        "is_archived": client.is_archived,
        "deleted_at": client.deleted_at,
    }


def _emit_project(project: Project, op: str, **audience: Any) -> None:
    send_event_on_commit(
        type=EVENT_PROJECT,
        op=op,
        data=_project_event_data(project),
        user_ids=_audience(project, **audience),
    )


def _lock_client(client: Client | None) -> None:
    """Lock a client row so that assigning it and deleting it serialise; a
    client deleted meanwhile is refused as unknown."""
    if client is None:
        return
    if not Client.objects.select_for_update().filter(pk=client.pk).exists():
        raise field_error("client", "No such client.", code="does_not_exist")


def _save_unique(
    obj: Any, *, constraint: str, error: Callable[[], ApplicationError], **save_kwargs: Any
) -> None:
    """Save, turning a lost race on the unique ``constraint`` into the same 400
    the service's own check gives (never an IntegrityError 500)."""
    try:
        with transaction.atomic():
            obj.save(**save_kwargs)
    except IntegrityError as exc:
        if constraint in str(exc):
            raise error() from exc
        raise


def _save_project(project: Project, **save_kwargs: Any) -> None:
    _save_unique(
        project,
        constraint="projects_project_name_unique_alive",
        error=_name_taken_error,
        **save_kwargs,
    )


def _name_taken_error() -> ApplicationError:
    return field_error(
        "name", "A project with this name already exists for this client.", code="name_taken"
    )


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


def _rates_changed(*, project_id: Any, user_id: Any | None = None) -> None:
    """Time entries snapshot rates: queue the recompute of the affected ones
    (after commit; apps.time_entries skips entries in locked timesheets)."""
    from apps.time_entries.services import enqueue_rate_recompute

    enqueue_rate_recompute(project_id=project_id, user_id=user_id)


# --- clients ------------------------------------------------------------------------


def _client_name_taken_error() -> ApplicationError:
    return field_error("name", "A client with this name already exists.", code="name_taken")


def _check_client(client: Client) -> None:
    if selectors.client_name_taken(name=client.name, exclude_id=client.pk):
        raise _client_name_taken_error()


def _save_client(client: Client, **save_kwargs: Any) -> None:
    _save_unique(
        client,
        constraint="projects_client_name_unique_alive",
        error=_client_name_taken_error,
        **save_kwargs,
    )


@transaction.atomic
def client_create(
    *,
    name: str,
    contact_email: str = "",
    notes: str = "",
    currency: str = "",
    is_archived: bool = False,
) -> Client:
    """A new client; its name is unique (any case) among live clients."""
    client = Client(
        name=name,
        contact_email=contact_email,
        notes=notes,
        currency=currency.upper(),
        is_archived=is_archived,
    )
    _check_client(client)
    _save_client(client)
    send_event_on_commit(type=EVENT_CLIENT, op="created", data=_client_event_data(client))
    return client


@transaction.atomic
def client_update(*, client: Client, data: Mapping[str, Any]) -> Client:
    """Change the given fields (a partial update); archiving is ``is_archived``.

    409 ``currency_in_use`` when the currency change would relabel priced
    entries of its projects (``money.refuse_currency_change``)."""
    client = _locked(Client.objects.all(), client.pk)
    old_currency = _client_currency(client)
    changed = [f for f in CLIENT_FIELDS if f in data]
    for field in changed:
        setattr(client, field, data[field])
    client.currency = client.currency.upper()
    refuse_currency_change(
        old=old_currency,
        new=_client_currency(client),
        entries=Q(project__client_id=client.pk),
        what="Changing this client's currency",
        field="currency",
    )
    _check_client(client)
    _save_client(client, update_fields=[*changed, "updated_at"])
    send_event_on_commit(type=EVENT_CLIENT, op="updated", data=_client_event_data(client))
    return client


@transaction.atomic
def client_delete(*, client: Client) -> None:
    """Soft delete. Refused (409 ``client_in_use``) while live projects belong to
    the client: they would point at a client nobody can see or pick."""
    client = _locked(Client.objects.all(), client.pk)
    if Project.objects.filter(client=client).exists():
        raise ConflictError(
            "This client still has projects: move, or delete, them first.",
            code="client_in_use",
        )
    client.soft_delete()
    send_event_on_commit(type=EVENT_CLIENT, op="deleted", data=_client_event_data(client))


@transaction.atomic
def client_restore(*, client: Client) -> Client:
    """Bring a soft-deleted client back (a live one is returned unchanged).

    409 ``name_taken`` when a live client took its name meanwhile.
    """
    client = _locked(Client.all_objects.all(), client.pk)
    if client.deleted_at is None:
        return client
    if selectors.client_name_taken(name=client.name, exclude_id=client.pk):
        raise ConflictError("Another client has this name now: rename it first.", code="name_taken")
    client.restore()
    send_event_on_commit(type=EVENT_CLIENT, op="restored", data=_client_event_data(client))
    return client


# --- projects -----------------------------------------------------------------------


@transaction.atomic
def project_create(
    *,
    created_by_id: Any,
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
    budget or rate, a name taken for the same client, or a deleted client)."""
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


# --- project members ------------------------------------------------------------------


def _member_event(member: ProjectMember, op: str, *, also: Iterable[Any] = ()) -> None:
    send_event_on_commit(
        type=EVENT_PROJECT_MEMBER,
        op=op,
        data={
            "id": member.pk,
            "project": member.project_id,
            "user": member.user_id,
            "role": member.role,
        },
        user_ids=_audience(member.project, also=also),
    )


@transaction.atomic
def project_member_add(
    *,
    project: Project,
    user_id: Any,
    role: str = ProjectRole.MEMBER,
    hourly_rate: Decimal | None = None,
) -> ProjectMember:
    """Add an active member of the organization to ``project``.

    400 ``not_an_organization_member`` for anyone else (unknown users, other
    organizations' users, deactivated members); 409 ``member_exists`` when
    they are already in the project.
    """
    is_member = Membership.objects.filter(
        organization_id=_organization_id(), user_id=user_id, status=MembershipStatus.ACTIVE
    ).exists()
    if not is_member:
        raise field_error(
            "user",
            "This user is not an active member of the organization.",
            code="not_an_organization_member",
        )
    _check_not_negative({"hourly_rate": hourly_rate})
    member = ProjectMember(project=project, user_id=user_id, role=role, hourly_rate=hourly_rate)
    try:
        with transaction.atomic():
            member.save()
    except IntegrityError as exc:
        if "projects_member_unique" in str(exc):
            raise ConflictError(
                "This user is already a member of the project.", code="member_exists"
            ) from exc
        raise
    _member_event(member, "created", also=[user_id])
    if hourly_rate is not None:
        _rates_changed(project_id=project.pk, user_id=user_id)
    return member


@transaction.atomic
def project_member_update(*, member: ProjectMember, data: Mapping[str, Any]) -> ProjectMember:
    """Change a member's project role and/or rate override."""
    member = _locked(ProjectMember.objects.select_related("project"), member.pk)
    old_rate = member.hourly_rate
    changed = [f for f in PROJECT_MEMBER_FIELDS if f in data]
    for field in changed:
        setattr(member, field, data[field])
    _check_not_negative({"hourly_rate": member.hourly_rate})
    member.save(update_fields=changed)
    _member_event(member, "updated")
    if member.hourly_rate != old_rate:
        _rates_changed(project_id=member.project_id, user_id=member.user_id)
    return member


@transaction.atomic
def project_member_remove(*, member: ProjectMember) -> None:
    """Remove someone from a project (the removed user hears of it too: a
    private project leaves their lists)."""
    member = _locked(ProjectMember.objects.select_related("project"), member.pk)
    _member_event(member, "deleted", also=[member.user_id])
    if member.hourly_rate is not None:
        _rates_changed(project_id=member.project_id, user_id=member.user_id)
    member.delete()


# --- milestones ---------------------------------------------------------------------


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
def milestone_update(*, milestone: Milestone, data: Mapping[str, Any]) -> Milestone:
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


# --- dependencies -------------------------------------------------------------------


def _dependency_event(dependency: ProjectDependency, op: str) -> None:
    send_event_on_commit(
        type=EVENT_DEPENDENCY,
        op=op,
        data={
            "id": dependency.pk,
            "project": dependency.project_id,
            "depends_on": dependency.depends_on_id,
        },
        user_ids=_audience(dependency.project),
    )


@transaction.atomic
def project_dependency_create(*, project: Project, depends_on: Project) -> ProjectDependency:
    """``project`` may start only once ``depends_on`` has finished.

    400 ``dependency_self`` for a project on itself; 409 ``dependency_exists``
    for a link already there; 409 ``dependency_cycle`` when ``depends_on``
    already waits for ``project`` (directly or through others).
    """
    if project.pk == depends_on.pk:
        raise field_error(
            "depends_on", "A project cannot depend on itself.", code="dependency_self"
        )
    # Two links added at once (A→B, B→A) would each pass the cycle check alone.
    tenant_xact_lock("projects.dependencies")
    existing = ProjectDependency.objects.filter(project=project, depends_on=depends_on).first()
    if existing is not None:
        raise ConflictError(
            "This dependency already exists.",
            code="dependency_exists",
            extra={"dependency": str(existing.pk)},
        )
    if selectors.project_dependency_would_cycle(project_id=project.pk, depends_on_id=depends_on.pk):
        raise ConflictError(
            f"“{depends_on.name}” already depends on “{project.name}” (directly or through "
            "other projects): this link would create a cycle.",
            code="dependency_cycle",
        )
    dependency = ProjectDependency.objects.create(project=project, depends_on=depends_on)
    _dependency_event(dependency, "created")
    return dependency


@transaction.atomic
def project_dependency_delete(*, dependency: ProjectDependency) -> None:
    dependency = _locked(ProjectDependency.objects.select_related("project"), dependency.pk)
    _dependency_event(dependency, "deleted")
    dependency.delete()
