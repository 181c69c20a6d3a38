"""Platform admin console: plans, subscriptions and Stripe webhook events.

Subscriptions mirror Stripe, so they are read-only here (change them in
Stripe; the webhook brings the change back). Webhook events show their
payload, status and error, with a "Replay" action that re-processes them
exactly like ``manage.py billing_replay``.
"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from . import webhooks
from .models import Plan, Subscription, WebhookEvent


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "max_members", "max_projects", "ai_enabled", "price_per_seat"]
    readonly_fields = ["code", "stripe_price_id", "created_at", "updated_at"]

    def has_delete_permission(self, request: HttpRequest, obj: Plan | None = None) -> bool:
        return False

    @admin.display(description="Stripe price (from settings)")
    def stripe_price_id(self, plan: Plan) -> str:
        return plan.stripe_price_id or "—"


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = [
        "organization",
        "plan",
        "status",
        "seats",
        "trial_ends_at",
        "current_period_end",
        "suspended_by_billing",
    ]
    list_filter = ["status", "plan", "suspended_by_billing"]
    search_fields = [
        "organization__name",
        "organization__slug",
        "stripe_customer_id",
        "stripe_subscription_id",
    ]
    list_select_related = ["organization", "plan"]

    def get_readonly_fields(
        self, request: HttpRequest, obj: Subscription | None = None
    ) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Subscription | None = None) -> bool:
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ["stripe_event_id", "type", "status", "organization", "attempts", "created_at"]
    list_filter = ["status", "type"]
    search_fields = ["stripe_event_id", "type", "organization__slug"]
    list_select_related = ["organization"]
    exclude = ["payload"]
    actions = ["replay_events"]

    def get_readonly_fields(
        self, request: HttpRequest, obj: WebhookEvent | None = None
    ) -> list[str]:
        return [f.name for f in self.model._meta.fields if f.name != "payload"] + ["payload_pretty"]

    @admin.display(description="Payload")
    def payload_pretty(self, event: WebhookEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(event.payload, indent=2, sort_keys=True))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: WebhookEvent | None = None) -> bool:
        return False

    @admin.action(description="Replay (re-process) selected events")
    def replay_events(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        done = failed = 0
        for event in queryset.order_by("stripe_created_at", "created_at"):
            webhooks.webhook_event_reset(event=event)
            try:
                result = webhooks.webhook_event_process(event_pk=event.pk)
            except Exception as exc:  # transient Stripe error: the row stays pending
                self.message_user(request, f"{event.stripe_event_id}: {exc}", messages.ERROR)
                failed += 1
                continue
            done += result.status != "failed"
            failed += result.status == "failed"
        self.message_user(
            request,
            f"Replayed {done} event(s); {failed} failed.",
            messages.SUCCESS if not failed else messages.WARNING,
        )
