"""Pages of the time entries app on an organization host (config/urls_tenant.py)."""

from django.urls import path

from . import entries, views

app_name = "time_entries_web"

urlpatterns = [
    path("", views.time_page, name="time"),
    path("timer/start/", views.timer_start_submit, name="timer_start"),
    path("timer/stop/", views.timer_stop_submit, name="timer_stop"),
    path("idle/<uuid:idle_id>/resolve/", views.idle_resolve_submit, name="idle_resolve"),
    path("timer/task-field/", views.timer_task_field, name="timer_task_field"),
    path("entries/new/", entries.entry_new, name="entry_new"),
    path("entries/<uuid:entry_id>/edit/", entries.entry_edit, name="entry_edit"),
    path("entries/<uuid:entry_id>/delete/", entries.entry_remove, name="entry_delete"),
    path("entries/<uuid:entry_id>/continue/", entries.entry_continue_submit, name="entry_continue"),
]
