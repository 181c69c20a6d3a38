"""URLs of the public host (``<base>`` and ``www.<base>``)."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.models import TokenProxy

from apps.billing.api import urls as billing_urls
from apps.common import errors
from apps.organizations.api import urls as organization_urls

# DRF's token model is installed only because dj-rest-auth imports it; NovaTime's
# tokens are iam.AuthToken. (Here, not in an app's admin.py: autodiscovery
# registers DRF's admin after ours.)
if admin.site.is_registered(TokenProxy):
    admin.site.unregister(TokenProxy)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(urlconf="config.urls_public"), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/v1/", include("apps.common.api.urls")),
    path("api/v1/auth/", include("apps.iam.api.urls")),
    path("api/v1/", include(organization_urls.public_urlpatterns)),
    path("api/v1/", include(billing_urls.public_urlpatterns)),
    path("webhooks/", include(billing_urls.webhook_urlpatterns)),
    # The web app's public pages (UI.md): landing, sign-up, sign-in.
    path("", include("apps.organizations.web.urls")),
    path("", include("apps.iam.web.public_urls")),
]

handler400 = errors.handler400
handler403 = errors.handler403
handler404 = errors.handler404
handler500 = errors.handler500
