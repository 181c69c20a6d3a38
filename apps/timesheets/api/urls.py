"""Timesheet URLs, mounted under ``/api/v1/`` of organization hosts.

Ids use the ``uuid`` converter: a malformed id is an unknown URL (404), and
``bulk-approve``/``overview``/``export`` can never be taken for an id.
"""

from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter(use_regex_path=False)
router.register("timesheets", views.TimesheetViewSet, basename="timesheet")

urlpatterns = [*router.urls]
