"""Views for signup (public host), my organizations, settings and members.

Each operation documents the error codes it answers (``error_responses``).
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from apps.common.openapi import (
    INPUT_ERRORS,
    MEMBER_ERRORS,
    PAGE_ERRORS,
    WRITE_ERRORS,
    error_responses,
)
from apps.common.serializers import bound_instance
from apps.iam.authentication import authenticated_user
from apps.iam.tokens import token_create
from apps.organizations import selectors, services
from apps.organizations.models import Membership, Organization
from apps.organizations.permissions import (
    IsOrganizationMember,
    request_membership,
    request_organization,
    required_membership,
)
from apps.time_entries.money import may_view_money

from .serializers import (
    MemberSerializer,
    MemberUpdateSerializer,
    MemberWithTermsSerializer,
    MyOrganizationSerializer,
    OrganizationSettingsSerializer,
    OrganizationSummarySerializer,
    SignupResponseSerializer,
    SignupSerializer,
)


class SignupView(APIView):
    """``POST /api/v1/signup/``: user + organization + schema + owner, atomic."""

    permission_classes = [AllowAny]
    throttle_scope = "signup"

    @extend_schema(
        request=SignupSerializer,
        responses={
            201: SignupResponseSerializer,
            **error_responses(
                *INPUT_ERRORS,
                "slug_invalid",
                "slug_length",
                "slug_reserved",
                "slug_taken",
                "email_taken",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = SignupSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = services.organization_signup(
            organization_name=data["organization_name"],
            slug=data["slug"],
            user=request.user if request.user.is_authenticated else None,
            email=data.get("email", ""),
            password=data.get("password", ""),
            first_name=data.get("first_name", ""),
            last_name=data.get("last_name", ""),
        )
        _, key = token_create(user=result.user, name="signup")
        body = {
            "organization": OrganizationSummarySerializer(result.organization).data,
            "user": {"id": result.user.id, "email": result.user.email},
            "token": key,
        }
        return Response(body, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(
        responses={200: MyOrganizationSerializer(many=True), **error_responses(*PAGE_ERRORS)}
    )
)
class MyOrganizationsView(generics.ListAPIView):
    """``GET /api/v1/organizations/``: the caller's organizations and roles."""

    permission_classes = [IsAuthenticated]
    serializer_class = MyOrganizationSerializer
    queryset = Membership.objects.none()  # for the schema generator; see get_queryset

    def get_queryset(self) -> QuerySet[Membership]:
        return selectors.memberships_of_user(user=authenticated_user(self.request))


@extend_schema_view(
    get=extend_schema(
        responses={200: OrganizationSettingsSerializer, **error_responses(*MEMBER_ERRORS)}
    ),
    patch=extend_schema(
        responses={
            200: OrganizationSettingsSerializer,
            **error_responses(
                *INPUT_ERRORS, *WRITE_ERRORS, "two_factor_required_for_actor", "currency_in_use"
            ),
        }
    ),
)
class OrganizationSettingsView(generics.RetrieveUpdateAPIView):
    """``GET/PATCH /api/v1/organization/`` on the organization host (PATCH: admin+)."""

    permission_classes = [IsOrganizationMember]
    read_permission = "organization.view"
    write_permission = "organization.update"
    serializer_class = OrganizationSettingsSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def get_object(self) -> Organization:
        return required_membership(self.request).organization

    def finalize_response(
        self, request: Request, response: Response, *args: object, **kwargs: object
    ) -> Response:
        """``default_hourly_rate`` is money that is not the caller's own time:
        ``null`` for callers the one money rule
        (:func:`apps.time_entries.money.may_view_money`) does not allow. The
        field stays in the body (API.md names it; the schema marks it
        nullable, as the model is), like every other hidden amount."""
        data = getattr(response, "data", None)
        if (
            response.status_code < 300
            and isinstance(data, dict)
            and "default_hourly_rate" in data
            and not may_view_money(actor=request_membership(request), owner_ids=None)
        ):
            data["default_hourly_rate"] = None
        return super().finalize_response(request, response, *args, **kwargs)

    def perform_update(self, serializer: BaseSerializer[Organization]) -> None:
        serializer.instance = services.organization_update(
            actor=required_membership(self.request),
            organization=bound_instance(serializer),
            data=serializer.validated_data,
        )


@extend_schema_view(
    list=extend_schema(
        responses={
            200: MemberSerializer(many=True),
            **error_responses(*PAGE_ERRORS, *MEMBER_ERRORS),
        }
    ),
    retrieve=extend_schema(
        responses={200: MemberSerializer, **error_responses(*MEMBER_ERRORS, "not_found")}
    ),
    destroy=extend_schema(
        responses={204: None, **error_responses(*WRITE_ERRORS, "not_found", "last_owner")}
    ),
)
class MemberViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Members of the host's organization. Changing roles and removing others is
    admin+ (owners for owners); anyone may remove themselves (leave)."""

    permission_classes = [IsOrganizationMember]
    required_permission = "members.view"
    serializer_class = MemberSerializer
    queryset = Membership.objects.none()  # for the schema generator; see get_queryset
    http_method_names = ["get", "patch", "delete", "post", "head", "options"]

    def get_queryset(self) -> QuerySet[Membership]:
        return selectors.members_of(organization=request_organization(self.request))

    def get_serializer_class(self) -> type[MemberSerializer]:
        """A member's rate and expected hours: only for roles with ``rates.view``,
        and only on one member (read or PATCH); the list keeps one field set
        for every role."""
        membership = request_membership(self.request) if self.request else None
        if self.action != "list" and may_view_money(actor=membership, owner_ids=None):
            return MemberWithTermsSerializer
        return MemberSerializer

    @extend_schema(
        request=MemberUpdateSerializer,
        responses={
            200: MemberWithTermsSerializer,
            **error_responses(*INPUT_ERRORS, *WRITE_ERRORS, "not_found", "last_owner"),
        },
    )
    def partial_update(self, request: Request, *args: object, **kwargs: object) -> Response:
        membership = self.get_object()
        body = MemberUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        actor = required_membership(request)
        updated = membership
        if "role" in data:
            updated = services.member_change_role(
                actor=actor, membership=membership, role=data.pop("role")
            )
        if data:
            updated = services.member_update_terms(actor=actor, membership=updated, data=data)
        return Response(self.get_serializer(updated).data)

    def destroy(self, request: Request, *args: object, **kwargs: object) -> Response:
        services.member_remove(actor=required_membership(request), membership=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=None,
        responses={
            200: MemberSerializer,
            **error_responses(*INPUT_ERRORS, *WRITE_ERRORS, "not_found"),
        },
    )
    @action(detail=True, methods=["post"], url_path="transfer-ownership")
    def transfer_ownership(self, request: Request, pk: str | None = None) -> Response:
        target = services.ownership_transfer(
            actor=required_membership(request), membership=self.get_object()
        )
        return Response(MemberSerializer(target).data)
