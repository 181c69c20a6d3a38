"""Every client frame of the organization socket goes through ``decode``.

A frame is untrusted input that arrives without the HTTP stack's parsers in
front of it: Channels' own JSON consumer hands ``json.loads`` whatever came,
so non-JSON text, a binary frame, 1,000 levels of ``[[[...]]]``
(``RecursionError``) or a 5,000-digit number (``ValueError``) raised inside
the consumer and dropped the socket without a close code. ``decode`` turns
*any* frame into either a validated ``ClientMessage`` or a ``FrameError``
with a stable code, so the consumer has one place that says what a client
may send, and the work spent on a frame is bounded before anything is parsed:

* size: at most ``MAX_FRAME_CHARS`` characters of text (checked first, O(1));
  binary frames are refused unread;
* JSON: the project's one reader for untrusted JSON,
  ``apps.common.parsers.json_loads``, with this socket's depth limit
  ``MAX_DEPTH`` (counted on the raw text before anything is parsed, so the
  C decoder never recurses deeply; no ``NaN``/``Infinity``, no NUL and
  no lone UTF-16 surrogate in any key or string — PostgreSQL and log
  encoders choke on them further down), whose ``InputError`` becomes
  ``invalid_message`` here;
* shape: an object whose ``type`` is a known message type, with only that
  type's fields, each of its declared type (``MESSAGES``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from apps.common.parsers import InputError, json_loads

#: Client messages are a few dozen characters (the largest, ``chat.typing``,
#: is ~70); 4 KiB leaves room for growth and bounds the parse.
MAX_FRAME_CHARS: Final = 4096
#: Valid messages are flat objects (depth 1); a little room, no more (the
#: shared reader allows 64 for HTTP bodies).
MAX_DEPTH: Final = 8

INVALID_MESSAGE: Final = "invalid_message"
UNKNOWN_MESSAGE: Final = "unknown_message"

PRESENCE_STATES: Final = ("active", "away")


class FrameError(Exception):
    """A refused frame: ``code`` (``invalid_message`` or ``unknown_message``)
    and a message for the client that never echoes the frame. ``message_type``
    is the frame's ``type`` when it was a known one (so the client can tell
    which of its requests was refused)."""

    def __init__(self, code: str, message: str, *, message_type: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.message_type = message_type


def _invalid(message: str, *, message_type: str | None = None) -> FrameError:
    return FrameError(INVALID_MESSAGE, message, message_type=message_type)


# --- JSON with bounds ----------------------------------------------------------------


def loads_bounded(text: str, *, max_chars: int, max_depth: int) -> object:
    """Untrusted JSON text → value, or ``ValueError``: more than
    ``max_chars`` characters are refused unread, then
    ``apps.common.parsers.json_loads`` reads it with ``max_depth`` (nesting
    counted on the raw text before parsing; its ``InputError`` is re-raised
    as ``ValueError``)."""
    if len(text) > max_chars:
        raise ValueError(f"longer than {max_chars} characters")
    try:
        return json_loads(text, max_depth=max_depth)
    except InputError as error:
        raise ValueError(str(error.detail)) from None


# --- message schemas -----------------------------------------------------------------


def _presence_state(value: object) -> str:
    if not isinstance(value, str) or value not in PRESENCE_STATES:
        raise _invalid("state is 'active' or 'away'.", message_type="presence.heartbeat")
    return value


def _channel_id(value: object) -> str:
    # Only the canonical and the bare-hex forms; uuid.UUID also takes
    # "{...}" and "urn:uuid:..." which no client needs.
    if not isinstance(value, str) or len(value) not in (32, 36):
        raise _invalid("channel is a channel id.", message_type="chat.typing")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise _invalid("channel is a channel id.", message_type="chat.typing") from None


@dataclass(frozen=True)
class MessageSchema:
    """The fields one client message type takes: ``required`` and
    ``optional`` (with its default) map a field to the function that checks
    and normalizes its value (raising ``FrameError``)."""

    required: Mapping[str, Callable[[object], str]] = field(default_factory=dict)
    optional: Mapping[str, tuple[Callable[[object], str], str]] = field(default_factory=dict)


#: Everything a client may send. README "Client → server" documents the same.
MESSAGES: Final[Mapping[str, MessageSchema]] = {
    "ping": MessageSchema(),
    "presence.heartbeat": MessageSchema(optional={"state": (_presence_state, "active")}),
    "chat.typing": MessageSchema(required={"channel": _channel_id}),
}


@dataclass(frozen=True)
class ClientMessage:
    """A validated client message: its ``type`` and normalized fields."""

    type: str
    fields: Mapping[str, str]


def decode(message: Mapping[str, object]) -> ClientMessage:
    """The ``websocket.receive`` ASGI message → ``ClientMessage``, or
    ``FrameError`` for anything else."""
    text = message.get("text")
    if text is None:
        # A binary frame (ASGI carries either ``text`` or ``bytes``): refused
        # unread, whatever its size.
        raise _invalid("Messages are JSON text frames; binary frames are not accepted.")
    if not isinstance(text, str):
        raise _invalid("Messages are JSON text frames.")
    if len(text) > MAX_FRAME_CHARS:
        raise _invalid(f"Messages are at most {MAX_FRAME_CHARS} characters.")
    try:
        content = loads_bounded(text, max_chars=MAX_FRAME_CHARS, max_depth=MAX_DEPTH)
    except (ValueError, RecursionError):
        raise _invalid(
            f"Messages are JSON objects (at most {MAX_DEPTH} levels deep, "
            "no NUL or lone surrogates)."
        ) from None
    if not isinstance(content, dict):
        raise _invalid("Messages are JSON objects with a 'type'.")
    kind = content.get("type")
    if not isinstance(kind, str):
        raise _invalid("Messages are JSON objects with a string 'type'.")
    schema = MESSAGES.get(kind)
    if schema is None:
        raise FrameError(UNKNOWN_MESSAGE, "Unsupported message type.")
    allowed = {"type", *schema.required, *schema.optional}
    if not set(content) <= allowed:
        raise _invalid(
            f"Unknown field for {kind}; it takes: {', '.join(sorted(allowed))}.",
            message_type=kind,
        )
    fields: dict[str, str] = {}
    for name, check in schema.required.items():
        if name not in content:
            raise _invalid(f"{name} is required.", message_type=kind)
        fields[name] = check(content[name])
    for name, (check, default) in schema.optional.items():
        fields[name] = check(content[name]) if name in content else default
    return ClientMessage(type=kind, fields=fields)
