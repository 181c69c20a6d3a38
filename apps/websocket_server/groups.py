"""Channel-layer group names shared by the emitter (``events``) and the socket.

Both sides must compute exactly the same name, so it lives in one place. Names
carry the environment prefix (``settings.NOVATIME_ENV_PREFIX``) because several
environments (dev, tests, parallel test runs) may share one Redis, and the
schema name, so that an event can never cross organizations. Channels accepts
only ``[a-zA-Z0-9._-]`` and fewer than 100 characters: anything else is
replaced, and a name that would still be too long is shortened to a stable
hash (still unique per schema/user, still prefixed).
"""

from __future__ import annotations

import hashlib
import re
from uuid import UUID

from django.conf import settings

MAX_GROUP_NAME_LENGTH = 99  # channels requires len(name) < 100
_INVALID = re.compile(r"[^a-zA-Z0-9._-]")


def _prefix() -> str:
    return _INVALID.sub("-", str(settings.NOVATIME_ENV_PREFIX))[:40]


def _name(*parts: object) -> str:
    prefix = _prefix()
    name = ".".join([prefix, *(_INVALID.sub("-", str(p)) for p in parts)])
    if len(name) <= MAX_GROUP_NAME_LENGTH:
        return name
    digest = hashlib.sha256(".".join(str(p) for p in parts).encode()).hexdigest()[:40]
    return f"{prefix}.h.{digest}"


def org_group(schema_name: str) -> str:
    """Every socket of the organization whose schema is ``schema_name``."""
    return _name(schema_name, "org")


def user_group(schema_name: str, user_id: UUID | str) -> str:
    """The sockets of one user *in one organization* (a user with two
    organizations open has two unrelated groups)."""
    return _name(schema_name, "user", user_id)


def credential_group(credential_id: str) -> str:
    """The sockets opened with one login (a session, or a token through a
    ticket), in every organization: logging out closes them all."""
    return _name("cred", credential_id)
