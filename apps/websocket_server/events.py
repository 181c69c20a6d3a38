"""The one way services emit realtime domain events.

``send_event_on_commit`` is called by services (never views, models or
signals) after a write; the event leaves only if the transaction commits, and
it is bound to the schema that was active when it was emitted, so an event can
never reach another organization. The realtime issue plugs the channel-layer
fan-out in here; until then events are logged and handed to the registered
recorders (tests use ``recording_events``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DomainEvent:
    """``{"type": "task", "op": "created", "data": {...}}`` for one organization."""

    schema_name: str
    type: str
    op: str
    data: dict[str, Any]
    user_ids: tuple[str, ...] | None = field(default=None)

    def message(self) -> dict[str, Any]:
        """The client-facing shape (API.md, WebSocket section)."""
        return {"type": self.type, "op": self.op, "data": self.data}


_recorders: list[Callable[[DomainEvent], None]] = []


def send_event_on_commit(
    *, type: str, op: str, data: dict[str, Any], user_ids: Iterable[Any] | None = None
) -> None:
    """Emit ``type``/``op`` with ``data`` to the current organization after commit.

    ``user_ids`` narrows the audience (e.g. a private project's members);
    ``None`` means everyone in the organization who may see the object type.
    ``data`` is made JSON-safe now, so a later change to the objects it came
    from cannot alter what was emitted.
    """
    schema_name = connection.schema_name
    payload = json.loads(json.dumps(data, cls=DjangoJSONEncoder))
    audience = tuple(str(u) for u in user_ids) if user_ids is not None else None
    event = DomainEvent(schema_name=schema_name, type=type, op=op, data=payload, user_ids=audience)
    transaction.on_commit(lambda: _dispatch(event))


def _dispatch(event: DomainEvent) -> None:
    logger.info("event %s.%s in %s", event.type, event.op, event.schema_name)
    for recorder in list(_recorders):
        recorder(event)


@contextmanager
def recording_events() -> Iterator[list[DomainEvent]]:
    """Collect the events dispatched inside the block (for tests)."""
    events: list[DomainEvent] = []
    _recorders.append(events.append)
    try:
        yield events
    finally:
        _recorders.remove(events.append)
