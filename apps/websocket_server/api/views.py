"""Realtime HTTP endpoints: the socket ticket and the presence list.

``POST /api/v1/realtime/ticket/``: a single-use ticket to open the socket.

For clients that cannot send the session cookie on the WebSocket: they call
this with their token and open ``/ws/?ticket=...`` within 60 s (see
``apps.websocket_server.tickets`` for why a token never goes in the URL).
Only active members get one, so a ticket never authorizes more than the HTTP
API already does; the socket still re-checks membership when it connects.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.errors import ApplicationError
from apps.common.openapi import MEMBER_ERRORS, PAGE_ERRORS, error_responses
from apps.common.pagination import StandardPagination
from apps.organizations.constants import MembershipStatus
from apps.organizations.models import Membership
from apps.organizations.permissions import IsOrganizationMember, request_organization

from .. import presence
from ..auth import credential_ids
from ..tickets import TICKET_TTL_SECONDS, TicketUnavailable, issue_ticket
from .serializers import PresenceSerializer, RealtimeTicketSerializer


class RealtimeTicketView(APIView):
    """Issue a ticket bound to the caller and this organization."""

    permission_classes = [IsOrganizationMember]
    throttle_scope = "realtime_ticket"

    @extend_schema(
        request=None,
        responses={
            201: RealtimeTicketSerializer,
            **error_responses(
                "not_authenticated",
                "authentication_failed",
                *MEMBER_ERRORS,
                "throttled",
                "realtime_unavailable",
            ),
        },
        summary="Get a single-use WebSocket ticket (60 s)",
    )
    def post(self, request: Request) -> Response:
        tenant = request_organization(request)
        credentials = credential_ids(request._request)
        try:
            ticket = issue_ticket(
                user_id=request.user.pk,
                schema_name=tenant.schema_name,
                credential=credentials[-1] if credentials else "",
            )
        except TicketUnavailable as error:
            raise ApplicationError(
                "Realtime is unavailable right now; try again shortly.",
                code="realtime_unavailable",
                status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            ) from error
        data = {"ticket": ticket, "expires_in": TICKET_TTL_SECONDS}
        return Response(RealtimeTicketSerializer(data).data, status=status.HTTP_201_CREATED)


class PresenceListView(generics.GenericAPIView):
    """``GET /api/v1/realtime/presence/``: every active member with their
    state (online / away / offline), computed from live socket entries in
    Redis, so a crashed server's sockets stop counting once they expire.
    Members only; paginated over the memberships."""

    permission_classes = [IsOrganizationMember]
    pagination_class = StandardPagination
    serializer_class = PresenceSerializer
    queryset = Membership.objects.none()  # for the schema generator

    @extend_schema(
        responses={
            200: PresenceSerializer(many=True),
            **error_responses(
                *PAGE_ERRORS,
                "not_authenticated",
                "authentication_failed",
                *MEMBER_ERRORS,
                "presence_unavailable",
            ),
        },
        summary="Presence of the organization's members",
    )
    def get(self, request: Request) -> Response:
        tenant = request_organization(request)
        members = Membership.objects.filter(
            organization_id=tenant.pk, status=MembershipStatus.ACTIVE
        ).order_by("joined_at", "id")
        page = self.paginate_queryset(members.values_list("user_id", flat=True))
        if page is None:  # only without a pagination_class
            raise TypeError("PresenceListView must paginate")
        try:
            states = presence.states_of(schema_name=tenant.schema_name, user_ids=list(page))
        except Exception as error:
            raise ApplicationError(
                "Presence is unavailable right now.",
                code="presence_unavailable",
                status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            ) from error
        rows = [{"user": user, **states[str(user)]} for user in page]
        return self.get_paginated_response(PresenceSerializer(rows, many=True).data)
