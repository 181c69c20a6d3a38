"""URLs of an organization host (``<slug>.<base>``)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.billing.api import urls as billing_urls
from apps.common import errors
from apps.organizations.api import urls as organization_urls

urlpatterns = [
    path("api/schema/", SpectacularAPIView.as_view(urlconf="config.urls_tenant"), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/v1/", include("apps.common.api.urls")),
    path("api/v1/auth/", include("apps.iam.api.urls")),
    path("api/v1/", include(organization_urls.tenant_urlpatterns)),
    path("api/v1/", include("apps.projects.api.urls")),
    path("api/v1/", include("apps.tasks.api.urls")),
    path("api/v1/", include("apps.time_entries.api.urls")),
    path("api/v1/", include("apps.time_entries.reports.api.urls")),
    path("api/v1/", include("apps.time_entries.importers.api.urls")),
    path("api/v1/", include("apps.timesheets.api.urls")),
    path("api/v1/chat/", include("apps.chat.api.urls")),
    path("api/v1/ai/", include("apps.ai_services.api.urls")),
    path("api/v1/", include(billing_urls.tenant_urlpatterns)),
    path("api/v1/realtime/", include("apps.websocket_server.api.urls")),
    # The web app (UI.md): each app's pages beside its api/.
    path("", include("apps.iam.web.urls")),
    path("", include("apps.time_entries.web.urls")),
    path("", include("apps.timesheets.web.urls")),
    path("", include("apps.time_entries.reports.web.urls")),
    path("", include("apps.chat.web.urls")),
    path("", include("apps.organizations.web.settings_urls")),
    path("", include("apps.projects.web.urls")),
    path("", include("apps.tasks.web.urls")),
]

handler400 = errors.handler400
handler403 = errors.handler403
handler404 = errors.handler404
handler500 = errors.handler500
