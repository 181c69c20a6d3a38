"""Project URLs on the organization host (included under ``/api/v1/``).

Clients and projects use a router, the things inside a project are spelled
out; every id in a path goes through the ``uuid`` converter, so a malformed
id is a 404 and the OpenAPI document types every path parameter as a UUID.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

if TYPE_CHECKING:
    from rest_framework.decorators import ViewSetAction

    # What ViewSetMixin.as_view() takes: method -> action name.
    _Actions = dict[str, str | ViewSetAction[Any]]

router = SimpleRouter(use_regex_path=False)
router.register("clients", views.ClientViewSet, basename="client")
router.register("projects", views.ProjectViewSet, basename="project")

_collection: _Actions = {"get": "list", "post": "create"}
_item: _Actions = {"get": "retrieve", "patch": "partial_update", "delete": "destroy"}

urlpatterns = [
    *router.urls,
    path(
        "projects/<uuid:project_id>/members/",
        views.ProjectMemberViewSet.as_view(_collection),
        name="project-member-list",
    ),
    path(
        "projects/<uuid:project_id>/members/<uuid:pk>/",
        views.ProjectMemberViewSet.as_view(_item),
        name="project-member-detail",
    ),
    path(
        "projects/<uuid:project_id>/milestones/",
        views.MilestoneViewSet.as_view(_collection),
        name="project-milestone-list",
    ),
    path(
        "projects/<uuid:project_id>/milestones/<uuid:pk>/",
        views.MilestoneViewSet.as_view(_item),
        name="project-milestone-detail",
    ),
    path(
        "projects/<uuid:project_id>/dependencies/",
        views.ProjectDependencyViewSet.as_view(_collection),
        name="project-dependency-list",
    ),
    path(
        "projects/<uuid:project_id>/dependencies/<uuid:pk>/",
        views.ProjectDependencyViewSet.as_view({"delete": "destroy"}),
        name="project-dependency-detail",
    ),
]
