"""Pages of the tasks app on an organization host (config/urls_tenant.py)."""

from django.urls import path

from . import views

app_name = "tasks_web"

urlpatterns = [
    path("tasks/<uuid:task_id>/", views.task_page, name="task"),
    path("tasks/<uuid:task_id>/status/", views.task_status, name="task_status"),
    path("tasks/<uuid:task_id>/comments/", views.task_comment, name="task_comment"),
]
