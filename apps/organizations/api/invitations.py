"""Invitations API: manage them on the organization host, accept on the public host.

Thin by design: the views validate input, call one service from
``apps.organizations.services`` and serialize the result. Each operation
documents the error codes it answers (``error_responses``).
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.openapi import INPUT_ERRORS, PAGE_ERRORS, WRITE_ERRORS, error_responses
from apps.iam.tokens import token_create
from apps.organizations import services
from apps.organizations.constants import Role
from apps.organizations.models import INVITATION_EXPIRED, Invitation, InvitationStatus
from apps.organizations.permissions import (
    IsOrganizationMember,
    request_organization,
    required_membership,
)

from .serializers import MemberUserSerializer, OrganizationSummarySerializer

# --- serializers -----------------------------------------------------------------


class InvitationCreateSerializer(serializers.Serializer):
    """Input of ``POST /api/v1/invitations/``."""

    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)


class InvitationSerializer(serializers.ModelSerializer):
    """An invitation as admins see it (never the token, which only the email holds).

    ``status`` is ``expired`` for a pending invitation past ``expires_at``.
    """

    status = serializers.ChoiceField(
        source="effective_status",
        choices=[*InvitationStatus.choices, (INVITATION_EXPIRED, "Expired")],
        read_only=True,
    )
    invited_by = MemberUserSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "status", "expires_at", "invited_by", "created_at"]
        read_only_fields = fields


class InvitationAcceptSerializer(serializers.Serializer):
    """Input of ``POST /api/v1/invitations/accept/``.

    ``password`` (and the names) are used only when the caller is anonymous:
    they create the invitee's account.
    """

    token = serializers.CharField(max_length=200, trim_whitespace=True)
    password = serializers.CharField(
        required=False,
        allow_blank=True,
        write_only=True,
        trim_whitespace=False,
        style={"input_type": "password"},
    )
    first_name = serializers.CharField(required=False, allow_blank=True, max_length=150)
    last_name = serializers.CharField(required=False, allow_blank=True, max_length=150)


class InvitationAcceptResponseSerializer(serializers.Serializer):
    organization = OrganizationSummarySerializer()
    role = serializers.ChoiceField(choices=Role.choices)
    membership_id = serializers.UUIDField()
    token = serializers.CharField(
        required=False, help_text="API token of the account just created (new users only)."
    )


# --- views -----------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        responses={
            200: InvitationSerializer(many=True),
            **error_responses(*PAGE_ERRORS, *WRITE_ERRORS),
        }
    )
)
class InvitationViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Invitations of the host's organization (admin+; owner invitations: owners).

    The list shows pending ones (expired included, so they can be resent);
    DELETE revokes.
    """

    permission_classes = [IsOrganizationMember]
    required_permission = "invitations.manage"
    serializer_class = InvitationSerializer
    lookup_value_regex = "[0-9a-fA-F-]{36}"  # "accept/" and other words are not ids

    def get_queryset(self) -> QuerySet[Invitation]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no host
            return Invitation.objects.none()
        invitations = Invitation.objects.filter(
            organization_id=request_organization(self.request).pk
        ).select_related("invited_by")
        # Detail actions see every state, so a used/revoked one answers 409, not 404.
        return invitations.pending() if self.action == "list" else invitations

    @extend_schema(
        request=InvitationCreateSerializer,
        responses={
            201: InvitationSerializer,
            **error_responses(*INPUT_ERRORS, *WRITE_ERRORS, "already_member", "invitation_pending"),
        },
    )
    def create(self, request: Request, *args: object, **kwargs: object) -> Response:
        body = InvitationCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        invitation, _ = services.invitation_create(
            actor=required_membership(request),
            email=body.validated_data["email"],
            role=body.validated_data["role"],
        )
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={
            204: None,
            **error_responses(*WRITE_ERRORS, "not_found", "invitation_not_pending"),
        }
    )
    def destroy(self, request: Request, *args: object, **kwargs: object) -> Response:
        services.invitation_revoke(actor=required_membership(request), invitation=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=None,
        responses={
            200: InvitationSerializer,
            **error_responses(
                *INPUT_ERRORS,
                *WRITE_ERRORS,
                "not_found",
                "invitation_not_pending",
                "already_member",
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def resend(self, request: Request, pk: str | None = None) -> Response:
        invitation, _ = services.invitation_resend(
            actor=required_membership(request), invitation=self.get_object()
        )
        return Response(InvitationSerializer(invitation).data)


class InvitationAcceptView(APIView):
    """``/api/v1/invitations/accept/`` on the public host.

    POST accepts, as the logged-in user (whose email must be the invited one)
    or as a new account (``password`` required), and answers with the
    organization joined. GET hands a ``?token=`` back to a client app (the
    emailed link opens the web page ``/invitations/<token>/``, which accepts
    through the same service).
    """

    permission_classes = [AllowAny]
    throttle_scope = "invitation_accept"

    @extend_schema(
        parameters=[OpenApiParameter("token", str, required=True)],
        responses={
            200: inline_serializer("InvitationLink", {"token": serializers.CharField()}),
            **error_responses("invalid_characters", "too_many_fields"),
        },
    )
    def get(self, request: Request) -> Response:
        return Response({"token": request.query_params.get("token", "")})

    @extend_schema(
        request=InvitationAcceptSerializer,
        responses={
            200: InvitationAcceptResponseSerializer,
            **error_responses(
                *INPUT_ERRORS,
                "invitation_invalid",
                "invitation_expired",
                "invitation_email_mismatch",
                "email_taken",
                "plan_limit_reached",
                "already_member",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        body = InvitationAcceptSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        user = request.user if request.user.is_authenticated else None
        is_new_user = user is None
        membership = services.invitation_accept(
            raw_token=data["token"],
            user=user,
            password=data.get("password", ""),
            first_name=data.get("first_name", ""),
            last_name=data.get("last_name", ""),
        )
        result: dict[str, object] = {
            "organization": membership.organization,
            "role": membership.role,
            "membership_id": membership.id,
        }
        if is_new_user:
            _, result["token"] = token_create(user=membership.user, name="invitation")
        return Response(InvitationAcceptResponseSerializer(result).data)
