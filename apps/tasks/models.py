"""Models of ``apps.tasks``:

Tasks, subtasks, dependencies, comments and activity (tenant schema).
"""
