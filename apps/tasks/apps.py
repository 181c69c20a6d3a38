"""App config for ``apps.tasks``:

Tasks, subtasks, dependencies, comments and activity (tenant schema).
"""

from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "apps.tasks"
    label = "tasks"
    verbose_name = "Tasks"
    default_auto_field = "django.db.models.BigAutoField"
