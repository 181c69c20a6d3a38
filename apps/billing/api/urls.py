"""URLs of apps.billing: plans and the Stripe webhook on the public host,
the organization's billing endpoints on its host (under /api/v1/)."""

public_urlpatterns: list = []
webhook_urlpatterns: list = []
tenant_urlpatterns: list = []
