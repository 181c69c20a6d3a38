"""Timesheet API on the organization host (``/api/v1/timesheets/``).

Thin by design: validate the input, call one service or selector from
``apps.timesheets``, serialize. Every member reads their own sheets; managers
and above read everybody's, approve, reject, see the team overview and
export. Which role does what is in ``ACTION_PERMISSIONS``; the finer rules
(owner-only submit/withdraw, no self-approval, approvers limited to managed
projects, admin-only reopen) are enforced by the services.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer

from apps.common.openapi import INPUT_ERRORS, WRITE_ERRORS, error_responses
from apps.organizations.models import Membership
from apps.organizations.permissions import IsOrganizationMember, may, request_membership
from apps.time_entries.money import may_view_money
from apps.timesheets import exports, periods, selectors, services
from apps.timesheets.constants import ACTION_PERMISSIONS
from apps.timesheets.models import Timesheet
from tenants.db import current_tenant

from .filters import TimesheetFilter
from .serializers import (
    BulkApproveResponseSerializer,
    BulkApproveSerializer,
    ExportQuerySerializer,
    OverviewQuerySerializer,
    OverviewRowSerializer,
    RejectSerializer,
    ReopenSerializer,
    TimesheetCreateSerializer,
    TimesheetDetailSchemaSerializer,
    TimesheetDetailSerializer,
    TimesheetSerializer,
    TransitionSerializer,
)


class TimesheetViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Sheets the caller may see; POST gets or creates the caller's sheet for
    a period; transitions are POST actions on a sheet."""

    permission_classes = [IsOrganizationMember]
    serializer_class = TimesheetSerializer
    filterset_class = TimesheetFilter
    queryset = Timesheet.objects.none()  # for the schema generator; see get_queryset
    lookup_value_converter = "uuid"  # a malformed id is a 404, typed in OpenAPI
    http_method_names = ["get", "post", "head", "options"]

    @property
    def required_permission(self) -> str:
        return ACTION_PERMISSIONS.get(getattr(self, "action", None) or "", "organization.view")

    @property
    def membership(self) -> Membership:
        membership = request_membership(self.request)
        assert membership is not None  # guaranteed by the permission class
        return membership

    def get_queryset(self) -> QuerySet[Timesheet]:
        return selectors.timesheet_list(actor=self.membership)

    def get_object(self) -> Timesheet:
        return selectors.timesheet_get_for_member(
            actor=self.membership, timesheet_id=self.kwargs["pk"]
        )

    def _can_view_rates(self) -> bool:
        """The one money rule (:func:`apps.time_entries.money.may_view_money`):
        below ``entries.view_all`` a caller only ever sees their own sheets, so
        the money shown is made of their own time."""
        membership = request_membership(self.request)
        if membership is None:
            return False
        sees_all = may(membership, "entries.view_all")
        return may_view_money(
            actor=membership, owner_ids=None if sees_all else [membership.user_id]
        )

    def get_serializer_context(self) -> dict[str, Any]:
        return {
            **super().get_serializer_context(),
            "can_view_rates": self._can_view_rates(),
            "currency": str(current_tenant().currency),
        }

    def _sheet_response(self, sheet: Timesheet, code: int = status.HTTP_200_OK) -> Response:
        fresh = selectors.timesheet_get_for_member(actor=self.membership, timesheet_id=sheet.pk)
        serializer = TimesheetSerializer(fresh, context=self.get_serializer_context())
        return Response(serializer.data, status=code)

    def _transition(
        self, request: Request, body_class: type[Serializer], service: Callable[..., Timesheet]
    ) -> Response:
        """Validate the body, run the ``service`` transition on the URL's sheet
        with the caller as ``actor`` plus the body's fields, and answer with
        the fresh sheet: the five transition actions differ only in these two
        arguments."""
        body = body_class(data=request.data)
        body.is_valid(raise_exception=True)
        sheet = service(timesheet=self.get_object(), actor=self.membership, **body.validated_data)
        return self._sheet_response(sheet)

    @extend_schema(
        request=None,
        responses={200: TimesheetDetailSchemaSerializer, **error_responses("not_found")},
    )
    def retrieve(self, request: Request, pk: UUID | None = None) -> Response:
        """The sheet with its entries, daily/project/billable totals, flags and
        audit trail."""
        sheet = self.get_object()
        detail = selectors.timesheet_detail(sheet=sheet)
        context = self.get_serializer_context()
        return Response(TimesheetDetailSerializer(detail, context=context).data)

    @extend_schema(
        request=TimesheetCreateSerializer,
        responses={
            201: TimesheetSerializer,
            200: TimesheetSerializer,
            **error_responses(
                *INPUT_ERRORS, "period_not_aligned", *WRITE_ERRORS, "period_overlaps"
            ),
        },
    )
    def create(self, request: Request) -> Response:
        """The caller's sheet for ``period_start``: 201 when created, 200 when it existed."""
        body = TimesheetCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        sheet, created = services.timesheet_get_or_create(
            user_id=self.membership.user_id, period_start=body.validated_data["period_start"]
        )
        return self._sheet_response(
            sheet, status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(
        request=TransitionSerializer,
        responses={
            200: TimesheetSerializer,
            **error_responses(
                *WRITE_ERRORS,
                "not_sheet_owner",
                "not_found",
                "invalid_transition",
                "timer_running",
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk: UUID | None = None) -> Response:
        """draft|rejected → submitted (the owner; no running timer in the period)."""
        return self._transition(request, TransitionSerializer, services.timesheet_submit)

    @extend_schema(
        request=TransitionSerializer,
        responses={
            200: TimesheetSerializer,
            **error_responses(*WRITE_ERRORS, "not_sheet_owner", "not_found", "invalid_transition"),
        },
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: UUID | None = None) -> Response:
        """submitted → draft (the owner)."""
        return self._transition(request, TransitionSerializer, services.timesheet_withdraw)

    @extend_schema(
        request=TransitionSerializer,
        responses={
            200: TimesheetSerializer,
            **error_responses(
                *WRITE_ERRORS,
                "self_approval",
                "not_sheet_approver",
                "not_found",
                "invalid_transition",
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: UUID | None = None) -> Response:
        """submitted → approved (manager+, not one's own sheet); snapshots the totals."""
        return self._transition(request, TransitionSerializer, services.timesheet_approve)

    @extend_schema(
        request=RejectSerializer,
        responses={
            200: TimesheetSerializer,
            **error_responses(
                *INPUT_ERRORS,
                "comment_required",
                *WRITE_ERRORS,
                "self_approval",
                "not_sheet_approver",
                "not_found",
                "invalid_transition",
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: UUID | None = None) -> Response:
        """submitted → rejected with a required ``comment``."""
        return self._transition(request, RejectSerializer, services.timesheet_reject)

    @extend_schema(
        request=ReopenSerializer,
        responses={
            200: TimesheetSerializer,
            **error_responses(
                *INPUT_ERRORS,
                "reason_required",
                *WRITE_ERRORS,
                "not_found",
                "invalid_transition",
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def reopen(self, request: Request, pk: UUID | None = None) -> Response:
        """approved → draft (admin+) with a required ``reason``; clears the snapshot."""
        return self._transition(request, ReopenSerializer, services.timesheet_reopen)

    @extend_schema(
        request=BulkApproveSerializer,
        responses={
            200: BulkApproveResponseSerializer,
            **error_responses(*INPUT_ERRORS, *WRITE_ERRORS),
        },
    )
    @action(detail=False, methods=["post"], url_path="bulk-approve")
    def bulk_approve(self, request: Request) -> Response:
        """Approve several sheets; each succeeds or fails on its own (per-id results)."""
        body = BulkApproveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        results = services.timesheet_bulk_approve(
            timesheet_ids=body.validated_data["ids"],
            actor=self.membership,
            comment=body.validated_data["comment"],
        )
        approved = sum(1 for r in results if r["ok"])
        return Response(
            {"approved": approved, "failed": len(results) - approved, "results": results}
        )

    @extend_schema(
        parameters=[OverviewQuerySerializer],
        responses={
            200: OverviewRowSerializer(many=True),
            **error_responses(
                *INPUT_ERRORS, "period_not_aligned", "page_out_of_range", *WRITE_ERRORS
            ),
        },
    )
    @action(detail=False, methods=["get"])
    def overview(self, request: Request) -> Response:
        """Every active member for one period: sheet status (or ``missing``)
        and totals; filters ``status``, ``user``, ``project``. Constant query
        count whatever the team size (see ``selectors.timesheet_overview``)."""
        query = OverviewQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        start, _ = periods.aligned_period(current_tenant(), params["period_start"])
        rows = selectors.timesheet_overview(
            period_start=start,
            status=params.get("status") or None,
            user_id=params.get("user"),
            project_id=params.get("project"),
        )
        memberships = self.paginate_queryset(rows)
        assert memberships is not None  # the default pagination class is always set
        page = selectors.overview_page(memberships=list(memberships), period_start=start)
        data = OverviewRowSerializer(page, many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(data)

    def perform_content_negotiation(
        self, request: Request, force: bool = False
    ) -> tuple[BaseRenderer, str]:
        # ``?format=csv`` of the export is our parameter, not DRF's renderer
        # override: answer (and err) in JSON, the export builds its own file.
        if getattr(self, "action", None) == "export":
            return (JSONRenderer(), JSONRenderer.media_type)
        return super().perform_content_negotiation(request, force)

    @extend_schema(
        parameters=[ExportQuerySerializer],
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            (
                200,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ): OpenApiTypes.BINARY,
            **error_responses(*INPUT_ERRORS, "period_not_aligned", *WRITE_ERRORS),
        },
    )
    @action(detail=False, methods=["get"])
    def export(self, request: Request) -> HttpResponse:
        """Approved time of one period, one row per entry (``format=csv|xlsx``),
        for payroll and invoicing."""
        query = ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        start, end = periods.aligned_period(current_tenant(), query.validated_data["period_start"])
        rows = exports.export_rows(
            selectors.timesheet_export_entries(period_start=start),
            show_money=self._can_view_rates(),
        )
        return exports.export_file(
            rows,
            name=f"timesheets-{start.isoformat()}-{end.isoformat()}",
            file_format=query.validated_data["format"],
        )


__all__ = ["TimesheetViewSet"]
