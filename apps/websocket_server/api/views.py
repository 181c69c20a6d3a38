"""``POST /api/v1/realtime/ticket/``: a single-use ticket to open the socket.

For clients that cannot send the session cookie on the WebSocket: they call
this with their token and open ``/ws/?ticket=...`` within 60 s (see
``apps.websocket_server.tickets`` for why a token never goes in the URL).
Only active members get one, so a ticket never authorizes more than the HTTP
API already does; the socket still re-checks membership when it connects.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.organizations.permissions import IsOrganizationMember

from ..tickets import TICKET_TTL_SECONDS, issue_ticket
from .serializers import RealtimeTicketSerializer


class RealtimeTicketView(APIView):
    """Issue a ticket bound to the caller and this organization."""

    permission_classes = [IsOrganizationMember]

    @extend_schema(
        request=None,
        responses={201: RealtimeTicketSerializer},
        summary="Get a single-use WebSocket ticket (60 s)",
    )
    def post(self, request: Request) -> Response:
        tenant = request._request.tenant
        ticket = issue_ticket(user_id=request.user.pk, schema_name=tenant.schema_name)
        data = {"ticket": ticket, "expires_in": TICKET_TTL_SECONDS}
        return Response(RealtimeTicketSerializer(data).data, status=status.HTTP_201_CREATED)
