"""Who is on the other end of a socket, and may they be here.

Three checks, in the order the consumer runs them:

* ``origin_matches_host`` — a browser attaches the session cookie to a
  WebSocket opened by *any* site, so without this a page elsewhere could read
  a logged-in user's events (cross-site WebSocket hijacking). Close 4403.
* ``authenticate`` — the session cookie (resolved by Channels'
  ``AuthMiddlewareStack``) or a single-use ``?ticket=`` (see ``tickets``).
  Tokens are never read from the URL. Close 4401.
* ``active_membership_allows`` — the same rule as the HTTP permission
  ``IsOrganizationMember``: an active membership in ``scope["tenant"]`` (and
  two-factor when the organization requires it). Close 4403.

The tenant is *not* activated on the socket (see ``tenants.asgi``): the
Channels database thread is shared by every socket, so each query enters the
schema it needs itself.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from asgiref.typing import WebSocketScope
from channels.db import database_sync_to_async
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django_tenants.utils import schema_context

from apps.iam.models import User
from apps.organizations.models import Organization
from apps.organizations.selectors import membership_for, membership_needs_two_factor

from .tickets import consume_ticket

if TYPE_CHECKING:
    from django.contrib.sessions.backends.base import SessionBase

CLOSE_NOT_AUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


class SocketScope(WebSocketScope, total=False):
    """The scope of a socket as the ASGI middlewares fill it in: the host's
    organization (``tenants.asgi``), the session and its user (Channels'
    ``AuthMiddlewareStack``)."""

    tenant: Organization
    session: SessionBase
    user: User | AnonymousUser


def _header(scope: SocketScope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def origin_matches_host(scope: SocketScope) -> bool:
    """Whether the ``Origin`` header names the host the socket was opened on.

    A missing Origin is refused: the contract says it must match, and every
    browser sends one on WebSocket handshakes.
    """
    origin, host = _header(scope, b"origin"), _header(scope, b"host")
    if not origin or not host:
        return False
    netloc = urlsplit(origin).netloc
    return bool(netloc) and netloc.lower().rstrip(".") == host.lower().rstrip(".")


def _ticket_param(scope: SocketScope) -> list[str] | None:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    return query.get("ticket")


def session_credential(session_key: str | None) -> str:
    """The credential id of a session (a hash: the key itself is a secret)."""
    if not session_key:
        return ""
    return "s" + hashlib.sha256(session_key.encode()).hexdigest()[:32]


def token_credential(key_hash: str | None) -> str:
    """The credential id of an API token (from its stored hash)."""
    return f"t{key_hash[:32]}" if key_hash else ""


def credential_ids(request: HttpRequest) -> list[str]:
    """The credential ids of a Django request (ticket issuance, logout): its
    session, and the token it was authenticated with (DRF sets
    ``request.auth`` on the underlying Django request too)."""
    ids = []
    session = getattr(request, "session", None)
    if session is not None and session.session_key:
        ids.append(session_credential(session.session_key))
    token_hash = getattr(getattr(request, "auth", None), "key_hash", None)
    if token_hash:
        ids.append(token_credential(token_hash))
    return ids


@database_sync_to_async
def _user_from_ticket(ticket: str, schema_name: str) -> tuple[User | None, str]:
    binding = consume_ticket(ticket=ticket, schema_name=schema_name)
    if binding is None:
        return None, ""
    with schema_context("public"):
        user = User.objects.filter(pk=binding.user_id, is_active=True).first()
    return user, binding.credential


async def authenticate(scope: SocketScope) -> tuple[User | None, str]:
    """``(user, credential id)`` of the socket; ``user`` is ``None`` → close 4401.

    A ``?ticket=`` wins over the cookie, and a bad one (unknown, expired,
    already used, issued for another organization) fails even when a valid
    cookie is also present: the client asked for ticket auth. The credential
    id (the session's, or the one the ticket was issued with) lets a logout
    close this socket.
    """
    tickets = _ticket_param(scope)
    if tickets is not None:
        if len(tickets) != 1:
            return None, ""
        return await _user_from_ticket(tickets[0], scope["tenant"].schema_name)
    user = scope.get("user")
    if user is None or not user.is_authenticated or not user.is_active:
        return None, ""
    session = scope.get("session")
    return user, session_credential(getattr(session, "session_key", None))


@database_sync_to_async
def active_membership_allows(user: User, tenant: Organization) -> bool:
    """Whether ``user`` may use ``tenant``'s socket: the HTTP rule, and the
    organization (read freshly, not the host cache's copy) is not suspended
    or cancelled — such organizations lose realtime; their sockets are closed
    when the status changes (``receivers``)."""
    with schema_context("public"):
        membership = membership_for(user=user, organization=tenant)
        return (
            membership is not None
            and not membership.organization.is_read_only
            and not membership_needs_two_factor(membership=membership, user=user)
        )
