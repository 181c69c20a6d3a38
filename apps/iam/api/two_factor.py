"""Two-factor endpoints under ``/api/v1/auth/2fa/`` (the caller's own devices).

Thin views over ``apps.iam.two_factor``; the rules and error codes live there
(each operation documents the codes it answers).
Reachable on every host, so a member whose organization requires two-factor
can turn it on without leaving that organization's host.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.openapi import INPUT_ERRORS, error_responses
from apps.iam.authentication import authenticated_user
from apps.iam.two_factor import (
    two_factor_confirm,
    two_factor_disable,
    two_factor_enabled,
    two_factor_setup,
)


class TwoFactorStatusSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(read_only=True)


class TwoFactorSetupSerializer(serializers.Serializer):
    secret = serializers.CharField(read_only=True, help_text="Base32 TOTP secret.")
    otpauth_url = serializers.CharField(
        read_only=True, help_text="``otpauth://totp/...`` URL, for a QR code."
    )


class TwoFactorCodeSerializer(serializers.Serializer):
    code = serializers.CharField(
        max_length=32, help_text="A code from the authenticator app (or a backup code)."
    )


class TwoFactorBackupCodesSerializer(serializers.Serializer):
    backup_codes = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="Single-use; shown only once."
    )


def _code(request: Request) -> str:
    serializer = TwoFactorCodeSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data["code"]


class TwoFactorStatusView(APIView):
    """``GET /api/v1/auth/2fa/`` → ``{enabled}``."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=TwoFactorStatusSerializer)
    def get(self, request: Request) -> Response:
        return Response({"enabled": two_factor_enabled(user=authenticated_user(request))})


class TwoFactorSetupView(APIView):
    """``POST /api/v1/auth/2fa/setup/`` → ``{secret, otpauth_url}`` of a new,
    not yet active device (409 ``two_factor_already_enabled`` when on; 403
    ``staff_enrolment_needs_operator_code`` for staff without any device)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={
            200: TwoFactorSetupSerializer,
            **error_responses("staff_enrolment_needs_operator_code", "two_factor_already_enabled"),
        },
    )
    def post(self, request: Request) -> Response:
        setup = two_factor_setup(user=authenticated_user(request))
        return Response({"secret": setup.secret, "otpauth_url": setup.otpauth_url})


class TwoFactorConfirmView(APIView):
    """``POST /api/v1/auth/2fa/confirm/ {code}`` → ``{backup_codes}``: turns
    two-factor on (400 ``otp_invalid`` / ``two_factor_not_set_up``)."""

    permission_classes = [IsAuthenticated]
    throttle_scope = "dj_rest_auth"

    @extend_schema(
        request=TwoFactorCodeSerializer,
        responses={
            200: TwoFactorBackupCodesSerializer,
            **error_responses(
                *INPUT_ERRORS,
                "otp_invalid",
                "two_factor_not_set_up",
                "staff_enrolment_needs_operator_code",
                "two_factor_already_enabled",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        codes = two_factor_confirm(user=authenticated_user(request), code=_code(request))
        return Response({"backup_codes": codes})


class TwoFactorDisableView(APIView):
    """``POST /api/v1/auth/2fa/disable/ {code}`` → 204: turns two-factor off
    (a valid TOTP or backup code is required)."""

    permission_classes = [IsAuthenticated]
    throttle_scope = "dj_rest_auth"

    @extend_schema(
        request=TwoFactorCodeSerializer,
        responses={
            204: None,
            **error_responses(*INPUT_ERRORS, "otp_invalid", "two_factor_not_set_up"),
        },
    )
    def post(self, request: Request) -> Response:
        two_factor_disable(user=authenticated_user(request), code=_code(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
