"""Clients, projects, project members, milestones, dependencies and the timeline
on the organization host.

Thin by design: a view validates input, calls one service (writes) or selector
(reads) from ``apps.projects`` and serializes the result. Reading needs
``projects.view`` (every role), writing ``projects.manage`` (managers and
above); which projects a caller sees comes from ``selectors`` (a private
project the caller may not see is a 404, like an unknown id). Each operation
documents the error codes it answers (``error_responses``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast
from uuid import UUID

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from apps.common.openapi import (
    INPUT_ERRORS,
    MEMBER_ERRORS,
    PAGE_ERRORS,
    WRITE_ERRORS,
    error_responses,
)
from apps.common.serializers import bound_instance
from apps.organizations.models import Membership
from apps.organizations.permissions import (
    IsOrganizationMember,
    request_membership,
    required_membership,
)
from apps.projects import selectors, services
from apps.projects.filters import ClientFilter, ProjectFilter
from apps.projects.models import Client, Milestone, Project, ProjectDependency, ProjectMember
from apps.projects.permissions import may_view_rates
from tenants.db import request_tenant

from .serializers import (
    ClientSerializer,
    MilestoneInputSerializer,
    MilestoneSerializer,
    ProjectDependencyCreateSerializer,
    ProjectDependencySerializer,
    ProjectMemberCreateSerializer,
    ProjectMemberSerializer,
    ProjectMemberUpdateSerializer,
    ProjectSerializer,
    TimelineRowSerializer,
)


def _docs(
    serializer: type[BaseSerializer[Any]],
    *,
    create: tuple[str, ...] = (),
    update: tuple[str, ...] = (),
    destroy: tuple[str, ...] = (),
    input_errors: tuple[str, ...] = INPUT_ERRORS,
    only: tuple[str, ...] = ("list", "retrieve", "create", "partial_update", "destroy"),
) -> dict[str, Any]:
    """``extend_schema_view`` arguments for the viewset actions in ``only``
    (those without an ``extend_schema`` of their own): the codes every one of
    them answers plus each operation's own."""
    docs = {
        "list": extend_schema(
            responses={200: serializer(many=True), **error_responses(*PAGE_ERRORS, *MEMBER_ERRORS)}
        ),
        "retrieve": extend_schema(
            responses={200: serializer, **error_responses(*MEMBER_ERRORS, "not_found")}
        ),
        "create": extend_schema(
            responses={201: serializer, **error_responses(*input_errors, *WRITE_ERRORS, *create)}
        ),
        "partial_update": extend_schema(
            responses={
                200: serializer,
                **error_responses(*input_errors, *WRITE_ERRORS, "not_found", *update),
            }
        ),
        "destroy": extend_schema(
            responses={204: None, **error_responses(*WRITE_ERRORS, "not_found", *destroy)}
        ),
    }
    return {action: docs[action] for action in only}


class ProjectsAPIMixin(GenericAPIView):
    """Permissions and serializer context shared by every view here."""

    permission_classes = [IsOrganizationMember]
    read_permission = "projects.view"
    write_permission = "projects.manage"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    @property
    def actor(self) -> Membership:
        """The caller's membership (``IsOrganizationMember`` requires one)."""
        return required_membership(self.request)

    def get_serializer_context(self) -> dict[str, object]:
        return {
            **super().get_serializer_context(),
            # No membership only while the OpenAPI generator inspects the view.
            "can_view_rates": may_view_rates(request_membership(self.request)),
            "currency": getattr(request_tenant(self.request), "currency", ""),
        }


# --- clients ------------------------------------------------------------------------


@extend_schema_view(
    **_docs(
        ClientSerializer,
        create=("name_taken",),
        update=("name_taken", "currency_in_use"),
        destroy=("client_in_use",),
    )
)
class ClientViewSet(
    ProjectsAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Clients of the organization. DELETE is a soft delete (409 while live
    projects belong to the client); ``restore`` brings one back."""

    serializer_class = ClientSerializer
    filterset_class = ClientFilter
    queryset = Client.objects.none()  # for the schema generator; see get_queryset
    lookup_value_converter = "uuid"  # a malformed id is a 404, typed in OpenAPI

    def get_queryset(self) -> QuerySet[Client]:
        return selectors.client_list(with_deleted=self.action == "list")

    def perform_create(self, serializer: BaseSerializer[Client]) -> None:
        serializer.instance = services.client_create(**serializer.validated_data)

    def perform_update(self, serializer: BaseSerializer[Client]) -> None:
        serializer.instance = services.client_update(
            client=bound_instance(serializer), data=serializer.validated_data
        )

    def perform_destroy(self, instance: Client) -> None:
        services.client_delete(client=instance)

    @extend_schema(
        request=None,
        responses={
            200: ClientSerializer,
            **error_responses(*INPUT_ERRORS, *WRITE_ERRORS, "not_found", "name_taken"),
        },
    )
    @action(detail=True, methods=["post"])
    def restore(self, request: Request, pk: UUID) -> Response:
        client = selectors.client_get(client_id=pk, with_deleted=True)
        return Response(self.get_serializer(services.client_restore(client=client)).data)


# --- projects -----------------------------------------------------------------------


@extend_schema_view(
    **_docs(
        ProjectSerializer,
        input_errors=(*INPUT_ERRORS, "does_not_exist"),
        create=("plan_limit_reached", "name_taken"),
        update=("name_taken", "currency_in_use"),
    )
)
class ProjectViewSet(
    ProjectsAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Projects the caller may see. DELETE is a soft delete; ``restore`` brings
    one back; ``timeline`` gives the dates implied by dependencies."""

    serializer_class = ProjectSerializer
    filterset_class = ProjectFilter
    queryset = Project.objects.none()  # for the schema generator; see get_queryset
    lookup_value_converter = "uuid"  # a malformed id is a 404, typed in OpenAPI

    def get_queryset(self) -> QuerySet[Project]:
        return selectors.project_list(actor=self.actor, with_deleted=self.action == "list")

    @property
    def budget_spent(self) -> selectors.BudgetSpentLookup:
        if not hasattr(self, "_budget_spent"):
            self._budget_spent = selectors.BudgetSpentLookup()
        return self._budget_spent

    def get_serializer_context(self) -> dict[str, object]:
        return {**super().get_serializer_context(), "budget_spent": self.budget_spent}

    def get_serializer(self, *args: Any, **kwargs: Any) -> BaseSerializer[Project]:
        """A page of projects gets its budget consumption in one query."""
        if args and kwargs.get("many"):
            projects = list(args[0])
            self.budget_spent.prefetch(projects)
            args = (projects, *args[1:])
        return super().get_serializer(*args, **kwargs)

    def perform_create(self, serializer: BaseSerializer[Project]) -> None:
        serializer.instance = services.project_create(
            created_by_id=self.request.user.pk, **serializer.validated_data
        )

    def perform_update(self, serializer: BaseSerializer[Project]) -> None:
        serializer.instance = services.project_update(
            project=bound_instance(serializer), data=serializer.validated_data
        )

    def perform_destroy(self, instance: Project) -> None:
        services.project_delete(project=instance)

    @extend_schema(
        request=None,
        responses={
            200: ProjectSerializer,
            **error_responses(
                *INPUT_ERRORS, *WRITE_ERRORS, "not_found", "name_taken", "client_deleted"
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def restore(self, request: Request, pk: UUID) -> Response:
        project = selectors.project_get_for_restore(actor=self.actor, project_id=pk)
        return Response(self.get_serializer(services.project_restore(project=project)).data)

    @extend_schema(
        responses={
            200: TimelineRowSerializer(many=True),
            **error_responses(*PAGE_ERRORS, *MEMBER_ERRORS),
        }
    )
    @action(
        detail=False,
        methods=["get"],
        filter_backends=[],
        serializer_class=TimelineRowSerializer,
    )
    def timeline(self, request: Request) -> Response:
        # Dates depend on the whole graph, so list filters do not apply here.
        rows = selectors.project_timeline(actor=self.actor)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(TimelineRowSerializer(page, many=True).data)


# --- things inside a project ----------------------------------------------------------


class ProjectChildViewSet(ProjectsAPIMixin, viewsets.GenericViewSet):
    """Base for ``/projects/{project_id}/...``: the project must be live and
    visible to the caller (else 404), whatever the method."""

    kwargs: dict[str, UUID]  # project_id and pk, through the uuid converter

    def get_project(self) -> Project:
        if not hasattr(self, "_project"):
            self._project = selectors.project_get_for_member(
                actor=self.actor, project_id=self.kwargs["project_id"]
            )
        return self._project


@extend_schema_view(**_docs(ProjectMemberSerializer, only=("list", "retrieve", "destroy")))
class ProjectMemberViewSet(ProjectChildViewSet):
    """``/projects/{project_id}/members/``: who works on the project, with a
    project role and an optional rate override (shown to ``rates.view`` only)."""

    serializer_class = ProjectMemberSerializer
    queryset = ProjectMember.objects.none()  # for the schema generator

    def get_queryset(self) -> QuerySet[ProjectMember]:
        return selectors.project_member_list(project=self.get_project())

    def get_object(self) -> ProjectMember:
        return selectors.project_member_get(project=self.get_project(), member_id=self.kwargs["pk"])

    def _data(self, members: Sequence[ProjectMember]) -> list[dict[str, Any]]:
        """Serialize with the users of these members fetched in one query."""
        users = selectors.users_by_id(user_ids=[m.user_id for m in members])
        context = {**self.get_serializer_context(), "users": users}
        # many=True makes a ListSerializer, whose data is a list (the stubs
        # type every Serializer's data as one dict).
        return cast(
            "list[dict[str, Any]]",
            ProjectMemberSerializer(members, many=True, context=context).data,
        )

    def list(self, request: Request, *args: object, **kwargs: object) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        if page is None:  # only without a pagination_class
            raise TypeError("ProjectMemberViewSet must paginate")
        return self.get_paginated_response(self._data(page))

    def retrieve(self, request: Request, *args: object, **kwargs: object) -> Response:
        return Response(self._data([self.get_object()])[0])

    @extend_schema(
        request=ProjectMemberCreateSerializer,
        responses={
            201: ProjectMemberSerializer,
            **error_responses(
                *INPUT_ERRORS,
                "not_an_organization_member",
                *WRITE_ERRORS,
                "not_found",
                "member_exists",
            ),
        },
    )
    def create(self, request: Request, *args: object, **kwargs: object) -> Response:
        body = ProjectMemberCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        member = services.project_member_add(
            project=self.get_project(),
            user_id=data["user"],
            role=data["role"],
            hourly_rate=data.get("hourly_rate"),
        )
        return Response(self._data([member])[0], status=status.HTTP_201_CREATED)

    @extend_schema(
        request=ProjectMemberUpdateSerializer,
        responses={
            200: ProjectMemberSerializer,
            **error_responses(*INPUT_ERRORS, *WRITE_ERRORS, "not_found"),
        },
    )
    def partial_update(self, request: Request, *args: object, **kwargs: object) -> Response:
        member = self.get_object()
        body = ProjectMemberUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        member = services.project_member_update(member=member, data=body.validated_data)
        return Response(self._data([member])[0])

    def destroy(self, request: Request, *args: object, **kwargs: object) -> Response:
        services.project_member_remove(member=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(**_docs(MilestoneSerializer, only=("list", "retrieve", "destroy")))
class MilestoneViewSet(ProjectChildViewSet):
    """``/projects/{project_id}/milestones/``: dated checkpoints."""

    serializer_class = MilestoneSerializer
    queryset = Milestone.objects.none()  # for the schema generator

    def get_queryset(self) -> QuerySet[Milestone]:
        return selectors.milestone_list(project=self.get_project())

    def get_object(self) -> Milestone:
        return selectors.milestone_get(project=self.get_project(), milestone_id=self.kwargs["pk"])

    def list(self, request: Request, *args: object, **kwargs: object) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, *args: object, **kwargs: object) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        request=MilestoneInputSerializer,
        responses={
            201: MilestoneSerializer,
            **error_responses(*INPUT_ERRORS, *WRITE_ERRORS, "not_found"),
        },
    )
    def create(self, request: Request, *args: object, **kwargs: object) -> Response:
        body = MilestoneInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        milestone = services.milestone_create(project=self.get_project(), **body.validated_data)
        return Response(self.get_serializer(milestone).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=MilestoneInputSerializer,
        responses={
            200: MilestoneSerializer,
            **error_responses(*INPUT_ERRORS, *WRITE_ERRORS, "not_found"),
        },
    )
    def partial_update(self, request: Request, *args: object, **kwargs: object) -> Response:
        milestone = self.get_object()
        body = MilestoneInputSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        milestone = services.milestone_update(milestone=milestone, data=body.validated_data)
        return Response(self.get_serializer(milestone).data)

    def destroy(self, request: Request, *args: object, **kwargs: object) -> Response:
        services.milestone_delete(milestone=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(**_docs(ProjectDependencySerializer, only=("list", "destroy")))
class ProjectDependencyViewSet(ProjectChildViewSet):
    """``/projects/{project_id}/dependencies/``: what the project waits for
    (finish-to-start). Cycles are refused with 409 ``dependency_cycle``."""

    serializer_class = ProjectDependencySerializer
    queryset = ProjectDependency.objects.none()  # for the schema generator

    def get_queryset(self) -> QuerySet[ProjectDependency]:
        return selectors.project_dependency_list(project=self.get_project())

    def get_object(self) -> ProjectDependency:
        return selectors.project_dependency_get(
            project=self.get_project(), dependency_id=self.kwargs["pk"]
        )

    def list(self, request: Request, *args: object, **kwargs: object) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        request=ProjectDependencyCreateSerializer,
        responses={
            201: ProjectDependencySerializer,
            **error_responses(
                *INPUT_ERRORS,
                "dependency_self",
                *WRITE_ERRORS,
                "not_found",
                "dependency_exists",
                "dependency_cycle",
            ),
        },
    )
    def create(self, request: Request, *args: object, **kwargs: object) -> Response:
        project = self.get_project()
        visible = selectors.projects_visible_to(actor=self.actor)
        body = ProjectDependencyCreateSerializer(
            data=request.data, context={"visible_projects": visible}
        )
        body.is_valid(raise_exception=True)
        dependency = services.project_dependency_create(
            project=project, depends_on=body.validated_data["depends_on"]
        )
        return Response(self.get_serializer(dependency).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, *args: object, **kwargs: object) -> Response:
        services.project_dependency_delete(dependency=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
