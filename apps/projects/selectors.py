"""Reads for projects, with the visibility rules of the role table.

Managers and above see every project; members and viewers see public projects
and the private ones they belong to. Everything that lists or fetches projects
(or things inside them, like tasks) goes through these functions.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404

from apps.organizations.constants import role_has

from .models import Project, ProjectMember


def sees_all_projects(membership: Any) -> bool:
    return role_has(membership.role, "projects.manage")


def visible_project_filter(membership: Any, prefix: str = "") -> Q:
    """A ``Q`` on ``<prefix>`` (e.g. ``"project__"`` for tasks) that keeps only
    projects ``membership`` may see. Built with ``EXISTS`` so it never
    multiplies rows in list queries."""
    if sees_all_projects(membership):
        return Q()
    is_member = Exists(
        ProjectMember.objects.filter(
            project_id=OuterRef(f"{prefix}id" if prefix else "id"), user_id=membership.user_id
        )
    )
    return Q(**{f"{prefix}is_private": False}) | Q(is_member)


def projects_visible_to(*, membership: Any) -> QuerySet[Project]:
    return Project.objects.filter(visible_project_filter(membership))


def project_get_for_member(*, membership: Any, project_id: Any) -> Project:
    """The project if it exists (alive) and ``membership`` may see it; else 404
    (another organization's or a hidden project look the same: unknown)."""
    project = projects_visible_to(membership=membership).filter(pk=project_id).first()
    if project is None:
        raise Http404("No such project.")
    return project
