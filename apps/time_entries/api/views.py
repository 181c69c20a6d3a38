"""Time entries, timer and activity endpoints on the organization host.

Thin by design: validate the input, call one service or selector, serialize.
Everyone in the organization may read (members and viewers their own
entries, ``entries.view_all`` everyone's); writing needs ``time.track``
(members and above). The finer rules (another user's entries, locks,
overlaps, projects) are enforced by :mod:`apps.time_entries.services`. Each
operation documents the error codes it answers (``error_responses``).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from django.http import JsonResponse
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.utils.serializer_helpers import ReturnDict
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
from apps.time_entries import selectors
from apps.time_entries.models import IdlePeriod, TimeEntry
from apps.time_entries.services.bulk import entry_bulk_delete, entry_bulk_update
from apps.time_entries.services.entries import (
    entry_create,
    entry_delete,
    entry_duplicate,
    entry_update,
)
from apps.time_entries.services.idle import activity_heartbeat, idle_period_resolve
from apps.time_entries.services.timer import entry_continue, timer_start, timer_stop

from .filters import TimeEntryFilter
from .serializers import (
    BulkResultSerializer,
    BulkUpdateSerializer,
    DuplicateSerializer,
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

#: What the services check on an entry's fields (400).
_ENTRY_FIELDS = (
    "required",
    "naive_datetime",
    "end_before_start",
    "entry_too_long",
    "entry_in_future",
    "does_not_exist",
    "project_archived",
    "task_project_mismatch",
    "too_many_tags",
    "tag_too_long",
)
#: Starting a timer (400 and 409 codes; the running timer is stopped first).
_TIMER_START = (
    "naive_datetime",
    "entry_in_future",
    "end_before_start",
    "does_not_exist",
    "project_archived",
    "task_project_mismatch",
    "too_many_tags",
    "tag_too_long",
    "entry_locked",
    "entry_overlap",
    "timer_already_running",
)


class TimeAPIMixin(APIView):
    """Permissions and serializer context shared by every view here."""

    # Subclasses ``APIView`` (already in every user's MRO, so nothing changes at
    # run time) so that its attributes are checked against DRF's declarations.

    permission_classes = [IsOrganizationMember]
    read_permission = "organization.view"
    write_permission = "time.track"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    @property
    def actor(self) -> Membership:
        return required_membership(self.request)  # the permission class requires one

    def entry_context(self) -> dict[str, Any]:
        tenant = getattr(self.request, "tenant", None)
        return {
            "request": self.request,
            "membership": self.actor,
            "organization": tenant,
            "timezone": getattr(tenant, "timezone", None),
        }

    def entry_data(self, entry: TimeEntry | None) -> ReturnDict[str, Any] | None:
        if entry is None:
            return None
        return TimeEntrySerializer(entry, context=self.entry_context()).data

    def body(self, serializer_class: type[BaseSerializer[Any]], data: Any) -> dict[str, Any]:
        serializer = serializer_class(data=data, context=self.entry_context())
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


@extend_schema_view(
    list=extend_schema(
        responses={
            200: TimeEntrySerializer(many=True),
            **error_responses(*PAGE_ERRORS, *MEMBER_ERRORS),
        }
    ),
    retrieve=extend_schema(
        responses={200: TimeEntrySerializer, **error_responses(*MEMBER_ERRORS, "not_found")}
    ),
)
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
        return selectors.entry_list(actor=self.actor)

    def get_object(self) -> TimeEntry:
        return selectors.entry_get_for_member(actor=self.actor, entry_id=self.kwargs["pk"])

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), **self.entry_context()}

    @extend_schema(
        request=TimeEntryCreateSerializer,
        responses={
            201: TimeEntrySerializer,
            **error_responses(
                *INPUT_ERRORS, *_ENTRY_FIELDS, *WRITE_ERRORS, "entry_locked", "entry_overlap"
            ),
        },
    )
    def create(self, request: Request) -> Response:
        data = self.body(TimeEntryCreateSerializer, request.data)
        entry = entry_create(actor=self.actor, data=data)
        return Response(self.entry_data(entry), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=TimeEntryUpdateSerializer,
        responses={
            200: TimeEntrySerializer,
            **error_responses(
                *INPUT_ERRORS,
                *_ENTRY_FIELDS,
                "cannot_restart",
                *WRITE_ERRORS,
                "not_found",
                "entry_locked",
                "entry_overlap",
            ),
        },
    )
    def partial_update(self, request: Request, pk: UUID) -> Response:
        entry = self.get_object()
        data = self.body(TimeEntryUpdateSerializer, request.data)
        entry = entry_update(actor=self.actor, entry=entry, data=data)
        return Response(self.entry_data(entry))

    @extend_schema(
        responses={204: None, **error_responses(*WRITE_ERRORS, "not_found", "entry_locked")}
    )
    def destroy(self, request: Request, pk: UUID) -> Response:
        entry_delete(actor=self.actor, entry=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=BulkUpdateSerializer,
        responses={
            200: BulkResultSerializer,
            **error_responses(
                *INPUT_ERRORS,
                "required",
                "does_not_exist",
                "project_archived",
                "task_project_mismatch",
                "too_many_tags",
                "tag_too_long",
                *WRITE_ERRORS,
                "entry_locked",
                "entry_overlap",
            ),
        },
        description="All or nothing: `{ids, set: {project?, task?, billable?, tags?, "
        "add_tags?, remove_tags?}}` or `{ids, delete: true}`.",
    )
    def bulk(self, request: Request) -> Response:
        data = self.body(BulkUpdateSerializer, request.data)
        if data.get("delete"):
            deleted = entry_bulk_delete(actor=self.actor, ids=data["ids"])
            return Response({"deleted": deleted})
        entries = entry_bulk_update(actor=self.actor, ids=data["ids"], changes=data["set"])
        context = self.entry_context()
        return Response(
            {
                "updated": len(entries),
                "results": TimeEntrySerializer(entries, many=True, context=context).data,
            }
        )

    @extend_schema(
        request=DuplicateSerializer,
        responses={
            201: TimeEntrySerializer,
            **error_responses(
                *INPUT_ERRORS,
                "entry_running",
                *_ENTRY_FIELDS,
                *WRITE_ERRORS,
                "not_found",
                "entry_locked",
                "entry_overlap",
            ),
        },
        description="A copy of a finished entry, by default right after the original.",
    )
    def duplicate(self, request: Request, pk: UUID) -> Response:
        entry = self.get_object()
        data = self.body(DuplicateSerializer, request.data)
        copy = entry_duplicate(actor=self.actor, entry=entry, **data)
        return Response(self.entry_data(copy), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses={
            201: TimeEntrySerializer,
            **error_responses(*_TIMER_START, *WRITE_ERRORS, "not_author", "not_found"),
        },
        description="Start the caller's timer now with this entry's fields.",
    )
    def continue_entry(self, request: Request, pk: UUID) -> Response:
        entry = entry_continue(actor=self.actor, entry=self.get_object())
        return Response(self.entry_data(entry), status=status.HTTP_201_CREATED)


class TimerView(TimeAPIMixin, APIView):
    """``GET /api/v1/timer/``: the caller's running entry, or ``null``."""

    # The running entry or JSON ``null`` (OpenAPI 3.0: a nullable reference).
    @extend_schema(
        responses={
            200: {"allOf": [{"$ref": "#/components/schemas/TimeEntry"}], "nullable": True},
            **error_responses(*MEMBER_ERRORS),
        }
    )
    def get(self, request: Request) -> Response | JsonResponse:
        entry = selectors.running_entry(actor=self.actor)
        if entry is None:
            # DRF renders ``None`` as an empty body; API.md promises JSON ``null``.
            return JsonResponse(None, safe=False)
        return Response(self.entry_data(entry))


class TimerStartView(TimeAPIMixin, APIView):
    """``POST /api/v1/timer/start/``: a running timer is stopped at the same instant."""

    @extend_schema(
        request=TimerStartSerializer,
        responses={
            201: TimeEntrySerializer,
            **error_responses(*INPUT_ERRORS, *_TIMER_START, *WRITE_ERRORS),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.body(TimerStartSerializer, request.data)
        entry = timer_start(
            actor=self.actor,
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
        responses={
            200: TimeEntrySerializer,
            **error_responses(
                *INPUT_ERRORS,
                "entry_in_future",
                "end_before_start",
                *WRITE_ERRORS,
                "no_running_timer",
                "entry_locked",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.body(TimerStopSerializer, request.data or {})
        entry = timer_stop(user_id=self.actor.user_id, at=data.get("ended_at"))
        return Response(self.entry_data(entry))


class HeartbeatView(TimeAPIMixin, APIView):
    """``POST /api/v1/activity/heartbeat/``: cheap (one UPDATE), throttled per user."""

    throttle_scope = "heartbeat"

    @extend_schema(
        request=HeartbeatSerializer,
        responses={
            200: HeartbeatResultSerializer,
            **error_responses(*INPUT_ERRORS, "naive_datetime", "entry_in_future", *WRITE_ERRORS),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.body(HeartbeatSerializer, request.data)
        result = activity_heartbeat(actor=self.actor, last_input_at=data["last_input_at"])
        idle = result.idle_period
        return Response(
            {
                "running": result.entry_id is not None,
                "entry": result.entry_id,
                "last_activity_at": result.last_activity_at,
                "idle_period": IdlePeriodSerializer(idle).data if idle is not None else None,
            }
        )


@extend_schema_view(
    list=extend_schema(
        responses={
            200: IdlePeriodSerializer(many=True),
            **error_responses(*PAGE_ERRORS, *MEMBER_ERRORS),
        }
    ),
)
class IdlePeriodViewSet(TimeAPIMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """``/api/v1/activity/idle-periods/``: the caller's idle periods
    (``?resolution=pending`` for the undecided ones) and ``resolve``."""

    serializer_class = IdlePeriodSerializer
    queryset = IdlePeriod.objects.none()  # for the schema generator
    filterset_fields = ["resolution"]

    def get_queryset(self) -> QuerySet[IdlePeriod]:
        return selectors.idle_period_list(actor=self.actor)

    @extend_schema(
        request=IdleResolveSerializer,
        responses={
            200: IdleResolveResultSerializer,
            # discard_and_continue starts a timer: its refusals too.
            **error_responses(
                *INPUT_ERRORS,
                *_TIMER_START,
                *WRITE_ERRORS,
                "not_found",
                "idle_already_resolved",
            ),
        },
    )
    def resolve(self, request: Request, pk: UUID) -> Response:
        idle = selectors.idle_period_get(actor=self.actor, idle_period_id=pk)
        data = self.body(IdleResolveSerializer, request.data)
        idle, started = idle_period_resolve(
            actor=self.actor, idle_period=idle, action=data["action"]
        )
        return Response(
            {
                "idle_period": IdlePeriodSerializer(idle).data,
                "running_entry": self.entry_data(started),
            }
        )
