"""Presence: online / away / offline per member, from connected sockets.

Kept in Redis, never in PostgreSQL (it changes every few seconds and is worth
nothing after a restart). Per organization and user, a hash maps each of the
user's sockets to ``"<state>|<expires_at>"``; a socket's entry is refreshed by
its connect and by client heartbeats (``presence.heartbeat`` or ``ping``) and
expires ``SOCKET_TTL_SECONDS`` later. So a server that crashes (its sockets
never say goodbye) stops counting once its entries expire: nothing has to
clean up after it.

A user's state is the best of their live sockets: ``online`` if any socket is
``active``, ``away`` if all are ``away``, ``offline`` with none. Each update
runs as one Lua script (atomic in Redis, also with sockets of the same user on
several server processes), which prunes expired entries, recomputes the state
and compares it with the last *announced* state: only a change is announced
(``presence`` event), so several tabs connecting and leaving do not flap.

Announcements are batched per organization and process for
``BATCH_SECONDS``: one ``presence`` event ``{"users": [{"user", "state"}, …]}``
carries every change of the window (the last state of each user). Without
this, N people connecting (a Monday morning, a server restart) cost N group
sends of N sockets each: 1,000 reconnects were a million layer messages.

An ``online`` sorted set per organization (user → latest expiry) lets the sweep
find users whose sockets all expired without a heartbeat-driven change; the
sockets run the sweep themselves (at most every ``SWEEP_INTERVAL_SECONDS``
per socket) and the Celery task ``websocket_server.presence_sweep`` covers
organizations with nobody connected.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from asyncio import AbstractEventLoop, get_running_loop
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, TypedDict
from uuid import UUID

import redis
import redis.asyncio as aioredis
from django.conf import settings

logger = logging.getLogger(__name__)

BATCH_SECONDS = 0.5  # not Final: tests shorten it
HEARTBEAT_INTERVAL_SECONDS: Final = 30  # what clients are told to send
SOCKET_TTL_SECONDS: Final = 75  # 2.5 heartbeats: one lost heartbeat is not "offline"
SWEEP_INTERVAL_SECONDS: Final = 30
ANNOUNCED_TTL_SECONDS: Final = 86_400
STATES: Final = ("active", "away")

# KEYS: sockets hash, announced hash, online zset.
# ARGV: now, socket ('' = none), state ('' = remove the socket), expires_at, user, ttl.
# Returns {announced_before, state_now, changed (0/1)}.
_UPDATE = """
local now = tonumber(ARGV[1])
if ARGV[2] ~= '' then
  if ARGV[3] == '' then
    redis.call('HDEL', KEYS[1], ARGV[2])
  else
    redis.call('HSET', KEYS[1], ARGV[2], ARGV[3] .. '|' .. ARGV[4])
  end
end
local entries = redis.call('HGETALL', KEYS[1])
local state = 'offline'
local latest = 0
for i = 2, #entries, 2 do
  local value = entries[i]
  local sep = string.find(value, '|', 1, true)
  local expires = tonumber(string.sub(value, sep + 1))
  if expires > now then
    if expires > latest then latest = expires end
    if string.sub(value, 1, sep - 1) == 'active' then
      state = 'online'
    elseif state == 'offline' then
      state = 'away'
    end
  else
    redis.call('HDEL', KEYS[1], entries[i - 1])
  end
end
if latest > 0 then
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6]))
  redis.call('ZADD', KEYS[3], latest, ARGV[5])
else
  redis.call('ZREM', KEYS[3], ARGV[5])
end
local before = redis.call('HGET', KEYS[2], ARGV[5]) or 'offline'
local changed = 0
if before ~= state then
  changed = 1
  if state == 'offline' then
    redis.call('HDEL', KEYS[2], ARGV[5])
  else
    redis.call('HSET', KEYS[2], ARGV[5], state)
  end
end
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[7]))
return {before, state, changed}
"""


@dataclass(frozen=True)
class PresenceChange:
    """The outcome of one update: announce ``state`` when ``changed``."""

    user_id: str
    before: str
    state: str
    changed: bool


def _key(schema_name: str, *parts: str) -> str:
    # Under the cache's key prefix, so the test suite's per-test cache cleanup
    # (conftest) also clears presence.
    return ":".join([str(settings.NOVATIME_ENV_PREFIX), "presence", schema_name, *parts])


def _member(raw: object) -> str:
    """A sorted-set member read without scores: ``bytes``, as these clients
    do not decode responses (redis-py's type also covers scored reads)."""
    if isinstance(raw, bytes):
        return raw.decode()
    if isinstance(raw, str):
        return raw
    raise TypeError(f"unexpected sorted-set member {raw!r}")


def _keys(schema_name: str, user_id: str) -> list[str]:
    return [
        _key(schema_name, "sockets", user_id),
        _key(schema_name, "announced"),
        _key(schema_name, "online"),
    ]


def _args(now: float, socket: str, state: str, user_id: str) -> list[str | float]:
    expires = now + SOCKET_TTL_SECONDS if state else 0
    return [now, socket, state, expires, user_id, SOCKET_TTL_SECONDS * 2, ANNOUNCED_TTL_SECONDS]


def _change(user_id: str, result: list[bytes | str | int]) -> PresenceChange:
    before, state, changed = (v.decode() if isinstance(v, bytes) else v for v in result)
    return PresenceChange(
        user_id=user_id, before=str(before), state=str(state), changed=bool(int(changed))
    )


# --- async side (consumers) -----------------------------------------------------------

_async_clients: weakref.WeakKeyDictionary[AbstractEventLoop, aioredis.Redis] = (
    weakref.WeakKeyDictionary()
)


def _async_client() -> aioredis.Redis:
    """One client per event loop (a redis.asyncio pool is bound to its loop)."""
    loop = get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        client = aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
        _async_clients[loop] = client
    return client


async def socket_seen(
    *, schema_name: str, user_id: object, socket: str, state: str, now: float | None = None
) -> PresenceChange:
    """Record (or refresh) ``socket`` of ``user_id`` in ``state``."""
    assert state in STATES
    user = str(user_id)
    result = await _async_client().eval(
        _UPDATE, 3, *_keys(schema_name, user), *_args(now or time.time(), socket, state, user)
    )
    return _change(user, result)


async def socket_gone(
    *, schema_name: str, user_id: object, socket: str, now: float | None = None
) -> PresenceChange:
    """Forget ``socket`` (disconnect, eviction)."""
    user = str(user_id)
    result = await _async_client().eval(
        _UPDATE, 3, *_keys(schema_name, user), *_args(now or time.time(), socket, "", user)
    )
    return _change(user, result)


async def sweep(*, schema_name: str, now: float | None = None) -> list[PresenceChange]:
    """Re-evaluate users whose sockets all expired (a crashed server's)."""
    now = now or time.time()
    client = _async_client()
    stale = await client.zrangebyscore(_key(schema_name, "online"), "-inf", now)
    changes = []
    for raw in stale:
        user = _member(raw)
        result = await client.eval(_UPDATE, 3, *_keys(schema_name, user), *_args(now, "", "", user))
        changes.append(_change(user, result))
    return [c for c in changes if c.changed]


class _Announcer:
    """Pending presence changes of one event loop, flushed per organization."""

    def __init__(self) -> None:
        self.pending: dict[str, dict[str, str]] = {}

    def add(self, schema_name: str, change: PresenceChange) -> None:
        batch = self.pending.get(schema_name)
        if batch is None:
            batch = self.pending[schema_name] = {}
            asyncio.get_running_loop().call_later(
                BATCH_SECONDS, lambda: asyncio.ensure_future(self.flush(schema_name))
            )
        batch[change.user_id] = change.state

    async def flush(self, schema_name: str) -> None:
        from .events import send_event_from_socket

        batch = self.pending.pop(schema_name, None)
        if not batch:
            return
        users = [{"user": user, "state": state} for user, state in sorted(batch.items())]
        try:
            await send_event_from_socket(
                schema_name=schema_name, type="presence", op="updated", data={"users": users}
            )
        except Exception:
            logger.warning("presence: announcement failed", exc_info=True)


_announcers: weakref.WeakKeyDictionary[AbstractEventLoop, _Announcer] = weakref.WeakKeyDictionary()


def announce(*, schema_name: str, change: PresenceChange) -> None:
    """Queue ``change`` for the organization's next ``presence`` event."""
    loop = get_running_loop()
    announcer = _announcers.get(loop)
    if announcer is None:
        announcer = _announcers[loop] = _Announcer()
    announcer.add(schema_name, change)


# --- sync side (HTTP, Celery) ---------------------------------------------------------

_sync_client: redis.Redis | None = None


def _client() -> redis.Redis:
    global _sync_client
    if _sync_client is None:
        _sync_client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
    return _sync_client


class PresenceState(TypedDict):
    """One member's presence, from their live socket entries."""

    state: str
    sockets: int
    expires_at: float | None


def states_of(
    *, schema_name: str, user_ids: Sequence[UUID | str], now: float | None = None
) -> dict[str, PresenceState]:
    """``{user_id: {"state", "sockets", "expires_at"}}`` computed from the live
    socket entries (expired ones do not count, swept or not). One pipelined
    round trip for the whole page of users."""
    now = now or time.time()
    users = [str(u) for u in user_ids]
    pipe = _client().pipeline(transaction=False)
    for user in users:
        pipe.hgetall(_key(schema_name, "sockets", user))
    out: dict[str, PresenceState] = {}
    for user, entries in zip(users, pipe.execute(), strict=True):
        state, latest, live = "offline", 0.0, 0
        for value in entries.values():
            socket_state, _, expires = value.decode().partition("|")
            if float(expires) <= now:
                continue
            live += 1
            latest = max(latest, float(expires))
            if socket_state == "active":
                state = "online"
            elif state == "offline":
                state = "away"
        out[user] = {"state": state, "sockets": live, "expires_at": latest or None}
    return out


def sweep_sync(*, schema_name: str, now: float | None = None) -> list[PresenceChange]:
    """``sweep`` for Celery (no event loop)."""
    now = now or time.time()
    client = _client()
    changes = []
    for raw in client.zrangebyscore(_key(schema_name, "online"), "-inf", now):
        user = _member(raw)
        result = client.eval(_UPDATE, 3, *_keys(schema_name, user), *_args(now, "", "", user))
        changes.append(_change(user, result))
    return [c for c in changes if c.changed]
