"""Import endpoint (being built)."""

from rest_framework.response import Response
from rest_framework.views import APIView

from apps.organizations.permissions import IsOrganizationMember


class ImportView(APIView):
    permission_classes = [IsOrganizationMember]
    required_permission = "time.track"

    def post(self, request):  # type: ignore[no-untyped-def]
        return Response({"code": "not_implemented", "message": "Soon."}, status=501)
