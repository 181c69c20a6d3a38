"""Serializers for authentication endpoints (dj-rest-auth, email as the login)."""

from __future__ import annotations

import zoneinfo
from typing import Any

from dj_rest_auth.registration.serializers import RegisterSerializer as BaseRegisterSerializer
from dj_rest_auth.serializers import LoginSerializer as BaseLoginSerializer
from rest_framework import serializers

from apps.iam.models import User


class LoginSerializer(BaseLoginSerializer):
    """``{email, password}``: dj-rest-auth's serializer without the username."""

    username = None
    email = serializers.EmailField(required=True)


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

    def custom_signup(self, request: Any, user: User) -> None:
        user.first_name = self.validated_data.get("first_name", "")
        user.last_name = self.validated_data.get("last_name", "")
        user.save(update_fields=["first_name", "last_name"])


class UserDetailsSerializer(serializers.ModelSerializer):
    """``GET/PATCH /api/v1/auth/user/``: the caller's profile (email is read-only)."""

    class Meta:
        model = User
        fields = ["id", "email", "first_name", "last_name", "timezone", "avatar_url"]
        read_only_fields = ["id", "email"]

    def validate_timezone(self, value: str) -> str:
        if value not in zoneinfo.available_timezones():
            raise serializers.ValidationError("Unknown time zone.")
        return value
