"""WebSocket tenant resolution (the ASGI twin of ``tenants.middleware``).

The socket's tenant is resolved from the Host header with the same cached
lookup as HTTP and put in ``scope["tenant"]``. It is *not* activated on the
connection: the Channels database thread is shared by every socket, so each
database call made for a socket must enter ``tenant_context(scope["tenant"])``
itself (see ``apps.websocket_server``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async
from django.conf import settings

from .middleware import public_hostnames
from .resolution import resolve_tenant

if TYPE_CHECKING:
    from config.admission import ASGIApp, Receive, Scope, Send

logger = logging.getLogger(__name__)

CLOSE_UNKNOWN_TENANT = 4404


def _host_from_scope(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"host":
            return value.decode("latin-1").rsplit(":", 1)[0].lower().rstrip(".")
    return ""


class TenantWebSocketMiddleware:
    """Rejects sockets on unknown or non-serving hosts with close code 4404."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return await self.inner(scope, receive, send)
        hostname = _host_from_scope(scope)
        tenant = None
        if hostname and hostname not in public_hostnames():
            tenant = await database_sync_to_async(resolve_tenant)(hostname)
        if tenant is None or not tenant.is_serving:
            logger.info("websocket refused: no organization at %r", hostname)
            return await self._reject(receive, send)
        scope = {**scope, "tenant": tenant, "base_domain": settings.NOVATIME_BASE_DOMAIN}
        return await self.inner(scope, receive, send)

    @staticmethod
    async def _reject(receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] == "websocket.connect":
            # Accept-then-close so that the client sees the application close code.
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": CLOSE_UNKNOWN_TENANT})
