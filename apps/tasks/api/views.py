"""Views for tasks, dependencies, comments, activity and labels.

Thin by design: validate the input, call one service or selector, serialize.
Reads are open to every member (viewers included) and limited to what the
caller may see; writes need ``tasks.contribute`` (member+: viewers get 403
``role_required`` before their input is looked at) and the finer rules (own
tasks, managers, comment authors, archived projects) are enforced by the
services, so they hold for every caller, not just the API. Each operation
documents the error codes it answers (``error_responses``).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.filters import BaseFilterBackend
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.openapi import (
    INPUT_ERRORS,
    MEMBER_ERRORS,
    PAGE_ERRORS,
    WRITE_ERRORS,
    error_responses,
)
from apps.common.pagination import UncountedPagination
from apps.organizations.models import Membership
from apps.organizations.permissions import IsOrganizationMember, required_membership
from apps.tasks import selectors
from apps.tasks.models import Label, Task, TaskActivity, TaskComment, TaskDependency
from apps.tasks.services import comments, dependencies, labels, tasks

from .filters import TaskFilter
from .serializers import (
    LabelSerializer,
    TaskActivitySerializer,
    TaskCommentSerializer,
    TaskCreateSerializer,
    TaskDependencyCreateSerializer,
    TaskDependencySerializer,
    TaskMoveSerializer,
    TaskSerializer,
    TaskUpdateSerializer,
)

TASK_ID_PARAMETER = OpenApiParameter(
    "task_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The task's id."
)


#: Assignees and mentioned users: members who can see the project.
_PEOPLE = ("not_an_organization_member", "user_cannot_see_project")
#: The task fields that name other objects or carry dates (create and update).
_TASK_FIELDS = (
    *_PEOPLE,
    "does_not_exist",
    "parent_other_project",
    "invalid_date_range",
    "date_out_of_range",
)


class _MemberViewMixin(APIView):
    """``self.actor``: the caller's membership in the host's organization.
    Every member reads (``projects.view``); writing needs ``tasks.contribute``."""

    # Subclasses ``APIView`` (already in every user's MRO, so nothing changes at
    # run time) so that ``self.request``/``self.kwargs`` have DRF's types.
    permission_classes = [IsOrganizationMember]
    read_permission = "projects.view"
    write_permission = "tasks.contribute"

    @property
    def actor(self) -> Membership:
        return required_membership(self.request)  # the permission class requires one


@extend_schema_view(
    list=extend_schema(
        responses={200: TaskSerializer(many=True), **error_responses(*PAGE_ERRORS, *MEMBER_ERRORS)}
    ),
    retrieve=extend_schema(
        responses={200: TaskSerializer, **error_responses(*MEMBER_ERRORS, "not_found")}
    ),
)
class TaskViewSet(
    _MemberViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """``/api/v1/tasks/``: list (filters, ordering, pagination), create, read,
    PATCH, soft DELETE, restore and move."""

    pagination_class = UncountedPagination
    serializer_class = TaskSerializer
    queryset = Task.objects.none()  # for the schema generator; see get_queryset
    filterset_class = TaskFilter
    lookup_value_converter = "uuid"  # malformed ids: 404 (see urls.py)
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Task]:
        return selectors.task_list(actor=self.actor)

    def get_object(self) -> Task:
        return selectors.task_get_for_member(actor=self.actor, task_id=self.kwargs["pk"])

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Page over ids, then load the page's details (see task_page_details)."""
        ids = self.filter_queryset(self.get_queryset()).values_list("pk", flat=True)
        page_ids = self.paginate_queryset(ids)
        assert page_ids is not None  # pagination_class is set: always a page
        page = selectors.task_page_details(list(page_ids))
        return self.get_paginated_response(TaskSerializer(page, many=True).data)

    def _task_response(self, task: Task, code: int = status.HTTP_200_OK) -> Response:
        fresh = selectors.task_get_for_member(actor=self.actor, task_id=task.pk)
        return Response(TaskSerializer(fresh).data, status=code)

    @extend_schema(
        request=TaskCreateSerializer,
        responses={
            201: TaskSerializer,
            **error_responses(*INPUT_ERRORS, *_TASK_FIELDS, "project_archived", *WRITE_ERRORS),
        },
    )
    def create(self, request: Request) -> Response:
        body = TaskCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        task = tasks.task_create(actor=self.actor, **body.validated_data)
        return self._task_response(task, status.HTTP_201_CREATED)

    @extend_schema(
        request=TaskUpdateSerializer,
        responses={
            200: TaskSerializer,
            **error_responses(
                *INPUT_ERRORS,
                *_TASK_FIELDS,
                "project_archived",
                *WRITE_ERRORS,
                "not_task_participant",
                "not_found",
                "parent_cycle",
                "blockers_open",
            ),
        },
    )
    def partial_update(self, request: Request, pk: uuid.UUID) -> Response:
        task = self.get_object()
        body = TaskUpdateSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        task = tasks.task_update(actor=self.actor, task=task, **body.validated_data)
        return self._task_response(task)

    @extend_schema(
        responses={
            204: None,
            **error_responses("project_archived", *WRITE_ERRORS, "not_task_reporter", "not_found"),
        }
    )
    def destroy(self, request: Request, pk: uuid.UUID) -> Response:
        tasks.task_delete(actor=self.actor, task=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=None,
        responses={
            200: TaskSerializer,
            **error_responses(
                "project_archived",
                *WRITE_ERRORS,
                "not_task_reporter",
                "not_found",
                "task_not_deleted",
                "parent_deleted",
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def restore(self, request: Request, pk: uuid.UUID) -> Response:
        """Undo a delete (the task and the subtasks deleted with it)."""
        task = selectors.task_get_for_member(actor=self.actor, task_id=pk, include_deleted=True)
        task = tasks.task_restore(actor=self.actor, task=task)
        return self._task_response(task)

    @extend_schema(
        request=TaskMoveSerializer,
        responses={
            200: TaskSerializer,
            **error_responses(
                *INPUT_ERRORS,
                "does_not_exist",
                "project_archived",
                *WRITE_ERRORS,
                "not_task_participant",
                "not_found",
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def move(self, request: Request, pk: uuid.UUID) -> Response:
        """Manual ordering: ``{position}`` or ``{before: id}`` / ``{after: id}``."""
        task = self.get_object()
        body = TaskMoveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        task = tasks.task_move(actor=self.actor, task=task, **body.validated_data)
        return self._task_response(task)


class _TaskChildMixin(_MemberViewMixin):
    """Views under ``/tasks/{task_id}/``: the task must be visible (else 404)."""

    @property
    def task(self) -> Task:
        if not hasattr(self, "_task"):
            self._task = selectors.task_get_for_member(
                actor=self.actor, task_id=self.kwargs["task_id"]
            )
        return self._task


@extend_schema(parameters=[TASK_ID_PARAMETER])
class TaskDependencyViewSet(_TaskChildMixin, viewsets.GenericViewSet):
    """``POST /tasks/{task_id}/dependencies/ {blocked_by}`` → 201;
    ``DELETE /tasks/{task_id}/dependencies/{id}/`` (the link's id or the
    blocking task's id)."""

    serializer_class = TaskDependencySerializer
    queryset = TaskDependency.objects.none()
    lookup_value_converter = "uuid"  # malformed ids: 404 (see urls.py)

    @extend_schema(
        request=TaskDependencyCreateSerializer,
        responses={
            201: TaskDependencySerializer,
            **error_responses(
                *INPUT_ERRORS,
                "does_not_exist",
                "project_archived",
                *WRITE_ERRORS,
                "not_task_participant",
                "not_found",
                "dependency_cycle",
                "dependency_exists",
            ),
        },
    )
    def create(self, request: Request, task_id: uuid.UUID) -> Response:
        body = TaskDependencyCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        dependency = dependencies.task_dependency_add(
            actor=self.actor, task=self.task, **body.validated_data
        )
        return Response(TaskDependencySerializer(dependency).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "id",
                OpenApiTypes.UUID,
                OpenApiParameter.PATH,
                description="The dependency's id, or the blocking task's id.",
            )
        ],
        responses={
            204: None,
            **error_responses(
                "project_archived", *WRITE_ERRORS, "not_task_participant", "not_found"
            ),
        },
    )
    def destroy(self, request: Request, task_id: uuid.UUID, pk: uuid.UUID) -> Response:
        dependencies.task_dependency_remove(actor=self.actor, task=self.task, dependency_id=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(parameters=[TASK_ID_PARAMETER])
@extend_schema_view(
    list=extend_schema(
        responses={
            200: TaskCommentSerializer(many=True),
            **error_responses(*PAGE_ERRORS, *MEMBER_ERRORS),
        }
    )
)
class TaskCommentViewSet(
    _TaskChildMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """``/tasks/{task_id}/comments/``: list (oldest first), post (members+),
    PATCH (author), DELETE (author or admin+)."""

    serializer_class = TaskCommentSerializer
    queryset = TaskComment.objects.none()  # for the schema generator; see get_queryset
    lookup_value_converter = "uuid"  # malformed ids: 404 (see urls.py)
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[TaskComment]:
        return selectors.task_comment_list(task=self.task)

    def get_object(self) -> TaskComment:
        return selectors.task_comment_get(task=self.task, comment_id=self.kwargs["pk"])

    @extend_schema(
        responses={
            201: TaskCommentSerializer,
            **error_responses(
                *INPUT_ERRORS, *_PEOPLE, "project_archived", *WRITE_ERRORS, "not_found"
            ),
        }
    )
    def create(self, request: Request, task_id: uuid.UUID) -> Response:
        body = TaskCommentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        comment = comments.task_comment_create(
            actor=self.actor, task=self.task, body=body.validated_data["body"]
        )
        return Response(TaskCommentSerializer(comment).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={
            200: TaskCommentSerializer,
            **error_responses(
                *INPUT_ERRORS,
                *_PEOPLE,
                "project_archived",
                *WRITE_ERRORS,
                "not_author",
                "not_found",
            ),
        }
    )
    def partial_update(self, request: Request, task_id: uuid.UUID, pk: uuid.UUID) -> Response:
        comment = self.get_object()
        body = TaskCommentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        comment = comments.task_comment_update(
            actor=self.actor, comment=comment, body=body.validated_data["body"]
        )
        return Response(TaskCommentSerializer(comment).data)

    @extend_schema(
        responses={
            204: None,
            **error_responses("project_archived", *WRITE_ERRORS, "not_author", "not_found"),
        }
    )
    def destroy(self, request: Request, task_id: uuid.UUID, pk: uuid.UUID) -> Response:
        comments.task_comment_delete(actor=self.actor, comment=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(
    parameters=[TASK_ID_PARAMETER],
    responses={
        200: TaskActivitySerializer(many=True),
        **error_responses(*PAGE_ERRORS, *MEMBER_ERRORS),
    },
)
class TaskActivityListView(_TaskChildMixin, generics.ListAPIView):
    """``GET /tasks/{task_id}/activity/``: who changed what, newest first."""

    serializer_class = TaskActivitySerializer
    queryset = TaskActivity.objects.none()  # for the schema generator; see get_queryset
    filter_backends: list[type[BaseFilterBackend]] = []

    def get_queryset(self) -> QuerySet[TaskActivity]:
        return selectors.task_activity_list(task=self.task)


@extend_schema_view(
    list=extend_schema(
        responses={200: LabelSerializer(many=True), **error_responses(*PAGE_ERRORS, *MEMBER_ERRORS)}
    ),
    retrieve=extend_schema(
        responses={200: LabelSerializer, **error_responses(*MEMBER_ERRORS, "not_found")}
    ),
)
class LabelViewSet(
    _MemberViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """``/api/v1/labels/``: everyone reads; managers+ create, edit and delete."""

    write_permission = "tasks.manage_all"
    serializer_class = LabelSerializer
    queryset = Label.objects.none()  # for the schema generator; see get_queryset
    lookup_value_converter = "uuid"  # malformed ids: 404 (see urls.py)
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Label]:
        return selectors.label_list()

    def get_object(self) -> Label:
        return selectors.label_get(label_id=self.kwargs["pk"])

    @extend_schema(
        responses={
            201: LabelSerializer,
            **error_responses(*INPUT_ERRORS, "label_name_taken", *WRITE_ERRORS),
        }
    )
    def create(self, request: Request) -> Response:
        body = LabelSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        label = labels.label_create(actor=self.actor, **body.validated_data)
        return Response(LabelSerializer(label).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={
            200: LabelSerializer,
            **error_responses(*INPUT_ERRORS, "label_name_taken", *WRITE_ERRORS, "not_found"),
        }
    )
    def partial_update(self, request: Request, pk: uuid.UUID) -> Response:
        label = self.get_object()
        body = LabelSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        label = labels.label_update(actor=self.actor, label=label, **body.validated_data)
        return Response(LabelSerializer(label).data)

    @extend_schema(responses={204: None, **error_responses(*WRITE_ERRORS, "not_found")})
    def destroy(self, request: Request, pk: uuid.UUID) -> Response:
        labels.label_delete(actor=self.actor, label=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
