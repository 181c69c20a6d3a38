"""Time entries, timer and activity endpoints on the organization host.

Thin by design: validate the input, call one service or selector, serialize.
Everyone in the organization may read (members and viewers their own
entries, ``entries.view_all`` everyone's); writing needs ``time.track``
(members and above). The finer rules (another user's entries, locks,
overlaps, projects) are enforced by :mod:`apps.time_entries.services`.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from django.http import JsonResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.pagination import UncountedPagination
from apps.organizations.permissions import IsOrganizationMember, request_membership
from apps.time_entries import selectors, services
from apps.time_entries.models import IdlePeriod, TimeEntry

from .filters import TimeEntryFilter
from .serializers import (
    BulkResultSerializer,
    BulkUpdateSerializer,
    DuplicateSerializer,
    ErrorSerializer,
    HeartbeatResultSerializer,
    HeartbeatSerializer,
    IdlePeriodSerializer,
    IdleResolveResultSerializer,
    IdleResolveSerializer,
    TimeEntryCreateSerializer,
    TimeEntrySerializer,
    TimeEntryUpdateSerializer,
    TimerStartSerializer,
    TimerStopSerializer,
)


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    described = {
        400: "Invalid input (`fields` names it): end_before_start, entry_too_long, "
        "entry_in_future, does_not_exist, project_archived, task_project_mismatch, "
        "too_many_tags, tag_too_long.",
        403: "not_a_member, role_required.",
        404: "Unknown entry (another user's or organization's looks the same).",
        409: "entry_locked, entry_overlap, timer_already_running, no_running_timer, "
        "idle_already_resolved.",
    }
    return {c: OpenApiResponse(ErrorSerializer, description=described[c]) for c in codes}


class TimeAPIMixin(APIView):
    """Permissions and serializer context shared by every view here."""

    # Subclasses ``APIView`` (already in every user's MRO, so nothing changes at
    # run time) so that its attributes are checked against DRF's declarations.

    permission_classes = [IsOrganizationMember]
    read_permission = "organization.view"
    write_permission = "time.track"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    @property
    def membership(self) -> Any:
        return request_membership(self.request)

    def entry_context(self) -> dict[str, Any]:
        tenant = getattr(self.request, "tenant", None)
        return {
            "request": self.request,
            "membership": self.membership,
            "organization": tenant,
            "timezone": getattr(tenant, "timezone", None),
        }

    def entry_data(self, entry: TimeEntry | None) -> Any:
        if entry is None:
            return None
        return TimeEntrySerializer(entry, context=self.entry_context()).data

    def body(self, serializer_class: type, data: Any) -> dict[str, Any]:
        serializer = serializer_class(data=data, context=self.entry_context())
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class TimeEntryViewSet(
    TimeAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """``/api/v1/time-entries/``: list (filters), create, read, PATCH, soft
    DELETE, ``bulk``, ``duplicate`` and ``continue``."""

    serializer_class = TimeEntrySerializer
    filterset_class = TimeEntryFilter
    pagination_class = UncountedPagination
    queryset = TimeEntry.objects.none()  # for the schema generator; see get_queryset
    lookup_value_converter = "uuid"

    def get_queryset(self) -> QuerySet[TimeEntry]:
        return selectors.entry_list(membership=self.membership)

    def get_object(self) -> TimeEntry:
        return selectors.entry_get_for_member(
            membership=self.membership, entry_id=self.kwargs["pk"]
        )

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), **self.entry_context()}

    @extend_schema(
        request=TimeEntryCreateSerializer,
        responses={201: TimeEntrySerializer, **_errors(400, 403, 409)},
    )
    def create(self, request: Request) -> Response:
        data = self.body(TimeEntryCreateSerializer, request.data)
        entry = services.entry_create(membership=self.membership, data=data)
        return Response(self.entry_data(entry), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=TimeEntryUpdateSerializer,
        responses={200: TimeEntrySerializer, **_errors(400, 403, 404, 409)},
    )
    def partial_update(self, request: Request, pk: UUID) -> Response:
        entry = self.get_object()
        data = self.body(TimeEntryUpdateSerializer, request.data)
        entry = services.entry_update(membership=self.membership, entry=entry, data=data)
        return Response(self.entry_data(entry))

    @extend_schema(responses={204: None, **_errors(403, 404, 409)})
    def destroy(self, request: Request, pk: UUID) -> Response:
        services.entry_delete(membership=self.membership, entry=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=BulkUpdateSerializer,
        responses={200: BulkResultSerializer, **_errors(400, 403, 409)},
        description="All or nothing: `{ids, set: {project?, task?, billable?, tags?, "
        "add_tags?, remove_tags?}}` or `{ids, delete: true}`.",
    )
    def bulk(self, request: Request) -> Response:
        data = self.body(BulkUpdateSerializer, request.data)
        if data.get("delete"):
            deleted = services.entry_bulk_delete(membership=self.membership, ids=data["ids"])
            return Response({"deleted": deleted})
        entries = services.entry_bulk_update(
            membership=self.membership, ids=data["ids"], changes=data["set"]
        )
        context = self.entry_context()
        return Response(
            {
                "updated": len(entries),
                "results": TimeEntrySerializer(entries, many=True, context=context).data,
            }
        )

    @extend_schema(
        request=DuplicateSerializer,
        responses={201: TimeEntrySerializer, **_errors(400, 403, 404, 409)},
        description="A copy of a finished entry, by default right after the original.",
    )
    def duplicate(self, request: Request, pk: UUID) -> Response:
        entry = self.get_object()
        data = self.body(DuplicateSerializer, request.data)
        copy = services.entry_duplicate(membership=self.membership, entry=entry, **data)
        return Response(self.entry_data(copy), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses={201: TimeEntrySerializer, **_errors(400, 403, 404, 409)},
        description="Start the caller's timer now with this entry's fields.",
    )
    def continue_entry(self, request: Request, pk: UUID) -> Response:
        entry = services.entry_continue(membership=self.membership, entry=self.get_object())
        return Response(self.entry_data(entry), status=status.HTTP_201_CREATED)


class TimerView(TimeAPIMixin, APIView):
    """``GET /api/v1/timer/``: the caller's running entry, or ``null``."""

    # The running entry or JSON ``null`` (OpenAPI 3.0: a nullable reference).
    @extend_schema(
        responses={
            200: {"allOf": [{"$ref": "#/components/schemas/TimeEntry"}], "nullable": True},
            **_errors(403),
        }
    )
    def get(self, request: Request) -> Response | JsonResponse:
        entry = selectors.running_entry(user_id=request.user.pk)
        if entry is None:
            # DRF renders ``None`` as an empty body; API.md promises JSON ``null``.
            return JsonResponse(None, safe=False)
        return Response(self.entry_data(entry))


class TimerStartView(TimeAPIMixin, APIView):
    """``POST /api/v1/timer/start/``: a running timer is stopped at the same instant."""

    @extend_schema(
        request=TimerStartSerializer,
        responses={201: TimeEntrySerializer, **_errors(400, 403, 409)},
    )
    def post(self, request: Request) -> Response:
        data = self.body(TimerStartSerializer, request.data)
        entry = services.timer_start(
            membership=self.membership,
            project_id=data["project"],
            task_id=data.get("task"),
            description=data.get("description", ""),
            tags=data.get("tags", ()),
            billable=data.get("billable"),
            at=data.get("started_at"),
        )
        return Response(self.entry_data(entry), status=status.HTTP_201_CREATED)


class TimerStopView(TimeAPIMixin, APIView):
    """``POST /api/v1/timer/stop/``: 409 ``no_running_timer`` when none runs."""

    @extend_schema(
        request=TimerStopSerializer,
        responses={200: TimeEntrySerializer, **_errors(400, 403, 409)},
    )
    def post(self, request: Request) -> Response:
        data = self.body(TimerStopSerializer, request.data or {})
        entry = services.timer_stop(user_id=request.user.pk, at=data.get("ended_at"))
        return Response(self.entry_data(entry))


class HeartbeatView(TimeAPIMixin, APIView):
    """``POST /api/v1/activity/heartbeat/``: cheap (one UPDATE), throttled per user."""

    throttle_scope = "heartbeat"

    @extend_schema(
        request=HeartbeatSerializer,
        responses={200: HeartbeatResultSerializer, **_errors(400, 403)},
    )
    def post(self, request: Request) -> Response:
        data = self.body(HeartbeatSerializer, request.data)
        result = services.activity_heartbeat(
            user_id=request.user.pk, last_input_at=data["last_input_at"]
        )
        idle = result.idle_period
        return Response(
            {
                "running": result.entry_id is not None,
                "entry": result.entry_id,
                "last_activity_at": result.last_activity_at,
                "idle_period": IdlePeriodSerializer(idle).data if idle is not None else None,
            }
        )


class IdlePeriodViewSet(TimeAPIMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """``/api/v1/activity/idle-periods/``: the caller's idle periods
    (``?resolution=pending`` for the undecided ones) and ``resolve``."""

    serializer_class = IdlePeriodSerializer
    queryset = IdlePeriod.objects.none()  # for the schema generator
    filterset_fields = ["resolution"]

    def get_queryset(self) -> QuerySet[IdlePeriod]:
        return selectors.idle_period_list(user_id=self.request.user.pk)

    @extend_schema(
        request=IdleResolveSerializer,
        responses={200: IdleResolveResultSerializer, **_errors(400, 403, 404, 409)},
    )
    def resolve(self, request: Request, pk: UUID) -> Response:
        idle = selectors.idle_period_get(user_id=request.user.pk, idle_period_id=pk)
        data = self.body(IdleResolveSerializer, request.data)
        idle, started = services.idle_period_resolve(
            membership=self.membership, idle_period=idle, action=data["action"]
        )
        return Response(
            {
                "idle_period": IdlePeriodSerializer(idle).data,
                "running_entry": self.entry_data(started),
            }
        )
