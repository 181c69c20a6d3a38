"""Views for tasks, dependencies, comments, activity and labels.

Thin by design: validate the input, call one service or selector, serialize.
Reads are open to every member (viewers included) and limited to what the
caller may see; writes need member+ (``IsTaskContributor``) and the finer
rules (own tasks, managers, comment authors, archived projects) are enforced
by the services, so they hold for every caller, not just the API.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.errors import RoleRequiredError
from apps.common.pagination import UncountedPagination
from apps.organizations.models import Membership
from apps.organizations.permissions import IsOrganizationMember, request_membership
from apps.tasks import selectors
from apps.tasks.models import Label, Task, TaskActivity, TaskComment, TaskDependency
from apps.tasks.services import comments, dependencies, labels, rules, tasks

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


class IsTaskContributor(IsOrganizationMember):
    """Any member reads; writing needs member+ (viewers get 403 ``role_required``
    before their input is even looked at)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not super().has_permission(request, view):
            return False
        membership = request_membership(request)
        assert membership is not None  # super() raised NotAMember otherwise
        if request.method not in SAFE_METHODS and not rules.may_contribute(membership):
            raise RoleRequiredError("tasks.contribute")
        return True


class _MemberViewMixin(APIView):
    """``self.membership``: the caller's membership in the host's organization."""

    # Subclasses ``APIView`` (already in every user's MRO, so nothing changes at
    # run time) so that ``self.request``/``self.kwargs`` have DRF's types.

    @property
    def membership(self) -> Membership:
        membership = request_membership(self.request)
        assert membership is not None  # guaranteed by the permission class
        return membership


class TaskViewSet(
    _MemberViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """``/api/v1/tasks/``: list (filters, ordering, pagination), create, read,
    PATCH, soft DELETE, restore and move."""

    permission_classes = [IsTaskContributor]
    pagination_class = UncountedPagination
    read_permission = "projects.view"
    serializer_class = TaskSerializer
    queryset = Task.objects.none()  # for the schema generator; see get_queryset
    filterset_class = TaskFilter
    lookup_value_converter = "uuid"  # malformed ids: 404 (see urls.py)
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Task]:
        return selectors.task_list(membership=self.membership)

    def get_object(self) -> Task:
        return selectors.task_get_for_member(membership=self.membership, task_id=self.kwargs["pk"])

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Page over ids, then load the page's details (see task_page_details)."""
        ids = self.filter_queryset(self.get_queryset()).values_list("pk", flat=True)
        page_ids = self.paginate_queryset(ids)
        assert page_ids is not None  # pagination_class is set: always a page
        tasks = selectors.task_page_details(list(page_ids))
        return self.get_paginated_response(TaskSerializer(tasks, many=True).data)

    def _task_response(self, task: Task, code: int = status.HTTP_200_OK) -> Response:
        fresh = selectors.task_get_for_member(membership=self.membership, task_id=task.pk)
        return Response(TaskSerializer(fresh).data, status=code)

    @extend_schema(request=TaskCreateSerializer, responses={201: TaskSerializer})
    def create(self, request: Request) -> Response:
        body = TaskCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        task = tasks.task_create(actor=self.membership, **body.validated_data)
        return self._task_response(task, status.HTTP_201_CREATED)

    @extend_schema(request=TaskUpdateSerializer, responses=TaskSerializer)
    def partial_update(self, request: Request, pk: uuid.UUID) -> Response:
        task = self.get_object()
        body = TaskUpdateSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        task = tasks.task_update(actor=self.membership, task=task, **body.validated_data)
        return self._task_response(task)

    def destroy(self, request: Request, pk: uuid.UUID) -> Response:
        tasks.task_delete(actor=self.membership, task=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=TaskSerializer)
    @action(detail=True, methods=["post"])
    def restore(self, request: Request, pk: uuid.UUID) -> Response:
        """Undo a delete (the task and the subtasks deleted with it)."""
        task = selectors.task_get_for_member(
            membership=self.membership, task_id=pk, include_deleted=True
        )
        task = tasks.task_restore(actor=self.membership, task=task)
        return self._task_response(task)

    @extend_schema(request=TaskMoveSerializer, responses=TaskSerializer)
    @action(detail=True, methods=["post"])
    def move(self, request: Request, pk: uuid.UUID) -> Response:
        """Manual ordering: ``{position}`` or ``{before: id}`` / ``{after: id}``."""
        task = self.get_object()
        body = TaskMoveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        task = tasks.task_move(actor=self.membership, task=task, **body.validated_data)
        return self._task_response(task)


class _TaskChildMixin(_MemberViewMixin):
    """Views under ``/tasks/{task_id}/``: the task must be visible (else 404)."""

    @property
    def task(self) -> Task:
        if not hasattr(self, "_task"):
            self._task = selectors.task_get_for_member(
                membership=self.membership, task_id=self.kwargs["task_id"]
            )
        return self._task


@extend_schema(parameters=[TASK_ID_PARAMETER])
class TaskDependencyViewSet(_TaskChildMixin, viewsets.GenericViewSet):
    """``POST /tasks/{task_id}/dependencies/ {blocked_by}`` → 201;
    ``DELETE /tasks/{task_id}/dependencies/{id}/`` (the link's id or the
    blocking task's id)."""

    permission_classes = [IsTaskContributor]
    read_permission = "projects.view"
    serializer_class = TaskDependencySerializer
    queryset = TaskDependency.objects.none()
    lookup_value_converter = "uuid"  # malformed ids: 404 (see urls.py)

    @extend_schema(
        request=TaskDependencyCreateSerializer, responses={201: TaskDependencySerializer}
    )
    def create(self, request: Request, task_id: uuid.UUID) -> Response:
        body = TaskDependencyCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        dependency = dependencies.task_dependency_add(
            actor=self.membership, task=self.task, **body.validated_data
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
        ]
    )
    def destroy(self, request: Request, task_id: uuid.UUID, pk: uuid.UUID) -> Response:
        dependencies.task_dependency_remove(actor=self.membership, task=self.task, dependency_id=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(parameters=[TASK_ID_PARAMETER])
class TaskCommentViewSet(
    _TaskChildMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """``/tasks/{task_id}/comments/``: list (oldest first), post (members+),
    PATCH (author), DELETE (author or admin+)."""

    permission_classes = [IsTaskContributor]
    read_permission = "projects.view"
    serializer_class = TaskCommentSerializer
    queryset = TaskComment.objects.none()  # for the schema generator; see get_queryset
    lookup_value_converter = "uuid"  # malformed ids: 404 (see urls.py)
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[TaskComment]:
        return selectors.task_comment_list(task=self.task)

    def get_object(self) -> TaskComment:
        return selectors.task_comment_get(task=self.task, comment_id=self.kwargs["pk"])

    @extend_schema(responses={201: TaskCommentSerializer})
    def create(self, request: Request, task_id: uuid.UUID) -> Response:
        body = TaskCommentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        comment = comments.task_comment_create(
            actor=self.membership, task=self.task, body=body.validated_data["body"]
        )
        return Response(TaskCommentSerializer(comment).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, task_id: uuid.UUID, pk: uuid.UUID) -> Response:
        comment = self.get_object()
        body = TaskCommentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        comment = comments.task_comment_update(
            actor=self.membership, comment=comment, body=body.validated_data["body"]
        )
        return Response(TaskCommentSerializer(comment).data)

    def destroy(self, request: Request, task_id: uuid.UUID, pk: uuid.UUID) -> Response:
        comments.task_comment_delete(actor=self.membership, comment=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(parameters=[TASK_ID_PARAMETER])
class TaskActivityListView(_TaskChildMixin, generics.ListAPIView):
    """``GET /tasks/{task_id}/activity/``: who changed what, newest first."""

    permission_classes = [IsTaskContributor]
    read_permission = "projects.view"
    serializer_class = TaskActivitySerializer
    queryset = TaskActivity.objects.none()  # for the schema generator; see get_queryset
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[TaskActivity]:
        return selectors.task_activity_list(task=self.task)


class LabelViewSet(
    _MemberViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """``/api/v1/labels/``: everyone reads; managers+ create, edit and delete."""

    permission_classes = [IsOrganizationMember]
    read_permission = "projects.view"
    write_permission = "projects.manage"
    serializer_class = LabelSerializer
    queryset = Label.objects.none()  # for the schema generator; see get_queryset
    lookup_value_converter = "uuid"  # malformed ids: 404 (see urls.py)
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Label]:
        return selectors.label_list()

    def get_object(self) -> Label:
        return selectors.label_get(label_id=self.kwargs["pk"])

    @extend_schema(responses={201: LabelSerializer})
    def create(self, request: Request) -> Response:
        body = LabelSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        label = labels.label_create(actor=self.membership, **body.validated_data)
        return Response(LabelSerializer(label).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: uuid.UUID) -> Response:
        label = self.get_object()
        body = LabelSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        label = labels.label_update(actor=self.membership, label=label, **body.validated_data)
        return Response(LabelSerializer(label).data)

    def destroy(self, request: Request, pk: uuid.UUID) -> Response:
        labels.label_delete(actor=self.membership, label=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
