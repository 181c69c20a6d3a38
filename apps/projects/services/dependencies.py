"""Dependencies between projects (finish-to-start), without cycles."""

from __future__ import annotations

from django.db import transaction

from apps.common.errors import ConflictError, field_error
from apps.websocket_server.events import send_event_on_commit
from tenants.locks import tenant_xact_lock

from .. import selectors
from ..models import Project, ProjectDependency
from .checks import _locked
from .events import EVENT_DEPENDENCY, _audience


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
