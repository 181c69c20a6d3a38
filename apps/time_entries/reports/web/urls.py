"""Pages of the reports on an organization host (config/urls_tenant.py)."""

from django.urls import path

from . import views

app_name = "reports_web"

urlpatterns = [
    path("reports/", views.reports_page, name="reports"),
    path("reports/export/", views.reports_export, name="export"),
]
