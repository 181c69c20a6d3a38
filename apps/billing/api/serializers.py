"""Input and output shapes of the billing endpoints."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.billing.models import Plan, Subscription
from apps.billing.webhooks import Ingested


class PlanSerializer(serializers.ModelSerializer):
    limits = serializers.SerializerMethodField()
    features = serializers.SerializerMethodField()

    class Meta:
        model = Plan
        fields = [
            "code",
            "name",
            "description",
            "price_per_seat",
            "currency",
            "interval",
            "limits",
            "features",
        ]

    def get_limits(self, plan: Plan) -> dict[str, int | None]:
        return {"members": plan.max_members, "projects": plan.max_projects}

    def get_features(self, plan: Plan) -> dict[str, bool]:
        return {"ai": plan.ai_enabled, "sso": plan.sso_enabled}


class SubscriptionSerializer(serializers.ModelSerializer):
    plan = serializers.CharField(source="plan.code")
    has_payment_account = serializers.SerializerMethodField()

    class Meta:
        model = Subscription
        fields = [
            "plan",
            "status",
            "seats",
            "trial_ends_at",
            "current_period_end",
            "cancel_at_period_end",
            "past_due_since",
            "has_payment_account",
        ]

    def get_has_payment_account(self, subscription: Subscription) -> bool:
        return bool(subscription.stripe_customer_id)


class UsageSerializer(serializers.Serializer):
    members = serializers.IntegerField()
    projects = serializers.IntegerField()


class BillingOverviewSerializer(serializers.Serializer):
    """``subscription`` and ``plan`` are null for an organization billing does
    not manage (no subscription row: no limits apply)."""

    organization_status = serializers.CharField()
    subscription = SubscriptionSerializer(allow_null=True)
    plan = PlanSerializer(allow_null=True)
    usage = UsageSerializer()
    billing_configured = serializers.BooleanField()


class CheckoutInputSerializer(serializers.Serializer):
    plan = serializers.CharField(max_length=20)


class SessionUrlSerializer(serializers.Serializer):
    url = serializers.URLField()


class WebhookAckSerializer(serializers.Serializer):
    received = serializers.BooleanField()
    duplicate = serializers.BooleanField()
    id = serializers.CharField()

    def to_representation(self, instance: Ingested) -> dict[str, Any]:
        return {
            "received": True,
            "duplicate": not instance.created,
            "id": instance.event.stripe_event_id,
        }
