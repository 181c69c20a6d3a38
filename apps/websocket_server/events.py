"""The one way services emit realtime domain events.

``send_event_on_commit`` is called by services (never views, models or
signals) after a write; the event leaves only if the transaction commits, and
it is bound to the schema that was active when it was emitted, so an event can
never reach another organization. On commit it is handed to the registered
recorders (tests use ``recording_events``) and then sent through the channel
layer to the organization group, or to each listed user's group in that
organization (see ``groups``); the sockets forward it to their clients.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NotRequired, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import BaseChannelLayer, get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from tenants.db import current_schema

from .groups import org_group, user_group
from .publisher import publisher

logger = logging.getLogger(__name__)


class EventMessage(TypedDict):
    """A domain event on the channel layer (handled by ``consumers.event_message``)."""

    type: str  # "event.message"
    event: dict[str, object]
    #: The user whose sockets drop it (their own typing indicator).
    exclude_user: NotRequired[str]
    #: The listed audience of an event sent through the organization group.
    only_users: NotRequired[list[str]]


class EvictMessage(TypedDict):
    """Close the sockets that receive it (``consumers.socket_evict``)."""

    type: str  # "socket.evict"
    code: int
    reason: str


@dataclass(frozen=True)
class DomainEvent:
    """``{"type": "task", "op": "created", "data": {...}}`` for one organization."""

    schema_name: str
    type: str
    op: str
    data: dict[str, object]
    user_ids: tuple[str, ...] | None = field(default=None)

    def message(self) -> dict[str, object]:
        """The client-facing shape (API.md, WebSocket section)."""
        return {"type": self.type, "op": self.op, "data": self.data}


_recorders: list[Callable[[DomainEvent], None]] = []


def send_event_on_commit(
    *, type: str, op: str, data: Mapping[str, object], user_ids: Iterable[object] | None = None
) -> None:
    """Emit ``type``/``op`` with ``data`` to the current organization after commit.

    ``user_ids`` narrows the audience (e.g. a private project's members);
    ``None`` means everyone in the organization who may see the object type.
    ``data`` is made JSON-safe now, so a later change to the objects it came
    from cannot alter what was emitted.
    """
    schema_name = current_schema()
    payload = json.loads(json.dumps(data, cls=DjangoJSONEncoder))
    audience = tuple(str(u) for u in user_ids) if user_ids is not None else None
    event = DomainEvent(schema_name=schema_name, type=type, op=op, data=payload, user_ids=audience)
    transaction.on_commit(lambda: _dispatch(event))


def send_event(
    *,
    schema_name: str,
    type: str,
    op: str,
    data: Mapping[str, object],
    user_ids: Iterable[object] | None = None,
) -> None:
    """Emit now, to the organization of ``schema_name``.

    For code that runs *after* a commit, outside any tenant context: the
    receivers of ``membership_changed`` (sent on commit by the organizations
    services, in whatever schema the caller was) name the organization
    explicitly instead of trusting ``connection.schema_name``.
    """
    payload = json.loads(json.dumps(data, cls=DjangoJSONEncoder))
    audience = tuple(str(u) for u in user_ids) if user_ids is not None else None
    _dispatch(
        DomainEvent(schema_name=schema_name, type=type, op=op, data=payload, user_ids=audience)
    )


async def send_event_from_socket(
    *,
    schema_name: str,
    type: str,
    op: str,
    data: dict[str, object],
    user_ids: Iterable[object] | None = None,
    exclude_user: str | None = None,
) -> None:
    """Emit from a consumer (typing, presence): nothing to commit, already on
    the event loop. ``exclude_user``'s sockets drop the event (typing is not
    echoed to the typist). Never raises, like ``_fan_out``."""
    audience = tuple(str(u) for u in user_ids) if user_ids is not None else None
    event = DomainEvent(schema_name=schema_name, type=type, op=op, data=data, user_ids=audience)
    for recorder in list(_recorders):
        recorder(event)
    groups = _audience_groups(event)
    layer = get_channel_layer()
    if not groups or layer is None:
        return
    await _send_to_groups(layer, groups, event, exclude_user=exclude_user)


def _dispatch(event: DomainEvent) -> None:
    logger.info("event %s.%s in %s", event.type, event.op, event.schema_name)
    for recorder in list(_recorders):
        recorder(event)
    _fan_out(event)


#: Above this many listed users, an event goes once to the organization group
#: with the list attached, and each socket keeps it only if its user is listed
#: (``consumers.event_message``): one Redis call instead of one per user —
#: 200 sequential group sends cost ~0.5 s on a loaded machine. Below it, per
#: user groups keep small audiences from waking every socket of a big
#: organization.
ORG_GROUP_AUDIENCE_THRESHOLD = 48


def _audience_groups(event: DomainEvent) -> list[str]:
    """Each listed user's group, or the whole organization when no list is set
    (or the list is long: see ``ORG_GROUP_AUDIENCE_THRESHOLD``).

    An empty ``user_ids`` means nobody, not everybody.
    """
    if event.user_ids is not None and len(event.user_ids) <= ORG_GROUP_AUDIENCE_THRESHOLD:
        return [user_group(event.schema_name, user_id) for user_id in event.user_ids]
    return [org_group(event.schema_name)]


def _fan_out(event: DomainEvent) -> None:
    """Queue ``event`` for its sockets; never raises.

    This runs after the business write has committed: a broken or unreachable
    channel layer must cost the live update only, never the caller's request,
    so every failure is logged and swallowed (per group, so that one bad send
    does not starve the other recipients).
    """
    groups = _audience_groups(event)
    if not groups:
        return
    try:
        layer = get_channel_layer()
        if layer is None:
            return
        # Off the caller's thread: the response does not wait for Redis; in
        # a server, its own loop sends (publisher.py says why). That is also
        # the loop the run command's in-memory layer (no Redis) is bound to.
        publisher.submit(lambda: _send_to_groups(layer, groups, event))
    except Exception:
        logger.exception(
            "event %s.%s in %s not sent to the channel layer",
            event.type,
            event.op,
            event.schema_name,
        )


#: Concurrent group sends of one event (a private audience is one group per
#: user): sequential sends cost one Redis round trip each, which dominated the
#: fan-out to a 200-member channel; the bound keeps within the pool.
SEND_CONCURRENCY = 16


async def _send_to_groups(
    layer: BaseChannelLayer, groups: list[str], event: DomainEvent, exclude_user: str | None = None
) -> None:
    message: EventMessage = {"type": "event.message", "event": event.message()}
    if exclude_user is not None:
        message["exclude_user"] = str(exclude_user)
    if event.user_ids is not None and len(event.user_ids) > ORG_GROUP_AUDIENCE_THRESHOLD:
        message["only_users"] = list(event.user_ids)
    slots = asyncio.Semaphore(SEND_CONCURRENCY)

    async def send(group: str) -> None:
        async with slots:
            try:
                await layer.group_send(group, message)
            except Exception:
                logger.exception(
                    "event %s.%s in %s not sent to group %s",
                    event.type,
                    event.op,
                    event.schema_name,
                    group,
                )

    await asyncio.gather(*(send(group) for group in groups))


# --- closing sockets ---------------------------------------------------------------


def evict_sockets_on_commit(*, groups: list[str], code: int, reason: str) -> None:
    """Close every socket in ``groups`` with ``code`` after commit (they leave
    their groups first). Used when access is lost: membership removed or
    changed, organization suspended, logout."""
    transaction.on_commit(lambda: evict_sockets(groups=groups, code=code, reason=reason))


def evict_sockets(*, groups: list[str], code: int, reason: str) -> None:
    """Close every socket in ``groups`` now; never raises (logged)."""
    if not groups:
        return
    message: EvictMessage = {"type": "socket.evict", "code": code, "reason": reason}
    try:
        layer = get_channel_layer()
        if layer is None:
            return
        async_to_sync(_send_raw)(layer, groups, message)
    except Exception:
        logger.exception("socket eviction (%s) not sent to the channel layer", reason)


async def _send_raw(layer: BaseChannelLayer, groups: list[str], message: EvictMessage) -> None:
    for group in groups:
        try:
            await layer.group_send(group, message)
        except Exception:
            logger.exception("message %s not sent to group %s", message["type"], group)


@contextmanager
def recording_events() -> Iterator[list[DomainEvent]]:
    """Collect the events dispatched inside the block (for tests)."""
    events: list[DomainEvent] = []
    _recorders.append(events.append)
    try:
        yield events
    finally:
        _recorders.remove(events.append)
