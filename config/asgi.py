"""ASGI entry point: HTTP through Django, WebSocket through Channels.

Both protocols resolve the tenant from the Host header with the same cached
lookup (``tenants.resolution``).
"""

import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

# Django's handler, with the middleware chain in one thread hop (config/handlers.py).
from config.handlers import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import get_resolver  # noqa: E402
from django.utils import translation  # noqa: E402

from apps.websocket_server.routing import websocket_urlpatterns  # noqa: E402
from config.admission import AdmissionLimit  # noqa: E402
from config.observability import SocketContextMiddleware, wrap_websocket_app  # noqa: E402
from tenants.asgi import TenantWebSocketMiddleware  # noqa: E402

# Load now what the first requests would otherwise load and keep for the life
# of the process — every view, serializer and URL pattern behind both URLconfs,
# the translation catalogue — so that it is frozen below with the rest.
for _urlconf in (settings.ROOT_URLCONF, settings.PUBLIC_SCHEMA_URLCONF):
    get_resolver(_urlconf).reverse_dict  # noqa: B018  (populates the resolver)
translation.gettext("Not found.")

# Everything loaded so far lives as long as the process: move it out of the
# garbage collector's reach, so that full collections (which walk every tracked
# object) stop costing 50-100 ms pauses on requests. Measured in bench/task_list;
# with the URLconfs loaded first, a full collection in bench/timer_load took at
# most 24 ms instead of 93 ms.
gc.collect()
gc.freeze()

application = ProtocolTypeRouter(
    {
        # At most NOVATIME_HTTP_CONCURRENCY requests inside Django per process,
        # plus NOVATIME_HTTP_SLOW_CONCURRENCY slow ones (AI, reports, exports,
        # billing, login, admin); the rest wait on the event loop
        # (config/admission.py says why).
        "http": AdmissionLimit(
            django_asgi_app,
            settings.NOVATIME_HTTP_CONCURRENCY,
            slow_limit=settings.NOVATIME_HTTP_SLOW_CONCURRENCY,
        ),
        # Sentry outermost (errors in consumers, with tenant/user tags); the
        # log/metrics context innermost, where the scope has tenant and user.
        "websocket": wrap_websocket_app(
            TenantWebSocketMiddleware(
                AuthMiddlewareStack(SocketContextMiddleware(URLRouter(websocket_urlpatterns)))
            )
        ),
    }
)
