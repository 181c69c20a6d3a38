"""App config for ``apps.websocket_server``: ASGI routing, consumers and event fan-out."""

from django.apps import AppConfig


class WebsocketServerConfig(AppConfig):
    name = "apps.websocket_server"
    label = "websocket_server"
    verbose_name = "WebSocket server"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from apps.organizations.signals import membership_changed, organization_status_changed

        from . import receivers, tasks  # noqa: F401  (registers the Celery tasks)

        membership_changed.connect(
            receivers.on_membership_changed, dispatch_uid="websocket_server.membership_changed"
        )
        organization_status_changed.connect(
            receivers.on_organization_status_changed,
            dispatch_uid="websocket_server.organization_status_changed",
        )
        user_logged_out.connect(
            receivers.on_user_logged_out, dispatch_uid="websocket_server.user_logged_out"
        )
