"""Report URLs (included under ``/api/v1/``)."""

from django.urls import path

from . import views

urlpatterns = [
    path("reports/summary/", views.SummaryReportView.as_view(), name="report-summary"),
    path("reports/detailed/", views.DetailedReportView.as_view(), name="report-detailed"),
    path("reports/export/", views.ExportReportView.as_view(), name="report-export"),
]
