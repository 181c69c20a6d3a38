"""``POST /api/v1/imports/``: a Toggl Track or Clockify CSV export into this
organization (dry run by default). Thin: validate the form, call
:func:`apps.time_entries.importers.services.time_entries_import` (which
checks who may import what and the file's size)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.openapi import error_responses
from apps.common.parsers import FormParser, MultiPartParser
from apps.organizations.permissions import IsOrganizationMember, required_membership

from ..services import time_entries_import
from .serializers import ImportReportSerializer, ImportRequestSerializer


class ImportView(APIView):
    """Members import their own time; ``entries.manage_all`` (managers and
    above) anyone's; ``create_missing`` needs ``projects.manage``."""

    permission_classes = [IsOrganizationMember]
    required_permission = "time.track"
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": ImportRequestSerializer},
        responses={
            200: OpenApiResponse(ImportReportSerializer, description="Dry run: the report."),
            201: OpenApiResponse(ImportReportSerializer, description="Imported (`created`)."),
            **error_responses(
                "invalid",
                "parse_error",
                "invalid_characters",
                "too_many_fields",
                "import_too_large",
                "import_bad_encoding",
                "import_malformed",
                "import_unknown_layout",
                "import_empty",
                "import_too_many_rows",
                "import_invalid",
                "not_a_member",
                "two_factor_required",
                "role_required",
                "import_conflict",
                "payment_required",
                "plan_limit_reached",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        form = ImportRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        report = time_entries_import(
            actor=required_membership(request),
            source=data["source"],
            upload=data["file"],
            dry_run=data["dry_run"],
            create_missing=data["create_missing"],
            tz_name=data.get("timezone"),
            day_first=data["day_first"],
        )
        code = status.HTTP_200_OK if data["dry_run"] else status.HTTP_201_CREATED
        return Response(ImportReportSerializer(report).data, status=code)
