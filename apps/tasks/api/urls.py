"""Task URLs, mounted under ``/api/v1/`` of organization hosts.

Ids are matched with Django's ``uuid`` path converter: a malformed id is an
unknown URL (404) and the OpenAPI document types every id as a UUID.
"""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter(use_regex_path=False)
router.register("tasks", views.TaskViewSet, basename="task")
router.register(
    "tasks/<uuid:task_id>/dependencies", views.TaskDependencyViewSet, basename="task-dependency"
)
router.register("tasks/<uuid:task_id>/comments", views.TaskCommentViewSet, basename="task-comment")
router.register("labels", views.LabelViewSet, basename="label")

urlpatterns = [
    path(
        "tasks/<uuid:task_id>/activity/",
        views.TaskActivityListView.as_view(),
        name="task-activity",
    ),
    *router.urls,
]
