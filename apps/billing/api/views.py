"""Billing endpoints: plans (public host), the organization's billing, checkout
and portal (organization host), and the Stripe webhook (public host).

Thin: validate input, call one service or selector, serialize.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.billing import gateway, selectors, services, webhooks
from apps.billing.models import Plan
from apps.common.openapi import WRITE_ERRORS, error_responses
from apps.organizations.permissions import IsOrganizationMember, request_organization

from .serializers import (
    BillingOverviewSerializer,
    CheckoutInputSerializer,
    PlanSerializer,
    SessionUrlSerializer,
    WebhookAckSerializer,
)


class PlanListView(generics.ListAPIView):
    """Plans with limits, features and per-seat prices (public, no login)."""

    serializer_class = PlanSerializer
    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get_queryset(self) -> QuerySet[Plan]:
        return selectors.plan_list()

    @extend_schema(summary="List plans", responses=PlanSerializer(many=True))
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class BillingView(APIView):
    """The organization's plan, subscription state, seats and usage vs limits."""

    permission_classes = [IsOrganizationMember]
    required_permission = "billing.view"

    @extend_schema(
        summary="Organization billing",
        responses={
            200: BillingOverviewSerializer,
            **error_responses(*WRITE_ERRORS),
        },
    )
    def get(self, request: Request) -> Response:
        organization = request_organization(request)
        subscription = selectors.subscription_for(organization=organization)
        data = {
            "organization_status": organization.status,
            "subscription": subscription,
            "plan": subscription.plan if subscription else None,
            "usage": selectors.usage_for(organization=organization),
            "billing_configured": gateway.is_configured(),
        }
        return Response(BillingOverviewSerializer(data).data)


class CheckoutView(APIView):
    """Start a Stripe Checkout for a paid plan (owner/admin) → ``{url}``."""

    permission_classes = [IsOrganizationMember]
    required_permission = "billing.manage"

    @extend_schema(
        summary="Create a checkout session",
        request=CheckoutInputSerializer,
        responses={
            200: SessionUrlSerializer,
            **error_responses(
                "invalid",
                "unknown_plan",
                "plan_not_purchasable",
                "not_billable",
                *WRITE_ERRORS,
                "subscription_exists",
                "stripe_error",
                "billing_not_configured",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = CheckoutInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        url = services.checkout_session_create(
            organization=request_organization(request),
            plan_code=serializer.validated_data["plan"],
            user=request.user,
        )
        return Response(SessionUrlSerializer({"url": url}).data)


class PortalView(APIView):
    """Open the Stripe Customer Portal (owner/admin) → ``{url}``."""

    permission_classes = [IsOrganizationMember]
    required_permission = "billing.manage"

    @extend_schema(
        summary="Create a customer portal session",
        request=None,
        responses={
            200: SessionUrlSerializer,
            **error_responses(
                *WRITE_ERRORS, "no_billing_account", "stripe_error", "billing_not_configured"
            ),
        },
    )
    def post(self, request: Request) -> Response:
        url = services.portal_session_create(organization=request_organization(request))
        return Response(SessionUrlSerializer({"url": url}).data)


class StripeWebhookView(APIView):
    """Stripe events. The signature is checked on the raw body; the event is
    stored once and processed by a Celery task after commit. No session or
    token authentication (so no CSRF): the signature is the authentication."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes: list = []

    @extend_schema(
        summary="Stripe webhook",
        request={"application/json": dict},
        responses={
            200: WebhookAckSerializer,
            **error_responses("invalid_signature", "invalid_payload", "billing_not_configured"),
        },
    )
    def post(self, request: Request) -> Response:
        ingested = webhooks.webhook_event_ingest(
            payload=request._request.body,
            signature=request.META.get("HTTP_STRIPE_SIGNATURE"),
        )
        return Response(WebhookAckSerializer(ingested).data, status=status.HTTP_200_OK)
