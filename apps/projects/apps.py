"""App config for ``apps.projects``:

Clients, projects, milestones and dependencies (tenant schema).
"""

from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "apps.projects"
    label = "projects"
    verbose_name = "Projects"
    default_auto_field = "django.db.models.BigAutoField"
