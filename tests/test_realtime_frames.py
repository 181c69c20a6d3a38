"""Malformed client frames on the organization socket, through the real ASGI
application (tenant middleware, auth, consumer) and the real Redis channel
layer: every class of bad frame answers an ``error`` event and the socket
keeps working; a handler that raises answers ``internal_error`` without a
traceback; a flood of refused frames closes 4400 and drops presence."""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

import pytest
from asgiref.sync import async_to_sync

from apps.organizations.tests.factories import MembershipFactory
from apps.websocket_server import frames
from apps.websocket_server.consumers import INVALID_CLOSE_AFTER
from apps.websocket_server.testing import (
    ACME,
    acookie,
    connect,
    presence_until,
    receive,
    receive_all,
)

# Imported here, not on the first connect: its django.setup() reconfigures
# logging, which would drop caplog's handler in the middle of a test.
from config import asgi  # noqa: F401

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("keep_test_transaction", "short_presence_batches"),
]

DEEP = 1000


CHANNEL = str(uuid.uuid4())

#: (id, frame, code, message_type): a frame is ``str`` (text) or ``bytes``
#: (binary). Every one of them raised in the consumer before (or, for the
#: ones that did not, answered a bare ``{type, code, message}``).
MALFORMED: list[tuple[str, str | bytes, str, str | None]] = [
    ("not_json", "hello there", "invalid_message", None),
    ("truncated_json", '{"type": "ping"', "invalid_message", None),
    ("empty_text", "", "invalid_message", None),
    ("binary", b"\x00\x01\x02\xff", "invalid_message", None),
    ("binary_json", b'{"type": "ping"}', "invalid_message", None),
    ("deep_array", "[" * DEEP + "]" * DEEP, "invalid_message", None),
    ("deep_object", '{"a":' * DEEP + "1" + "}" * DEEP, "invalid_message", None),
    (
        "deep_inside_valid",
        '{"type": "ping", "x": ' + "[" * DEEP + "]" * DEEP + "}",
        "invalid_message",
        None,
    ),
    ("array", '["ping"]', "invalid_message", None),
    ("string", '"ping"', "invalid_message", None),
    ("number", "42", "invalid_message", None),
    ("null", "null", "invalid_message", None),
    ("no_type", "{}", "invalid_message", None),
    ("type_not_string", '{"type": 1}', "invalid_message", None),
    ("type_list", '{"type": ["ping"]}', "invalid_message", None),
    ("unknown_type", '{"type": "nonsense"}', "unknown_message", None),
    ("unknown_field", '{"type": "ping", "extra": 1}', "invalid_message", "ping"),
    (
        "state_number",
        '{"type": "presence.heartbeat", "state": 5}',
        "invalid_message",
        "presence.heartbeat",
    ),
    (
        "state_list",
        '{"type": "presence.heartbeat", "state": []}',
        "invalid_message",
        "presence.heartbeat",
    ),
    (
        "state_object",
        '{"type": "presence.heartbeat", "state": {}}',
        "invalid_message",
        "presence.heartbeat",
    ),
    ("state_nan", '{"type": "presence.heartbeat", "state": NaN}', "invalid_message", None),
    (
        "state_huge_int",
        '{"type": "presence.heartbeat", "state": ' + "9" * 5000 + "}",
        "invalid_message",
        None,
    ),
    (
        "state_long_int",
        '{"type": "presence.heartbeat", "state": ' + "9" * 4000 + "}",
        "invalid_message",
        "presence.heartbeat",
    ),
    (
        "state_unknown",
        '{"type": "presence.heartbeat", "state": "sleepy"}',
        "invalid_message",
        "presence.heartbeat",
    ),
    ("channel_missing", '{"type": "chat.typing"}', "invalid_message", "chat.typing"),
    ("channel_number", '{"type": "chat.typing", "channel": 5}', "invalid_message", "chat.typing"),
    (
        "channel_object",
        '{"type": "chat.typing", "channel": {"id": 1}}',
        "invalid_message",
        "chat.typing",
    ),
    (
        "channel_not_uuid",
        '{"type": "chat.typing", "channel": "nope"}',
        "invalid_message",
        "chat.typing",
    ),
    (
        "channel_braced_uuid",
        '{"type": "chat.typing", "channel": "{' + CHANNEL + '}"}',
        "invalid_message",
        "chat.typing",
    ),
    ("nul_escape_in_type", '{"type": "ping\\u0000"}', "invalid_message", None),
    ("nul_escape_in_key", '{"type": "ping", "\\u0000": 1}', "invalid_message", None),
    (
        "nul_escape_in_channel",
        '{"type": "chat.typing", "channel": "' + CHANNEL[:-1] + '\\u0000"}',
        "invalid_message",
        None,
    ),
    ("raw_nul", '{"type": "ping"}\x00', "invalid_message", None),
    ("lone_surrogate_escape", '{"type": "\\ud800"}', "invalid_message", None),
    ("lone_surrogate_raw", '{"type": "ping", "x": "\ud800"}', "invalid_message", None),
    ("oversized", '{"type": "ping", "pad": "' + "a" * 100_000 + '"}', "invalid_message", None),
    ("oversized_1mib", "[" + "1," * 500_000 + "1]", "invalid_message", None),
]


async def _send(socket: Any, frame: str | bytes) -> None:
    """The frame as the ASGI server hands it over (``send_to`` refuses an
    empty text frame, which a client can send)."""
    key = "bytes" if isinstance(frame, bytes) else "text"
    await socket.send_input({"type": "websocket.receive", key: frame})


@pytest.mark.parametrize(
    ("frame", "code", "message_type"),
    [pytest.param(f, c, t, id=n) for n, f, c, t in MALFORMED],
)
def test_malformed_frame_answers_error_and_the_socket_keeps_working(
    tenant, frame, code, message_type
):
    member = MembershipFactory(organization=tenant)

    @async_to_sync
    async def scenario() -> tuple[dict, dict, list]:
        _, socket = await connect(ACME, await acookie(member.user))
        await receive_all(socket, timeout=0.1)
        try:
            await _send(socket, frame)
            error = await receive(socket)
            await socket.send_json_to({"type": "ping"})
            pong = await receive(socket)
            rest = await receive_all(socket, timeout=0.2)
            return error, pong, rest
        finally:
            await socket.disconnect()

    error, pong, rest = scenario()
    assert error["type"] == "error"
    assert error["op"] == "rejected"
    assert error["data"]["code"] == code
    assert error["data"]["message_type"] == message_type
    # the flat fields clients read before the envelope existed
    assert (error["code"], error["message"]) == (code, error["data"]["message"])
    # the answer never echoes the frame
    assert len(error["data"]["message"]) < 200
    assert pong == {"type": "pong"}
    assert [m for m in rest if m.get("type") != "presence"] == []


def test_error_event_shape(tenant):
    member = MembershipFactory(organization=tenant)

    @async_to_sync
    async def scenario() -> dict:
        _, socket = await connect(ACME, await acookie(member.user))
        try:
            await socket.send_json_to({"type": "presence.heartbeat", "state": "sleepy"})
            return await receive(socket)
        finally:
            await socket.disconnect()

    assert scenario() == {
        "type": "error",
        "op": "rejected",
        "data": {
            "code": "invalid_message",
            "message": "state is 'active' or 'away'.",
            "message_type": "presence.heartbeat",
        },
        "code": "invalid_message",
        "message": "state is 'active' or 'away'.",
    }


def test_a_handler_that_raises_answers_internal_error_and_keeps_the_socket(
    tenant, monkeypatch, caplog
):
    """A bug inside a handler (here: the channel lookup of ``chat.typing``)
    is logged with its traceback; the client gets ``internal_error`` without
    it, and the socket still answers."""
    member = MembershipFactory(organization=tenant)

    def broken(**kwargs: Any) -> Any:
        raise RuntimeError("secret internals /srv/app/selectors.py")

    monkeypatch.setattr("apps.websocket_server.chat_typing.channels_visible_to", broken)

    @async_to_sync
    async def scenario() -> tuple[dict, dict]:
        _, socket = await connect(ACME, await acookie(member.user))
        try:
            await socket.send_json_to({"type": "chat.typing", "channel": CHANNEL})
            error = await receive(socket)
            await socket.send_json_to({"type": "ping"})
            return error, await receive(socket)
        finally:
            await socket.disconnect()

    with caplog.at_level(logging.ERROR, logger="apps.websocket_server.consumers"):
        error, pong = scenario()
    assert error == {
        "type": "error",
        "op": "failed",
        "data": {
            "code": "internal_error",
            "message": "The server could not handle this message.",
            "message_type": "chat.typing",
        },
        "code": "internal_error",
        "message": "The server could not handle this message.",
    }
    assert "secret" not in json.dumps(error)
    assert pong == {"type": "pong"}
    logged = [r for r in caplog.records if r.exc_info]
    assert len(logged) == 1
    assert "secret internals" in str(logged[0].exc_info[1])


def test_a_flood_of_invalid_frames_closes_4400_and_drops_presence(tenant):
    """Each refusal costs an answer: the ``INVALID_CLOSE_AFTER``-th refused
    frame within the window closes the socket (4400 ``invalid_messages``), and
    the others watching see the user go offline at once."""
    flooder = MembershipFactory(organization=tenant)
    watcher_member = MembershipFactory(organization=tenant)
    user = str(flooder.user_id)

    @async_to_sync
    async def scenario() -> tuple[list[str], dict, list[tuple[str, str]], float]:
        _, watcher = await connect(ACME, await acookie(watcher_member.user))
        _, socket = await connect(ACME, await acookie(flooder.user))
        await receive_all(watcher, timeout=0.5)
        await receive_all(socket, timeout=0.1)
        try:
            for _ in range(INVALID_CLOSE_AFTER + 5):
                await socket.send_to(text_data="[" * DEEP)
            codes = []
            while True:
                output = await socket.receive_output(timeout=3)
                if output["type"] == "websocket.close":
                    closed_at = time.monotonic()
                    break
                message = json.loads(output["text"])
                if message["type"] == "error":
                    codes.append(message["code"])
            states, elapsed = await presence_until(watcher, user, "offline", since=closed_at)
            return codes, output, states, elapsed
        finally:
            await watcher.disconnect()

    codes, close, states, elapsed = scenario()
    assert codes == ["invalid_message"] * (INVALID_CLOSE_AFTER - 1)
    assert (close["code"], close.get("reason")) == (4400, "invalid_messages")
    assert states == [(user, "offline")]
    assert elapsed < 2.0


def test_frame_limits_are_checked_before_parsing(monkeypatch):
    """Bounded work per frame: an oversized or too-deep frame never reaches
    the JSON parser (``json.loads`` recursed once per level and read any
    size): the size check is the frame's, the depth scan the shared reader's
    (``apps.common.parsers.json_depth_exceeds``, with the frame's limit)."""
    from apps.common import parsers

    def must_not_parse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("parsed")

    monkeypatch.setattr(parsers.json, "loads", must_not_parse)
    for text in (
        "[" * (frames.MAX_DEPTH + 1) + "]" * (frames.MAX_DEPTH + 1),
        '{"type": "ping", "x": "' + "a" * frames.MAX_FRAME_CHARS + '"}',
    ):
        with pytest.raises(frames.FrameError) as refused:
            frames.decode({"type": "websocket.receive", "text": text})
        assert refused.value.code == "invalid_message"


def test_depth_limit_ignores_brackets_inside_strings():
    nested_text = '{"type": "presence.heartbeat", "state": "active"}'
    assert frames.decode({"text": nested_text}).fields == {"state": "active"}
    brackets = '{"type": "ping", "x": "' + "[" * 50 + '\\"' + "{" * 50 + '"}'
    with pytest.raises(frames.FrameError, match="Unknown field"):
        frames.decode({"text": brackets})  # parsed (depth 1), refused for its field
    assert frames.loads_bounded(
        '["' + "[" * 50 + '"]', max_chars=frames.MAX_FRAME_CHARS, max_depth=1
    ) == ["[" * 50]
