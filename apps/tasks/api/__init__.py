"""HTTP API of tasks (``/api/v1/tasks/``, ``/api/v1/labels/``)."""
