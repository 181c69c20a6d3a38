"""Single-use WebSocket tickets (``POST /api/v1/realtime/ticket/``).

Clients that cannot send the session cookie on the socket (native apps,
cross-site dev servers) exchange their token for a short-lived ticket and pass
it as ``?ticket=``. A long-lived token must never appear in a URL (it ends up
in proxy logs and browser history); a ticket is worthless after 60 s or after
its first use, and only on the organization host it was issued for.

Tickets live in the Django cache (Redis in every real environment). Consuming
is ``get`` then ``delete``: ``delete`` reports whether *this* call removed the
key, so of two concurrent sockets presenting the same ticket only one wins.
Issuing is ``add``, which reports whether the ticket was stored: while Redis
is unreachable the cache drops writes (config/resilience.py), and a ticket
that was never stored is refused (``TicketUnavailable`` → 503
``realtime_unavailable``) rather than handed out to fail at the socket.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from django.core.cache import cache

TICKET_TTL_SECONDS = 60
_KEY_PREFIX = "ws-ticket:"
_TICKET_FORMAT = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


@dataclass(frozen=True)
class Ticket:
    """What a consumed ticket proves: this user, on this organization."""

    user_id: str
    schema_name: str
    credential: str = ""


class TicketUnavailable(Exception):
    """The ticket could not be stored (the cache, i.e. Redis, is unreachable)."""


def _key(ticket: str) -> str:
    return f"{_KEY_PREFIX}{ticket}"


def issue_ticket(*, user_id: object, schema_name: str, credential: str = "") -> str:
    """Store a new random ticket for ``user_id`` on ``schema_name`` for 60 s.

    ``credential`` names the login the ticket was asked with (see
    ``auth.credential_ids``), so that logging out closes the socket it opens.
    """
    ticket = secrets.token_urlsafe(32)
    stored = cache.add(
        _key(ticket),
        {"user_id": str(user_id), "schema_name": schema_name, "credential": credential},
        timeout=TICKET_TTL_SECONDS,
    )
    if not stored:  # 256 random bits never collide: the cache is down
        raise TicketUnavailable("the socket ticket could not be stored")
    return ticket


def consume_ticket(*, ticket: str, schema_name: str) -> Ticket | None:
    """The ticket's binding if it is valid for ``schema_name``, else ``None``.

    The ticket is burned whatever the outcome once found, including when it is
    presented on another organization's host: a ticket seen in the wrong place
    is treated as leaked.
    """
    if not isinstance(ticket, str) or not _TICKET_FORMAT.match(ticket):
        return None
    key = _key(ticket)
    value = cache.get(key)
    if not isinstance(value, dict) or not cache.delete(key):
        return None  # unknown, expired, or consumed concurrently by someone else
    if value.get("schema_name") != schema_name:
        return None
    return Ticket(
        user_id=str(value["user_id"]),
        schema_name=schema_name,
        credential=str(value.get("credential", "")),
    )
