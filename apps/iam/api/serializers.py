"""Serializers for authentication endpoints (dj-rest-auth, email as the login)."""

from __future__ import annotations

from typing import Any

from dj_rest_auth.registration.serializers import RegisterSerializer as BaseRegisterSerializer
from dj_rest_auth.serializers import LoginSerializer as BaseLoginSerializer
from django.http import HttpRequest
from rest_framework import serializers

from apps.common.errors import ApplicationError
from apps.iam import lockout
from apps.iam.models import User
from apps.iam.two_factor import two_factor_login_required, two_factor_verified_device


class LoginSerializer(BaseLoginSerializer):
    """``{email, password, otp?}``: dj-rest-auth's serializer without the username.

    With any confirmed device (authenticator, backup or operator code),
    ``otp`` is required:
    missing → 400 ``otp_required``, wrong → 400 ``otp_invalid``.
    """

    username = None
    email = serializers.EmailField(required=True)
    otp = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=32,
        trim_whitespace=True,
        help_text="Two-factor code (authenticator or backup code) when two-factor is on.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """The password first (the parent), then the second factor.

        Checking ``otp`` only after the password means ``otp_required`` never
        tells a stranger whether an account uses two-factor. The two-factor
        answers are ``ApplicationError``s, not validation errors, because
        clients branch on the top-level ``code`` (a ``ValidationError`` always
        leaves the API as ``invalid``); they escape ``is_valid()``, so the view
        never reaches its token and session creation.
        """
        attrs = super().validate(attrs)
        user = attrs["user"]
        # Any confirmed device, not only TOTP: an operator's bootstrap code
        # (static device) must not be skippable by leaving ``otp`` out.
        if not two_factor_login_required(user=user):
            return attrs
        code = attrs.get("otp", "")
        if not code:
            raise ApplicationError(
                "Two-factor code required.",
                code="otp_required",
                extra={"fields": {"otp": ["Enter the code from your authenticator app."]}},
            )
        device = two_factor_verified_device(user=user, code=code)
        if device is None:
            # A right password with a wrong code is still a failed login: it
            # counts towards the lockout like a wrong password would.
            lockout.record_failure(email=user.email, request=self.context.get("request"))
            raise ApplicationError(
                "The two-factor code is not valid.",
                code="otp_invalid",
                extra={"fields": {"otp": ["The code is not valid."]}},
            )
        # django-otp's user_logged_in receiver marks the session as verified
        # with this device when the view logs the user in.
        user.otp_device = device
        return attrs


class TokenSerializer(serializers.Serializer):
    """The login response: the raw token key, shown once."""

    key = serializers.CharField(read_only=True)


class RegisterSerializer(BaseRegisterSerializer):
    """``{email, password1, password2, first_name?, last_name?}``."""

    username = None
    first_name = serializers.CharField(required=False, allow_blank=True, max_length=150)
    last_name = serializers.CharField(required=False, allow_blank=True, max_length=150)

    def get_cleaned_data(self) -> dict[str, Any]:
        data = super().get_cleaned_data()
        data["first_name"] = self.validated_data.get("first_name", "")
        data["last_name"] = self.validated_data.get("last_name", "")
        return data

    def custom_signup(self, request: HttpRequest, user: User) -> None:
        user.first_name = self.validated_data.get("first_name", "")
        user.last_name = self.validated_data.get("last_name", "")
        user.save(update_fields=["first_name", "last_name"])


class UserDetailsSerializer(serializers.ModelSerializer):
    """``GET/PATCH /api/v1/auth/user/``: the caller's profile (email is read-only).

    ``language`` (optional, "" = the browser's) is the web app's language; the
    account page (apps/iam/web/account.py) saves through this serializer too.
    """

    class Meta:
        model = User
        fields = ["id", "email", "first_name", "last_name", "timezone", "avatar_url", "language"]
        read_only_fields = ["id", "email"]
