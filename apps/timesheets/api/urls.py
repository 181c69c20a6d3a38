"""URLs of apps.timesheets (tenant host, under /api/v1/)."""

urlpatterns: list = []
