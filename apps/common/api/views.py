"""Host metadata: tells a client which host it is talking to.

It lets a client (and the routing tests) check that ``<slug>.<base>`` reached
the right organization without needing an account there; it exposes only what
the host name already reveals plus the organization's display name and status.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class HostOrganizationSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField()


class HostMetaSerializer(serializers.Serializer):
    host = serializers.ChoiceField(choices=["public", "organization"])
    organization = HostOrganizationSerializer(allow_null=True)
    api_version = serializers.CharField()


class HostMetaView(APIView):
    """``GET /api/v1/meta/`` on any host."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses=HostMetaSerializer, summary="Which host is this?")
    def get(self, request: Request) -> Response:
        tenant = getattr(request._request, "tenant", None)
        data = {
            "host": "organization" if tenant is not None else "public",
            "organization": (
                {"slug": tenant.slug, "name": tenant.name, "status": tenant.status}
                if tenant is not None
                else None
            ),
            "api_version": "v1",
        }
        return Response(HostMetaSerializer(data).data)
