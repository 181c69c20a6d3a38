"""URLs of apps.chat (tenant host, under /api/v1/)."""

urlpatterns: list = []
