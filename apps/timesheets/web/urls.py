"""Pages of the timesheets app on an organization host (config/urls_tenant.py)."""

from django.urls import path

from . import views

app_name = "timesheets_web"

urlpatterns = [
    path("timesheets/", views.timesheets_page, name="timesheets"),
    path("timesheets/<uuid:pk>/submit/", views.submit, name="submit"),
    path("timesheets/<uuid:pk>/withdraw/", views.withdraw, name="withdraw"),
    path("timesheets/approvals/", views.approvals_page, name="approvals"),
    path("timesheets/approvals/<uuid:pk>/", views.approval_page, name="approval"),
    path("timesheets/approvals/<uuid:pk>/approve/", views.approve, name="approve"),
    path("timesheets/approvals/<uuid:pk>/reject/", views.reject, name="reject"),
    path("timesheets/approvals/<uuid:pk>/reopen/", views.reopen, name="reopen"),
]
