"""Report endpoints on the organization host (thin: parse, build the query, call
the selector). Every member may read reports; what they see is decided by
``query.build_report_query`` (own time only below manager, amounts per
``members_see_rates``)."""

from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from apps.common.openapi import error_responses
from apps.common.pagination import StandardPagination
from apps.organizations.permissions import (
    IsOrganizationMember,
    request_organization,
    required_membership,
)
from apps.time_entries.models import TimeEntry

from ..detailed import report_detailed
from ..exports import CSV_CONTENT_TYPE, XLSX_CONTENT_TYPE, export_response
from ..query import ReportQuery, build_report_query
from ..summary import report_summary, user_labels
from .serializers import (
    DetailedEntrySerializer,
    ExportParamsSerializer,
    ReportParamsSerializer,
    SummaryParamsSerializer,
    SummarySerializer,
    query_data,
)

#: Bad dates, filters or group_by (``fields`` says which), the query guards,
#: and the refusals of ``IsOrganizationMember``.
_ERRORS = error_responses(
    "invalid",
    "invalid_characters",
    "too_many_fields",
    "date_out_of_range",
    "not_a_member",
    "two_factor_required",
)
#: The detailed report is paginated: a page past the end, or out of range.
_PAGE_ERRORS = error_responses(
    "invalid",
    "invalid_characters",
    "too_many_fields",
    "date_out_of_range",
    "page_out_of_range",
    "not_a_member",
    "two_factor_required",
    "not_found",
)
_FILTERS = [
    OpenApiParameter("from", OpenApiTypes.DATE, required=True, description="First local day."),
    OpenApiParameter("to", OpenApiTypes.DATE, required=True, description="Last local day."),
    OpenApiParameter("users", str, description="Comma-separated user ids."),
    OpenApiParameter("projects", str, description="Comma-separated project ids."),
    OpenApiParameter("clients", str, description="Comma-separated client ids."),
    OpenApiParameter("tags", str, description="Comma-separated tags (any of them)."),
    OpenApiParameter("billable", bool),
]
_GROUP_BY = OpenApiParameter(
    "group_by", str, description="Up to two of project, client, user, task, tag, day, week."
)


class ReportView(GenericAPIView):
    permission_classes = [IsOrganizationMember]
    required_permission = "organization.view"
    params_serializer: type[ReportParamsSerializer] = ReportParamsSerializer

    def report_query(self, request: Request) -> tuple[ReportQuery, dict[str, Any]]:
        params = self.params_serializer(data=query_data(request.query_params))
        params.is_valid(raise_exception=True)
        query = build_report_query(
            organization=request_organization(request),
            actor=required_membership(request),
            params=params.validated_data,
        )
        return query, params.validated_data


class SummaryReportView(ReportView):
    """Totals grouped by up to two dimensions, aggregated in SQL."""

    params_serializer = SummaryParamsSerializer

    @extend_schema(parameters=[*_FILTERS, _GROUP_BY], responses={200: SummarySerializer, **_ERRORS})
    def get(self, request: Request) -> Response:
        query, _ = self.report_query(request)
        # report_summary builds the documented shape itself (SummarySerializer
        # describes it); a serializer pass over 10,000 groups costs more than the SQL.
        return Response(report_summary(query))


class DetailedReportView(ReportView):
    """The entries of a report, newest first, paginated (``count`` included)."""

    pagination_class = StandardPagination
    serializer_class = DetailedEntrySerializer
    queryset = TimeEntry.objects.none()  # for the schema generator; see report_detailed

    @extend_schema(
        parameters=_FILTERS, responses={200: DetailedEntrySerializer(many=True), **_PAGE_ERRORS}
    )
    def get(self, request: Request) -> Response:
        query, _ = self.report_query(request)
        page = self.paginate_queryset(report_detailed(query))
        assert page is not None  # pagination_class is set: always a page
        context = {
            **self.get_serializer_context(),
            "user_names": user_labels({entry.user_id for entry in page}),
            "show_amounts": query.show_amounts,
        }
        data = DetailedEntrySerializer(page, many=True, context=context).data
        return self.get_paginated_response(data)


class ExportReportView(ReportView):
    """The detailed or summary report as a CSV or XLSX download, streamed."""

    params_serializer = ExportParamsSerializer

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # ``?format=`` here names the file format, not DRF's renderer override;
        # errors are always JSON, the file itself bypasses renderers.
        return JSONRenderer(), JSONRenderer.media_type

    @extend_schema(
        parameters=[
            *_FILTERS,
            _GROUP_BY,
            OpenApiParameter("format", str, enum=["csv", "xlsx"], description="Default csv."),
            OpenApiParameter(
                "type", str, enum=["detailed", "summary"], description="Default detailed."
            ),
        ],
        responses={
            (200, CSV_CONTENT_TYPE.split(";")[0]): OpenApiResponse(OpenApiTypes.BINARY),
            (200, XLSX_CONTENT_TYPE): OpenApiResponse(OpenApiTypes.BINARY),
            **_ERRORS,
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        query, params = self.report_query(request)
        return export_response(
            request._request, query, file_format=params["format"], report_type=params["type"]
        )
