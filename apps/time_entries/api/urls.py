"""URLs of apps.time_entries (tenant host, under /api/v1/).

Spelled out rather than routed: ``bulk`` must come before the ``{id}``
routes, and ``continue`` is a Python keyword (the view method is
``continue_entry``). Ids go through the ``uuid`` converter, so a malformed
id is a 404.
"""

from django.urls import path

from . import views

_entries = views.TimeEntryViewSet
_idle = views.IdlePeriodViewSet

urlpatterns = [
    path(
        "time-entries/",
        _entries.as_view({"get": "list", "post": "create"}),
        name="time-entry-list",
    ),
    path("time-entries/bulk/", _entries.as_view({"post": "bulk"}), name="time-entry-bulk"),
    path(
        "time-entries/<uuid:pk>/",
        _entries.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"}),
        name="time-entry-detail",
    ),
    path(
        "time-entries/<uuid:pk>/duplicate/",
        _entries.as_view({"post": "duplicate"}),
        name="time-entry-duplicate",
    ),
    path(
        "time-entries/<uuid:pk>/continue/",
        _entries.as_view({"post": "continue_entry"}),
        name="time-entry-continue",
    ),
    path("timer/", views.TimerView.as_view(), name="timer"),
    path("timer/start/", views.TimerStartView.as_view(), name="timer-start"),
    path("timer/stop/", views.TimerStopView.as_view(), name="timer-stop"),
    path("activity/heartbeat/", views.HeartbeatView.as_view(), name="activity-heartbeat"),
    path("activity/idle-periods/", _idle.as_view({"get": "list"}), name="idle-period-list"),
    path(
        "activity/idle-periods/<uuid:pk>/resolve/",
        _idle.as_view({"post": "resolve"}),
        name="idle-period-resolve",
    ),
]
