"""Pages of the projects app on an organization host (config/urls_tenant.py)."""

from django.urls import path

from . import views

app_name = "projects_web"

urlpatterns = [
    path("projects/", views.projects_page, name="projects"),
    path("projects/<uuid:project_id>/", views.project_page, name="project"),
    path("projects/<uuid:project_id>/tasks/new/", views.task_new, name="task_new"),
]
