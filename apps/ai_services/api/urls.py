"""URLs of apps.ai_services (tenant host, under /api/v1/)."""

urlpatterns: list = []
