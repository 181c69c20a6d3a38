"""Authentication views: dj-rest-auth's, adapted to per-login hashed tokens
and the login lockout."""

from __future__ import annotations

from allauth.account import app_settings as allauth_settings
from dj_rest_auth import views as rest_auth_views
from dj_rest_auth.registration import views as registration_views
from django.contrib.auth import logout as django_logout
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.errors import ApplicationError
from apps.common.openapi import INPUT_ERRORS, error_responses
from apps.iam import lockout
from apps.iam.authentication import authenticated_user
from apps.iam.models import AuthToken, User
from apps.iam.tokens import token_create, tokens_revoke

from .serializers import LoginSerializer, RegisterSerializer

_detail = inline_serializer("Detail", {"detail": serializers.CharField()})


class LoginView(rest_auth_views.LoginView):
    """``POST /api/v1/auth/login/ {email, password}`` → ``{key}`` + session cookie.

    A locked account or address gets 429 ``login_locked`` before the password
    is even checked (so the lock cannot be used to probe passwords).
    """

    throttle_scope = "login"

    @extend_schema(
        responses={
            200: LoginSerializer,
            **error_responses(
                *INPUT_ERRORS, "otp_required", "otp_invalid", "login_locked", "throttled"
            ),
        }
    )
    def post(self, request: Request, *args: object, **kwargs: object) -> Response:
        data = request.data
        email = data.get("email", "") if isinstance(data, dict) else ""
        # A non-string email is refused by the serializer below; it names no account.
        wait = lockout.locked_for(email=email if isinstance(email, str) else "", request=request)
        if wait:
            raise ApplicationError(
                "Too many failed logins: try again later.",
                code="login_locked",
                status_code=status.HTTP_429_TOO_MANY_REQUESTS,
                extra={"retry_after_seconds": wait},
            )
        return super().post(request, *args, **kwargs)


class LogoutView(APIView):
    """``POST /api/v1/auth/logout/``: revokes the token used (and the session)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses=_detail)
    def post(self, request: Request) -> Response:
        if isinstance(request.auth, AuthToken):
            request.auth.delete()
        django_logout(request._request)
        return Response({"detail": "Successfully logged out."})


class PasswordChangeView(rest_auth_views.PasswordChangeView):
    """Changing the password revokes every other token of the user."""

    def post(self, request: Request, *args: object, **kwargs: object) -> Response:
        response = super().post(request, *args, **kwargs)
        keep = request.auth if isinstance(request.auth, AuthToken) else None
        tokens_revoke(user=authenticated_user(request), keep=keep)
        return response


class PasswordResetConfirmView(rest_auth_views.PasswordResetConfirmView):
    """Resetting the password revokes every token of the user."""

    def post(self, request: Request, *args: object, **kwargs: object) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        tokens_revoke(user=serializer.user)
        return Response({"detail": "Password has been reset with the new password."})


class PasswordResetLinkView(APIView):
    """Target of the link in the reset email: hands uid/token to the client app,
    which posts them with the new password to ``password/reset/confirm/``."""

    permission_classes: list = []
    authentication_classes: list = []

    @extend_schema(
        responses=inline_serializer(
            "PasswordResetLink", {"uid": serializers.CharField(), "token": serializers.CharField()}
        )
    )
    def get(self, request: Request, uidb64: str, token: str) -> Response:
        return Response({"uid": uidb64, "token": token})


class EmailConfirmLinkView(APIView):
    """Target of the link in the verification email: hands the key to the client
    app, which posts it to ``registration/verify-email/``."""

    permission_classes: list = []
    authentication_classes: list = []

    @extend_schema(
        responses=inline_serializer("EmailConfirmLink", {"key": serializers.CharField()})
    )
    def get(self, request: Request, key: str) -> Response:
        return Response({"key": key})


class RegisterView(registration_views.RegisterView):
    """``POST /api/v1/auth/registration/``: with optional verification the
    response carries a fresh token; with mandatory verification only a detail."""

    _new_key: str | None = None

    def perform_create(self, serializer: RegisterSerializer) -> User:
        user = serializer.save(self.request)
        mandatory = (
            allauth_settings.EMAIL_VERIFICATION
            == allauth_settings.EmailVerificationMethod.MANDATORY
        )
        if not mandatory:
            _, self._new_key = token_create(user=user, name="registration")
        registration_views.complete_signup(
            self.request._request, user, allauth_settings.EMAIL_VERIFICATION, None
        )
        return user

    def get_response_data(self, user: User) -> dict[str, str]:
        if self._new_key is None:
            return {"detail": "Verification e-mail sent."}
        return {"key": self._new_key}


class VerificationSentView(APIView):
    """Named target allauth redirects to after sending a verification email."""

    permission_classes: list = []
    authentication_classes: list = []

    @extend_schema(responses=_detail)
    def get(self, request: Request) -> Response:
        return Response({"detail": "Verification e-mail sent."})
