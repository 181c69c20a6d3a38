"""The organization socket (``wss://<slug>.<base>/ws/``).

Connect: Origin must match Host (4403), the user must authenticate by session
cookie or single-use ticket (4401) and be an active member of the host's
organization (4403); unknown hosts never get here (4404, ``tenants.asgi``).
The socket then joins its organization group and its own user group (see
``groups``), so ``events._dispatch`` can reach it, and leaves both on
disconnect. Client → server: ``ping`` (→ ``pong``).
"""

from __future__ import annotations

import logging
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from .auth import (
    CLOSE_FORBIDDEN,
    CLOSE_NOT_AUTHENTICATED,
    active_membership_allows,
    authenticate,
    origin_matches_host,
)
from .groups import org_group, user_group

logger = logging.getLogger(__name__)

__all__ = ["CLOSE_FORBIDDEN", "CLOSE_NOT_AUTHENTICATED", "TenantSocketConsumer"]


class TenantSocketConsumer(AsyncJsonWebsocketConsumer):
    joined_groups: list[str]

    async def connect(self) -> None:
        self.joined_groups = []
        tenant = self.scope["tenant"]
        if not origin_matches_host(self.scope):
            logger.info("websocket refused on %s: origin does not match host", tenant.schema_name)
            await self._refuse(CLOSE_FORBIDDEN)
            return
        user = await authenticate(self.scope)
        if user is None:
            await self._refuse(CLOSE_NOT_AUTHENTICATED)
            return
        if not await active_membership_allows(user, tenant):
            logger.info("websocket refused on %s: user %s is not a member", tenant, user.pk)
            await self._refuse(CLOSE_FORBIDDEN)
            return
        self.scope["user"] = user
        # Join before accepting: once the client sees the socket open, every
        # later event reaches it.
        if self.channel_layer is not None:
            for group in (org_group(tenant.schema_name), user_group(tenant.schema_name, user.pk)):
                await self.channel_layer.group_add(group, self.channel_name)
                self.joined_groups.append(group)
        await self.accept()

    async def _refuse(self, code: int) -> None:
        # Accept-then-close so that the client sees the application close code
        # (a refused handshake only yields a generic HTTP 403).
        await self.accept()
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "joined_groups", []):
            await self.channel_layer.group_discard(group, self.channel_name)
        self.joined_groups = []

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})
            return
        await self.send_json(
            {"type": "error", "code": "unknown_message", "message": "Unsupported message type."}
        )

    async def event_message(self, message: dict[str, Any]) -> None:
        """A domain event from ``events._dispatch``: forward its client shape."""
        await self.send_json(message["event"])
