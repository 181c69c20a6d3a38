"""WSGI entry point (the ASGI app in ``config.asgi`` is the one NovaTime serves)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
application = get_wsgi_application()
