"""URLs of apps.billing: plans and the Stripe webhook on the public host,
the organization's billing endpoints on its host (under /api/v1/)."""

from django.urls import path

from . import views

public_urlpatterns: list = [
    path("plans/", views.PlanListView.as_view(), name="billing-plans"),
]
webhook_urlpatterns: list = [
    path("stripe/", views.StripeWebhookView.as_view(), name="billing-stripe-webhook"),
]
tenant_urlpatterns: list = [
    path("billing/", views.BillingView.as_view(), name="billing"),
    path("billing/checkout/", views.CheckoutView.as_view(), name="billing-checkout"),
    path("billing/portal/", views.PortalView.as_view(), name="billing-portal"),
]
