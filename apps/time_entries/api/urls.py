"""URLs of apps.time_entries (tenant host, under /api/v1/)."""

urlpatterns: list = []
