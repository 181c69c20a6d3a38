"""URLs of apps.ai_services (organization host, under ``/api/v1/ai/``)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter(use_regex_path=False)
router.register("rules", views.RuleViewSet, basename="ai-rule")

urlpatterns = [
    path("suggestions/", views.SuggestionView.as_view(), name="ai-suggestions"),
    path("parse/", views.ParseView.as_view(), name="ai-parse"),
    path("insights/", views.InsightView.as_view(), name="ai-insights"),
    path("summary/", views.SummaryView.as_view(), name="ai-summary"),
    *router.urls,
]
