"""The organization socket (``wss://<slug>.<base>/ws/``).

Connect: Origin must match Host (4403), the user must authenticate by session
cookie or single-use ticket (4401) and be an active member of the host's
organization, which must not be suspended or cancelled (4403); unknown hosts
never get here (4404, ``tenants.asgi``). The socket then joins its
organization group, its own user group and its login's credential group (see
``groups``), is counted in presence, and leaves all of them on disconnect.

Client → server (JSON text frames, decoded and validated by ``frames``):

* ``{"type": "ping"}`` → ``{"type": "pong"}`` (also a presence heartbeat);
* ``{"type": "presence.heartbeat", "state": "active"|"away"}``;
* ``{"type": "chat.typing", "channel": "<id>"}`` → ``chat.typing``/``started``
  to the others who may see the channel (throttled, never persisted).

Every client frame costs a token of a per-socket bucket; an empty bucket
answers ``error``/``rate_limited`` and a client that keeps going is closed
with 4429. A frame ``frames.decode`` refuses (binary, not JSON, too large or
deep, not an object with a known type and its typed fields) answers
``error``/``invalid_message`` (``unknown_message`` for an unknown type) and
the socket stays open; 20 refusals within 60 s close it with 4400. A client
message whose handler raises answers ``error``/``internal_error``.

Server-initiated closes (``socket.evict`` from ``receivers``): 4403 when
access is lost (membership removed/deactivated or its role changed — reason
``membership_changed`` tells the client it may reconnect to get the new
permissions — organization suspended), 4401 on logout; 1011 when a
server-side handler raised. However the consumer ends, it leaves its groups
and presence on the way out.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from typing import Final, Literal

from asgiref.typing import ASGIReceiveCallable, ASGISendCallable
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from channels.utils import await_many_dispatch
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from . import frames, presence
from .auth import (
    CLOSE_FORBIDDEN,
    CLOSE_NOT_AUTHENTICATED,
    SocketScope,
    active_membership_allows,
    authenticate,
    origin_matches_host,
)
from .chat_typing import HIDDEN, Hidden, typing_audience
from .events import EventMessage, EvictMessage, send_event_from_socket
from .groups import credential_group, org_group, user_group

logger = logging.getLogger(__name__)

__all__ = [
    "CLOSE_FORBIDDEN",
    "CLOSE_INTERNAL_ERROR",
    "CLOSE_INVALID_MESSAGES",
    "CLOSE_NOT_AUTHENTICATED",
    "CLOSE_RATE_LIMITED",
    "CLOSE_REALTIME_UNAVAILABLE",
    "TenantSocketConsumer",
]

CLOSE_RATE_LIMITED: Final = 4429
#: RFC 6455 "try again later": Redis (the channel layer) is unreachable at
#: connect, reason ``realtime_unavailable``; the client reconnects with back-off.
CLOSE_REALTIME_UNAVAILABLE: Final = 1013
#: Too many refused frames (``invalid_message`` / ``unknown_message``) in a
#: window: the client is broken or probing, and each refusal costs an answer.
CLOSE_INVALID_MESSAGES: Final = 4400
#: RFC 6455 "internal error": the server failed in a way that leaves the
#: socket in an unknown state (a server-side handler raised). The client
#: reconnects and catches up.
CLOSE_INTERNAL_ERROR: Final = 1011

#: Token bucket per socket: bursts of ``RATE_BURST`` messages, ``RATE_PER_SECOND``
#: sustained. A client that sends ``RATE_CLOSE_AFTER`` messages in a row into an
#: empty bucket is closed (4429).
RATE_BURST: Final = 30
RATE_PER_SECOND: Final = 10.0
RATE_CLOSE_AFTER: Final = 30
#: A socket that sends ``INVALID_CLOSE_AFTER`` refused frames within
#: ``INVALID_WINDOW_SECONDS`` is closed (4400, reason ``invalid_messages``).
INVALID_CLOSE_AFTER: Final = 20
INVALID_WINDOW_SECONDS: Final = 60.0
#: At most one ``chat.typing`` per channel per socket in this many seconds.
TYPING_INTERVAL_SECONDS: Final = 3.0

#: Redis commands in flight per process for socket bookkeeping (join, leave,
#: presence). redis-py's asyncio pools refuse a 101st connection instead of
#: waiting, so a mass disconnect (a deploy, a network blip) of hundreds of
#: sockets failed to leave its groups; a bounded queue makes it wait instead.
REDIS_SLOTS: Final = 32
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _redis_slot() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    slot = _slots.get(loop)
    if slot is None:
        slot = _slots[loop] = asyncio.Semaphore(REDIS_SLOTS)
    return slot


class TenantSocketConsumer(AsyncJsonWebsocketConsumer):
    joined_groups: list[str]

    async def __call__(
        self, scope: SocketScope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        """``AsyncConsumer.__call__`` with a channel-layer receive that
        survives Redis trouble.

        Channels lets any exception of the layer's ``receive`` end the
        consumer, i.e. drop the client. Two such exceptions are routine:
        redis-py ≥ 6 reads with a 5 s ``socket_timeout`` by default while
        channels-redis blocks 5 s in ``BZPOPMIN`` (so an idle process sees a
        read timeout every few seconds unless the layer's hosts set a longer
        ``socket_timeout`` — see README), and a Redis restart. Neither should
        cost the client its socket: the receive is retried with back-off.
        """
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.base_send = send
        sources: list[Callable[[], Awaitable[object]]]
        if self.channel_layer is None:
            sources = [receive]
        else:
            self.channel_name = await self.channel_layer.new_channel()
            sources = [receive, self._layer_receive]
        try:
            with contextlib.suppress(StopConsumer):
                await await_many_dispatch(sources, self.dispatch)
        finally:
            await self._leave_at_exit()

    async def _leave_at_exit(self) -> None:
        """Leave groups and presence however the consumer ends.

        The normal ways out (``websocket.disconnect``, eviction, the rate
        limit) already left; this covers the others — an exception that got
        past ``dispatch``, the server cancelling the application — which
        otherwise left the user "online" until the presence entry expired
        (75 s) and the channel in its groups. Shielded, so a cancellation does
        not cut the cleanup short (it then finishes in the background).
        """
        if not getattr(self, "joined_groups", None):
            return
        leaving = asyncio.ensure_future(self._leave())
        try:
            await asyncio.shield(leaving)
        except asyncio.CancelledError:
            logger.info("websocket: cancelled while leaving; leaving in the background")
            raise

    async def dispatch(self, message: dict[str, object]) -> None:
        """``AsyncConsumer.dispatch`` without its per-message
        ``aclose_old_connections()``, and with no exception left to end the
        consumer silently.

        That call hops to the single shared database thread for *every*
        message of every socket — an event fanned out to 200 sockets queued
        200 hops behind whatever that thread was doing (an HTTP request, say)
        and dominated the fan-out latency. Handlers here touch the database
        only through ``database_sync_to_async``, which already closes stale
        connections around each call.

        Client frames answer their own failures (``websocket_receive``). Any
        other handler that raises (a server→client event, an eviction, the
        connect) is logged with its traceback and the socket is closed with
        1011 after leaving its groups and presence: its state is unknown, and
        a reconnect (with catch-up) is the safe way on. Before, the exception
        ended the consumer: no close code, and presence stayed for 75 s.
        """
        handler = getattr(self, get_handler_name(message), None)
        try:
            if handler is None:
                raise ValueError(f"No handler for message type {message['type']!r}")
            await handler(message)
        except StopConsumer:
            raise
        except OSError:
            # The client went away while we were sending (uvicorn raises
            # ClientDisconnected, an OSError): routine, not a server fault.
            # Its ``websocket.disconnect`` may never be handled now, so leave
            # here and end.
            logger.info(
                "websocket: client of user %s gone during %r",
                getattr(self, "user_id", None),
                message.get("type"),
            )
            await self._leave()
            raise StopConsumer() from None
        except Exception:
            logger.exception(
                "websocket: %r failed on %s (user %s); closing 1011",
                message.get("type"),
                getattr(self, "schema_name", "?"),
                getattr(self, "user_id", None),
            )
            await self._close_broken()

    async def _close_broken(self) -> None:
        """Close a socket whose state is unknown (1011), leaving everything
        first; if even the close cannot be sent, end the consumer."""
        self.evicted = True  # no more client messages are handled
        await self._leave()
        if getattr(self, "_closed", False):
            raise StopConsumer()  # already closed: only the disconnect is left
        try:
            if getattr(self, "_accepted", False):
                await self.close(code=CLOSE_INTERNAL_ERROR, reason="internal_error")
            else:  # failed while connecting: accept so the client sees the code
                await self._refuse(CLOSE_INTERNAL_ERROR)
        except Exception:
            logger.warning("websocket: could not send the 1011 close", exc_info=True)
            raise StopConsumer() from None

    async def _layer_receive(self) -> dict[str, object]:
        delay = 0.05
        while True:
            try:
                return await self.channel_layer.receive(self.channel_name)
            except RedisTimeoutError:
                continue  # idle BZPOPMIN outlived the client read timeout: ask again
            except (RedisConnectionError, OSError):
                logger.warning("websocket: channel layer unreachable, retrying in %.2fs", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def accept(
        self, subprotocol: str | None = None, headers: Iterable[tuple[bytes, bytes]] | None = None
    ) -> None:
        await super().accept(subprotocol=subprotocol, headers=headers)
        self._accepted = True

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        """Close, and remember it: nothing is sent on a closed socket (the
        server refuses a send after the close; events and answers still in
        flight are dropped instead)."""
        self._closed = True
        await super().close(code=code, reason=reason)

    async def connect(self) -> None:
        self.joined_groups = []
        self.user_id: str | None = None
        self.evicted = False
        tenant = self.scope["tenant"]
        self.schema_name: str = tenant.schema_name
        if not origin_matches_host(self.scope):
            logger.info("websocket refused on %s: origin does not match host", tenant.schema_name)
            await self._refuse(CLOSE_FORBIDDEN)
            return
        user, credential = await authenticate(self.scope)
        if user is None:
            await self._refuse(CLOSE_NOT_AUTHENTICATED)
            return
        if not await active_membership_allows(user, tenant):
            logger.info("websocket refused on %s: user %s is not a member", tenant, user.pk)
            await self._refuse(CLOSE_FORBIDDEN)
            return
        self.scope["user"] = user
        self.user_id = str(user.pk)
        self._tokens = float(RATE_BURST)
        self._tokens_at = time.monotonic()
        self._overflow = 0
        self._refused_at: collections.deque[float] = collections.deque()
        self._typing_sent: dict[str, float] = {}
        self._last_sweep = 0.0
        self._state = "active"
        # Join before accepting: once the client sees the socket open, every
        # later event reaches it.
        groups = [org_group(self.schema_name), user_group(self.schema_name, user.pk)]
        if credential:
            groups.append(credential_group(credential))
        if self.channel_layer is not None:
            try:
                for group in groups:
                    async with _redis_slot():
                        await self.channel_layer.group_add(group, self.channel_name)
                    self.joined_groups.append(group)
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                # Redis (the channel layer) is unreachable: a socket that can
                # receive no event would only look alive. Refused cleanly, so
                # the client retries later; the HTTP API keeps serving.
                logger.warning("websocket refused on %s: channel layer down: %s", tenant, exc)
                await self._leave()
                await self._refuse(CLOSE_REALTIME_UNAVAILABLE, reason="realtime_unavailable")
                return
        await self.accept()
        await self._presence_seen()

    async def _refuse(self, code: int, reason: str | None = None) -> None:
        # Accept-then-close so that the client sees the application close code
        # (a refused handshake only yields a generic HTTP 403).
        await self.accept()
        await self.close(code=code, reason=reason)

    async def _leave(self) -> None:
        """Leave every group and presence (idempotent: eviction, then the
        disconnect that follows it)."""
        groups, self.joined_groups = getattr(self, "joined_groups", []), []
        for group in groups:
            try:
                async with _redis_slot():
                    await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:
                logger.warning("websocket: could not leave %s", group, exc_info=True)
        if groups and self.user_id is not None:
            try:
                async with _redis_slot():
                    change = await presence.socket_gone(
                        schema_name=self.schema_name, user_id=self.user_id, socket=self.channel_name
                    )
            except Exception:
                logger.warning("presence: socket_gone failed", exc_info=True)
            else:
                await self._announce(change)

    async def disconnect(self, code: int) -> None:
        await self._leave()

    # --- client → server --------------------------------------------------------------

    def _take_token(self) -> bool:
        now = time.monotonic()
        self._tokens = min(RATE_BURST, self._tokens + (now - self._tokens_at) * RATE_PER_SECOND)
        self._tokens_at = now
        if self._tokens >= 1:
            self._tokens -= 1
            self._overflow = 0
            return True
        self._overflow += 1
        return False

    async def _error(
        self, code: str, message: str, *, op: str = "rejected", message_type: str | None = None
    ) -> None:
        """The ``error`` event: the documented envelope (``type``, ``op``,
        ``data``) with ``code`` and ``message`` also at the top level, where
        clients have always read them. ``op`` is ``rejected`` (the client's
        frame was refused) or ``failed`` (the server failed handling it);
        ``data.message_type`` names the client message when it was a known
        one. The message never carries a traceback or the frame."""
        await self.send_json(
            {
                "type": "error",
                "op": op,
                "data": {"code": code, "message": message, "message_type": message_type},
                "code": code,
                "message": message,
            }
        )

    async def websocket_receive(self, message: dict[str, object]) -> None:
        """Every client frame: rate limit, then ``frames.decode`` (size,
        depth, JSON, schema), then the message's handler.

        Replaces Channels' ``receive``/``decode_json``/``receive_json`` chain,
        which raised on a binary frame, non-JSON text or deep nesting and so
        ended the consumer. A refused frame answers ``error``
        (``invalid_message``/``unknown_message``) and the socket stays; a
        handler that raises answers ``error``/``internal_error`` (logged with
        its traceback, which the client never sees) and the socket stays.
        """
        if self.user_id is None or self.evicted or getattr(self, "_closed", False):
            return
        if not self._take_token():
            if self._overflow >= RATE_CLOSE_AFTER:
                logger.info("websocket %s closed: rate limit", self.user_id)
                await self._leave()
                await self.close(code=CLOSE_RATE_LIMITED, reason="rate_limited")
            elif self._overflow == 1:
                await self._error("rate_limited", "Too many messages: slow down.")
            return
        try:
            request = frames.decode(message)
        except frames.FrameError as refused:
            await self._refuse_frame(refused)
            return
        try:
            await self._handle(request)
        except OSError:
            raise  # the client left while we answered: dispatch ends quietly
        except Exception:
            logger.exception(
                "websocket: %s failed on %s (user %s)",
                request.type,
                self.schema_name,
                self.user_id,
            )
            await self._error(
                "internal_error",
                "The server could not handle this message.",
                op="failed",
                message_type=request.type,
            )

    async def _refuse_frame(self, refused: frames.FrameError) -> None:
        """Answer a refused frame; close 4400 once ``INVALID_CLOSE_AFTER``
        were refused within ``INVALID_WINDOW_SECONDS``."""
        now = time.monotonic()
        window = self._refused_at
        window.append(now)
        while window and window[0] <= now - INVALID_WINDOW_SECONDS:
            window.popleft()
        if len(window) >= INVALID_CLOSE_AFTER:
            logger.info("websocket %s closed: %d invalid messages", self.user_id, len(window))
            await self._leave()
            await self.close(code=CLOSE_INVALID_MESSAGES, reason="invalid_messages")
            self.evicted = True  # nothing more is handled until the disconnect
            return
        await self._error(refused.code, refused.message, message_type=refused.message_type)

    async def _handle(self, request: frames.ClientMessage) -> None:
        if request.type == "ping":
            await self.send_json({"type": "pong"})
            await self._presence_seen()
        elif request.type == "presence.heartbeat":
            self._state = request.fields["state"]
            await self._presence_seen()
        elif request.type == "chat.typing":
            await self._typing(request.fields["channel"])
        else:  # frames.MESSAGES and this dispatch disagree: a server bug
            raise ValueError(f"no handler for client message {request.type!r}")

    async def _typing(self, channel_id: str) -> None:
        now = time.monotonic()
        if now - self._typing_sent.get(channel_id, -1e9) < TYPING_INTERVAL_SECONDS:
            return  # throttled: the previous indicator is still showing
        audience = await self._typing_audience(channel_id)
        if audience is HIDDEN:
            await self._error("unknown_channel", "No such channel.", message_type="chat.typing")
            return
        self._typing_sent[channel_id] = now
        await send_event_from_socket(
            schema_name=self.schema_name,
            type="chat.typing",
            op="started",
            data={"channel": channel_id, "user": self.user_id},
            user_ids=audience,
            exclude_user=self.user_id,
        )

    @database_sync_to_async
    def _typing_audience(self, channel_id: str) -> list[str] | Literal[Hidden.HIDDEN] | None:
        """:func:`chat_typing.typing_audience` of this socket's user, on the
        database thread."""
        return typing_audience(
            tenant=self.scope["tenant"], user=self.scope["user"], channel_id=channel_id
        )

    # --- presence ---------------------------------------------------------------------

    async def _presence_seen(self) -> None:
        try:
            async with _redis_slot():
                change = await presence.socket_seen(
                    schema_name=self.schema_name,
                    user_id=self.user_id,
                    socket=self.channel_name,
                    state=self._state,
                )
            await self._announce(change)
            if time.monotonic() - self._last_sweep >= presence.SWEEP_INTERVAL_SECONDS:
                self._last_sweep = time.monotonic()
                for expired in await presence.sweep(schema_name=self.schema_name):
                    await self._announce(expired)
        except Exception:
            # Presence is best effort: Redis trouble must not close the socket.
            logger.warning("presence: update failed", exc_info=True)

    async def _announce(self, change: presence.PresenceChange) -> None:
        if change.changed:
            presence.announce(schema_name=self.schema_name, change=change)

    # --- server → client --------------------------------------------------------------

    async def event_message(self, message: EventMessage) -> None:
        """A domain event from ``events``: forward its client shape, unless it
        is this user's own typing indicator or it names an audience (sent via
        the organization group) without this user, or the socket is closed."""
        if getattr(self, "_closed", False):
            return
        if message.get("exclude_user") is not None and message["exclude_user"] == self.user_id:
            return
        only = message.get("only_users")
        if only is not None and self.user_id not in only:
            return  # a large listed audience sent through the org group
        await self.send_json(message["event"])

    async def socket_evict(self, message: EvictMessage) -> None:
        """Access lost (``receivers``): leave everything, then close."""
        if self.evicted or getattr(self, "_closed", False):
            return
        self.evicted = True
        await self._leave()
        await self.close(code=message["code"], reason=message.get("reason") or None)
