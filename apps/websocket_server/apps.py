"""App config for ``apps.websocket_server``: ASGI routing, consumers and event fan-out."""

from django.apps import AppConfig


class WebsocketServerConfig(AppConfig):
    name = "apps.websocket_server"
    label = "websocket_server"
    verbose_name = "WebSocket server"
    default_auto_field = "django.db.models.BigAutoField"
