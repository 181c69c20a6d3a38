"""Serializers for signup, organizations, settings and members."""

from __future__ import annotations

from typing import TypedDict

from rest_framework import serializers

from apps.common.serializers import currency_input
from apps.organizations.constants import Role
from apps.organizations.models import Membership, Organization
from apps.organizations.selectors import organization_url


class Rounding(TypedDict):
    """How reported durations are rounded (``rounding`` in the settings)."""

    mode: str
    minutes: int


class SignupSerializer(serializers.Serializer):
    """Input of ``POST /api/v1/signup/``; email/password only when anonymous."""

    organization_name = serializers.CharField(max_length=200)
    slug = serializers.CharField(max_length=63)
    email = serializers.EmailField(required=False)
    password = serializers.CharField(
        required=False, write_only=True, trim_whitespace=False, style={"input_type": "password"}
    )
    first_name = serializers.CharField(required=False, allow_blank=True, max_length=150)
    last_name = serializers.CharField(required=False, allow_blank=True, max_length=150)

    def validate(self, attrs: dict[str, object]) -> dict[str, object]:
        request = self.context["request"]
        if not request.user.is_authenticated:
            missing = {
                f: ["This field is required."] for f in ("email", "password") if not attrs.get(f)
            }
            if missing:
                raise serializers.ValidationError(missing)
        return attrs


class OrganizationSummarySerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Organization
        fields = ["id", "name", "slug", "url", "status"]

    def get_url(self, obj: Organization) -> str:
        return organization_url(obj)


class SignupUserSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()


class SignupResponseSerializer(serializers.Serializer):
    organization = OrganizationSummarySerializer()
    user = SignupUserSerializer()
    token = serializers.CharField()


class MyOrganizationSerializer(serializers.Serializer):
    """One row of ``GET /api/v1/organizations/``."""

    id = serializers.UUIDField(source="organization.id")
    name = serializers.CharField(source="organization.name")
    slug = serializers.CharField(source="organization.slug")
    url = serializers.SerializerMethodField()
    role = serializers.CharField()
    status = serializers.CharField(source="organization.status")

    def get_url(self, obj: Membership) -> str:
        return organization_url(obj.organization)


class OrganizationSettingsSerializer(serializers.ModelSerializer):
    """``GET/PATCH /api/v1/organization/``."""

    url = serializers.SerializerMethodField()
    rounding = serializers.SerializerMethodField()

    class Meta:
        model = Organization
        fields = [
            "id",
            "name",
            "slug",
            "url",
            "status",
            "timezone",
            "week_start",
            "currency",
            "default_hourly_rate",
            "idle_threshold_minutes",
            "rounding_mode",
            "rounding_minutes",
            "rounding",
            "require_two_factor",
            "allow_overlapping_entries",
            "members_see_rates",
            "forgotten_timer_hours",
            "auto_stop_timers",
            "timesheet_period",
            "allow_self_approval",
            "approvers_limited_to_managed_projects",
            "auto_submit_timesheets",
            "ai_external_llm_enabled",
            "created_at",
        ]
        read_only_fields = ["id", "slug", "url", "status", "created_at"]
        extra_kwargs = {
            "name": {"required": False, "allow_blank": False},
            # The model's ISO 4217 validator runs in validate_currency, after
            # upper-casing ("eur" is accepted as EUR).
            "currency": {"validators": []},
        }

    def get_url(self, obj: Organization) -> str:
        return organization_url(obj)

    def get_rounding(self, obj: Organization) -> Rounding:
        return {"mode": obj.rounding_mode, "minutes": obj.rounding_minutes}

    def validate_currency(self, value: str) -> str:
        stored = self.instance.currency if self.instance is not None else None
        return currency_input(value, stored=stored, blank=False)


class MemberUserSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()


class MemberSerializer(serializers.ModelSerializer):
    user = MemberUserSerializer(read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "role", "status", "joined_at"]
        read_only_fields = ["id", "user", "status", "joined_at"]


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class MemberWithTermsSerializer(MemberSerializer):
    """A member as seen by roles allowed to see rates (``rates.view``)."""

    class Meta(MemberSerializer.Meta):
        fields = [*MemberSerializer.Meta.fields, "hourly_rate", "weekly_expected_hours"]
        read_only_fields = fields


class MemberUpdateSerializer(serializers.Serializer):
    """``PATCH /members/{id}/``: the role and/or the member's terms (admin+)."""

    role = serializers.ChoiceField(choices=Role.choices, required=False)
    hourly_rate = serializers.DecimalField(
        max_digits=10, decimal_places=2, min_value=0, allow_null=True, required=False
    )
    weekly_expected_hours = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=0, max_value=168, allow_null=True, required=False
    )

    def validate(self, attrs: dict[str, object]) -> dict[str, object]:
        if not attrs:
            raise serializers.ValidationError("Give role, hourly_rate or weekly_expected_hours.")
        return attrs
