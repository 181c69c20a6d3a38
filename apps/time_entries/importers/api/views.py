"""``POST /api/v1/imports/``: a Toggl Track or Clockify CSV export into this
organization (dry run by default). Thin: validate the form, check the size,
call :func:`apps.time_entries.importers.services.time_entries_import`."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.errors import ApplicationError
from apps.common.parsers import FormParser, MultiPartParser
from apps.organizations.permissions import IsOrganizationMember, request_membership, role_has

from ..parsing import MAX_FILE_BYTES
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
            400: OpenApiResponse(
                description="`invalid` (form), `import_too_large`, `import_bad_encoding`, "
                "`import_malformed`, `import_unknown_layout`, `import_empty`, "
                "`import_too_many_rows`, or `import_invalid` (row errors; `report` holds "
                "the report, nothing was written)."
            ),
            401: OpenApiResponse(description="`not_authenticated`"),
            403: OpenApiResponse(description="`not_a_member`, `role_required`"),
            409: OpenApiResponse(description="`import_conflict`: a concurrent write won."),
        },
    )
    def post(self, request: Request) -> Response:
        form = ImportRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        membership = request_membership(request)
        assert membership is not None  # guaranteed by the permission class
        if data["create_missing"] and not role_has(membership.role, "projects.manage"):
            raise ApplicationError(
                "Only managers may create projects during an import.",
                code="role_required",
                status_code=status.HTTP_403_FORBIDDEN,
            )
        upload = data["file"]
        if upload.size > MAX_FILE_BYTES:
            raise ApplicationError(
                f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB: "
                "export a shorter date range.",
                code="import_too_large",
            )
        report = time_entries_import(
            membership=membership,
            source=data["source"],
            content=upload.read(MAX_FILE_BYTES + 1),
            dry_run=data["dry_run"],
            create_missing=data["create_missing"],
            tz_name=data.get("timezone"),
            day_first=data["day_first"],
        )
        code = status.HTTP_200_OK if data["dry_run"] else status.HTTP_201_CREATED
        return Response(ImportReportSerializer(report).data, status=code)
