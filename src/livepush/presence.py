"""User presence: online when a user has a connection anywhere, offline when the last one closes.

Presence is tracked per connection and counted per user across every server process.
``USER_PRESENCE_CONNECTED`` is pushed when a user goes from no connection anywhere to one;
``USER_PRESENCE_DISCONNECTED`` when their last connection anywhere is gone, after a short grace
period that absorbs page reloads. Payload: ``{"user_id": ...}``.

Crash safety without cron: each server process refreshes the entries of the connections it holds
every ``PRESENCE_TTL / 3`` seconds (the heartbeat closes connections whose client is gone), and
an entry not refreshed for ``PRESENCE_TTL`` seconds expires. Every process sweeps expired users
every ``PRESENCE_SWEEP_INTERVAL`` seconds, so when a server is killed, a surviving one pushes the
``DISCONNECTED`` event within ``PRESENCE_TTL + PRESENCE_SWEEP_INTERVAL`` seconds (47 s by default).

Backends: :class:`RedisPresence` (atomic Lua scripts, Redis server time) and
:class:`MemoryPresence` (one process). See ``docs/topics/presence.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from django.dispatch import Signal

from livepush.conf import livepush_settings
from livepush.registry import WebSocketMessageType

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "MemoryPresence",
    "PresenceBackend",
    "RedisPresence",
    "aconnection_count",
    "ais_online",
    "aonline_user_ids",
    "connection_count",
    "get_backend",
    "is_online",
    "online_user_ids",
    "user_offline",
    "user_online",
]

logger = logging.getLogger("livepush.presence")

#: Sent (``await user_online.asend(...)``) by the process that saw the user come online, with
#: ``user_id``. Sync and async receivers both work.
user_online = Signal()
#: Sent by the process that saw the user's last connection go, with ``user_id``.
user_offline = Signal()


#: Users one sweep script handles; the tracker sweeps again while a batch comes back full.
SWEEP_BATCH = 1000


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class PresenceBackend:
    """What a presence backend does; every method is atomic across processes."""

    async def connect(self, user_id: str, conn_id: str) -> bool:
        """Record a connection; return whether the user came online (no connection before)."""
        raise NotImplementedError

    async def disconnect(self, user_id: str, conn_id: str) -> bool:
        """Forget a connection; return whether the user went offline now (grace 0 only)."""
        raise NotImplementedError

    async def refresh(self, entries: list[tuple[str, str]]) -> list[str]:
        """Keep ``(user_id, conn_id)`` entries alive; return users whose entry was re-created."""
        raise NotImplementedError

    async def sweep(self) -> list[str]:
        """Expire stale entries; return the users that went offline (each exactly once)."""
        raise NotImplementedError

    async def online_user_ids(self) -> list[str]:
        raise NotImplementedError

    async def is_online(self, user_id: str) -> bool:
        return user_id in await self.online_user_ids()

    async def connection_count(self, user_id: str) -> int:
        raise NotImplementedError


# Redis ------------------------------------------------------------------------------------------

# Every script reads the clock from Redis (TIME), so server processes with skewed clocks agree.
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: conns(user), users, tombstone(conn). ARGV: user_id, conn_id, ttl_ms.
_CONNECT = (
    _NOW
    + """
local exp = now + tonumber(ARGV[3])
redis.call('DEL', KEYS[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local had = redis.call('ZSCORE', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[1], exp, ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) * 4)
redis.call('ZADD', KEYS[2], 'GT', exp, ARGV[1])
if had then return 0 end
return 1
"""
)

# KEYS: conns(user), users, tombstone(conn). ARGV: user_id, conn_id, grace_ms, tombstone_ms.
_DISCONNECT = (
    _NOW
    + """
redis.call('SET', KEYS[3], '1', 'PX', tonumber(ARGV[4]))
redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) > 0 then return 0 end
redis.call('DEL', KEYS[1])
if tonumber(ARGV[3]) == 0 then
  return redis.call('ZREM', KEYS[2], ARGV[1])
end
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
end
return 0
"""
)

# KEYS: users. ARGV: ttl_ms, prefix, then user_id, conn_id pairs. A closed connection's tombstone
# stops a refresh racing its disconnect from bringing it back.
_REFRESH = (
    _NOW
    + """
local ttl = tonumber(ARGV[1])
local exp = now + ttl
local recreated = {}
for i = 3, #ARGV, 2 do
  local uid, conn = ARGV[i], ARGV[i + 1]
  if redis.call('EXISTS', ARGV[2] .. ':t:' .. conn) == 0 then
    local ckey = ARGV[2] .. ':c:' .. uid
    redis.call('ZADD', ckey, exp, conn)
    redis.call('PEXPIRE', ckey, ttl * 4)
    if not redis.call('ZSCORE', KEYS[1], uid) then table.insert(recreated, uid) end
    redis.call('ZADD', KEYS[1], 'GT', exp, uid)
  end
end
return recreated
"""
)

# KEYS: users. ARGV: prefix, limit.
_SWEEP = (
    _NOW
    + """
local offline = {}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
for _, uid in ipairs(due) do
  local ckey = ARGV[1] .. ':c:' .. uid
  redis.call('ZREMRANGEBYSCORE', ckey, '-inf', now)
  local last = redis.call('ZRANGE', ckey, -1, -1, 'WITHSCORES')
  if #last == 0 then
    redis.call('ZREM', KEYS[1], uid)
    table.insert(offline, uid)
  else
    redis.call('ZADD', KEYS[1], last[2], uid)
  end
end
return offline
"""
)


class RedisPresence(PresenceBackend):
    """Presence in Redis: one sorted set of users, one of connections per user.

    Keys (prefix ``LIVEPUSH["PRESENCE_PREFIX"]``): ``{prefix}:u`` (user id -> when their entry
    lapses), ``{prefix}:c:{user_id}`` (connection id -> expiry), ``{prefix}:t:{conn_id}``
    (tombstone of a closed connection). One Redis server or a primary with replicas; not
    Redis Cluster (the scripts build key names).
    """

    def __init__(self, client: Redis, prefix: str, ttl: float, grace: float) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_ms = _ms(ttl)
        self.grace_ms = 0 if grace <= 0 else _ms(grace)
        self.users_key = f"{prefix}:u"
        self._connect = client.register_script(_CONNECT)
        self._disconnect = client.register_script(_DISCONNECT)
        self._refresh = client.register_script(_REFRESH)
        self._sweep = client.register_script(_SWEEP)

    def _keys(self, user_id: str, conn_id: str) -> list[str]:
        return [f"{self.prefix}:c:{user_id}", self.users_key, f"{self.prefix}:t:{conn_id}"]

    async def connect(self, user_id: str, conn_id: str) -> bool:
        args: list[str | int] = [user_id, conn_id, self.ttl_ms]
        result = await self._connect(self._keys(user_id, conn_id), args)
        return bool(result)

    async def disconnect(self, user_id: str, conn_id: str) -> bool:
        args: list[str | int] = [user_id, conn_id, self.grace_ms, self.ttl_ms * 2]
        return bool(await self._disconnect(self._keys(user_id, conn_id), args))

    async def refresh(self, entries: list[tuple[str, str]]) -> list[str]:
        recreated: list[str] = []
        for start in range(0, len(entries), 500):
            args: list[Any] = [self.ttl_ms, self.prefix]
            for user_id, conn_id in entries[start : start + 500]:
                args += [user_id, conn_id]
            recreated += [_text(u) for u in await self._refresh([self.users_key], args)]
        return recreated

    async def sweep(self) -> list[str]:
        result = await self._sweep([self.users_key], [self.prefix, SWEEP_BATCH])
        return [_text(u) for u in result]

    async def _now_ms(self) -> int:
        seconds, micros = await self.client.time()
        return int(seconds) * 1000 + int(micros) // 1000

    async def online_user_ids(self) -> list[str]:
        # Users whose lease lapsed are offline even before a sweep removes them.
        now = await self._now_ms()
        users = await self.client.zrangebyscore(self.users_key, f"({now}", "+inf")
        return [_text(u) for u in users]

    async def is_online(self, user_id: str) -> bool:
        score = await self.client.zscore(self.users_key, user_id)
        return score is not None and score > await self._now_ms()

    async def connection_count(self, user_id: str) -> int:
        now = await self._now_ms()
        return int(await self.client.zcount(f"{self.prefix}:c:{user_id}", f"({now}", "+inf"))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# Memory -----------------------------------------------------------------------------------------


class MemoryPresence(PresenceBackend):
    """Presence for one process (the in-memory channel layer); same rules, no Redis."""

    def __init__(
        self, ttl: float, grace: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.clock = clock  # replaceable, so tests can let time pass
        self.ttl = ttl
        self.grace = max(0.0, grace)
        self.conns: dict[str, dict[str, float]] = {}
        self.users: dict[str, float] = {}
        # Closed connection -> when its tombstone may go (as Redis's expire after 2 x TTL).
        self.closed: dict[str, float] = {}

    async def connect(self, user_id: str, conn_id: str) -> bool:
        now = self.clock()
        self.closed.pop(conn_id, None)
        came_online = user_id not in self.users
        self.conns.setdefault(user_id, {})[conn_id] = now + self.ttl
        self.users[user_id] = max(self.users.get(user_id, 0.0), now + self.ttl)
        return came_online

    async def disconnect(self, user_id: str, conn_id: str) -> bool:
        now = self.clock()
        self.closed[conn_id] = now + 2 * self.ttl
        conns = self.conns.get(user_id, {})
        conns.pop(conn_id, None)
        for conn, expiry in list(conns.items()):
            if expiry <= now:
                del conns[conn]
        if conns:
            return False
        self.conns.pop(user_id, None)
        if self.grace == 0:
            return self.users.pop(user_id, None) is not None
        if user_id in self.users:
            self.users[user_id] = now + self.grace
        return False

    async def refresh(self, entries: list[tuple[str, str]]) -> list[str]:
        now = self.clock()
        recreated = []
        for user_id, conn_id in entries:
            if conn_id in self.closed:
                continue
            self.conns.setdefault(user_id, {})[conn_id] = now + self.ttl
            if user_id not in self.users:
                recreated.append(user_id)
            self.users[user_id] = max(self.users.get(user_id, 0.0), now + self.ttl)
        return recreated

    async def sweep(self) -> list[str]:
        now = self.clock()
        for conn_id, until in list(self.closed.items()):
            if until <= now:
                del self.closed[conn_id]
        offline = []
        for user_id, deadline in list(self.users.items()):
            if deadline > now:
                continue
            conns = {c: e for c, e in self.conns.get(user_id, {}).items() if e > now}
            if conns:
                self.conns[user_id] = conns
                self.users[user_id] = max(conns.values())
            else:
                self.conns.pop(user_id, None)
                del self.users[user_id]
                offline.append(user_id)
        return offline

    async def online_user_ids(self) -> list[str]:
        now = self.clock()
        return [u for u, deadline in self.users.items() if deadline > now]

    async def connection_count(self, user_id: str) -> int:
        now = self.clock()
        return sum(1 for e in self.conns.get(user_id, {}).values() if e > now)


# Choosing a backend -----------------------------------------------------------------------------

_memory: MemoryPresence | None = None
_redis_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RedisPresence] = (
    weakref.WeakKeyDictionary()
)


def redis_host() -> dict[str, Any] | None:
    """The Redis presence uses, as a host dict: ``PRESENCE_REDIS_URL``, or the first host of a
    Redis channel layer (its password, TLS and Sentinel settings included), or ``None``."""
    from livepush.layers import normalize_hosts

    url = livepush_settings.PRESENCE_REDIS_URL
    if url:
        return normalize_hosts([str(url)])[0]
    from django.conf import settings

    config = (getattr(settings, "CHANNEL_LAYERS", {}) or {}).get(livepush_settings.CHANNEL_LAYER)
    if not isinstance(config, dict) or "redis" not in str(config.get("BACKEND", "")).lower():
        return None
    hosts = (config.get("CONFIG") or {}).get("hosts")
    return normalize_hosts(list(hosts or [])[:1] or None)[0]


# Pool options of the channel layer's host dicts that a plain client does not take.
_POOL_ONLY = ("max_connections", "timeout")


def _client(host: dict[str, Any]) -> Redis:
    from redis.asyncio import Redis
    from redis.asyncio.sentinel import Sentinel

    kwargs = {k: v for k, v in host.items() if k not in _POOL_ONLY}
    if "master_name" in kwargs:
        sentinels = kwargs.pop("sentinels")
        options = kwargs.pop("sentinel_kwargs", None)
        sentinel = Sentinel(sentinels, sentinel_kwargs=options)  # type: ignore[no-untyped-call]
        client: Redis = sentinel.master_for(kwargs.pop("master_name"), **kwargs)
        return client
    address = kwargs.pop("address", None)
    if address is not None:
        return Redis.from_url(address, **kwargs)
    return Redis(**kwargs)


def get_backend() -> PresenceBackend:
    """The presence backend for the running event loop (Redis when the channel layer is)."""
    ttl = float(livepush_settings.PRESENCE_TTL)
    grace = float(livepush_settings.PRESENCE_GRACE)
    host = redis_host()
    if host is None:
        global _memory
        if _memory is None or (_memory.ttl, _memory.grace) != (ttl, max(0.0, grace)):
            _memory = MemoryPresence(ttl, grace)
        return _memory
    loop = asyncio.get_running_loop()
    backend = _redis_clients.get(loop)
    prefix = str(livepush_settings.PRESENCE_PREFIX)
    wanted = (prefix, _ms(ttl), 0 if grace <= 0 else _ms(grace))
    if backend is None or (backend.prefix, backend.ttl_ms, backend.grace_ms) != wanted:
        backend = _redis_clients[loop] = RedisPresence(_client(host), prefix, ttl, grace)
    return backend


# The per-process tracker --------------------------------------------------------------------


class Tracker:
    """Refreshes this process's connections and sweeps expired users, in one event loop."""

    def __init__(self) -> None:
        self.connections: dict[str, str] = {}  # conn_id -> user_id
        self._tasks: list[asyncio.Task[None]] = []

    def _ensure_running(self) -> None:
        if not self._tasks:
            loop = asyncio.get_running_loop()
            self._tasks = [
                loop.create_task(self._refresh_loop(), name="livepush-presence-refresh"),
                loop.create_task(self._sweep_loop(), name="livepush-presence-sweep"),
            ]

    def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()

    async def connect(self, user: Any, conn_id: str) -> None:
        user_id = str(user.pk)
        self._ensure_running()
        came_online = await get_backend().connect(user_id, conn_id)
        # Only a recorded connection is refreshed: one whose connect failed must not come back.
        self.connections[conn_id] = user_id
        if came_online:
            await _announce(WebSocketMessageType.USER_PRESENCE_CONNECTED, user_id, user)

    async def disconnect(self, user: Any, conn_id: str) -> None:
        user_id = self.connections.pop(conn_id, None)
        if user_id is None:
            return
        if await get_backend().disconnect(user_id, conn_id):
            await _announce(WebSocketMessageType.USER_PRESENCE_DISCONNECTED, user_id, user)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(float(livepush_settings.PRESENCE_TTL) / 3)
            entries = [(u, c) for c, u in self.connections.items()]
            if not entries:
                continue
            try:
                recreated = await get_backend().refresh(entries)
            except Exception as exc:
                logger.warning("Presence refresh failed: %r", exc)
                continue
            if recreated:
                # Entries this process holds were gone: Redis restarted or was flushed.
                logger.warning("Presence entries were lost (Redis restart or flush); restoring")
            for user_id in dict.fromkeys(recreated):
                await _announce(WebSocketMessageType.USER_PRESENCE_CONNECTED, user_id, None)

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(float(livepush_settings.PRESENCE_SWEEP_INTERVAL))
            try:
                offline = await self.sweep_all()
            except Exception as exc:
                logger.warning("Presence sweep failed: %r", exc)
                continue
            await asyncio.gather(
                *(
                    _announce(WebSocketMessageType.USER_PRESENCE_DISCONNECTED, user_id, None)
                    for user_id in offline
                )
            )

    async def sweep_all(self) -> list[str]:
        """Sweep until nothing is due (a sweep handles at most ``SWEEP_BATCH`` users)."""
        backend = get_backend()
        offline: list[str] = []
        while True:
            batch = await backend.sweep()
            offline += batch
            if len(batch) < SWEEP_BATCH:
                return offline


_trackers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Tracker] = (
    weakref.WeakKeyDictionary()
)


def get_tracker() -> Tracker:
    loop = asyncio.get_running_loop()
    tracker = _trackers.get(loop)
    if tracker is None:
        tracker = _trackers[loop] = Tracker()
    return tracker


def _user_id_value(user_id: str) -> Any:
    return int(user_id) if user_id.isdigit() else user_id


async def _announce(event: WebSocketMessageType, user_id: str, user: Any) -> None:
    """Push a presence event to its audience and send the matching signal; never raises."""
    from livepush._publish import publish
    from livepush.push import encode_message

    try:
        groups = await _audience_groups(user_id, user)
        if groups:
            payload = {"user_id": _user_id_value(user_id)}
            await publish(groups, encode_message(event, payload))
    except Exception:
        logger.exception("Could not push %s for user %s", event, user_id)
    signal = user_online if event is WebSocketMessageType.USER_PRESENCE_CONNECTED else user_offline
    try:
        await signal.asend(sender=Tracker, user_id=_user_id_value(user_id))
    except Exception:
        logger.exception(
            "A %s receiver failed", "user_online" if signal is user_online else "user_offline"
        )


async def _audience_groups(user_id: str, user: Any) -> list[str]:
    audience = livepush_settings.PRESENCE_AUDIENCE
    if audience is None:
        return [livepush_settings.broadcast_group]
    func = livepush_settings.import_setting("PRESENCE_AUDIENCE")
    if user is None:
        user = await _load_user(user_id)
        if user is None:
            return [livepush_settings.broadcast_group]
    if asyncio.iscoroutinefunction(func):
        result = await func(user)
    else:
        # A sync audience may use the ORM (friends, album members): run it in a thread.
        from channels.db import database_sync_to_async

        result = await database_sync_to_async(func)(user)
    from livepush.push import audience_groups

    return audience_groups(result)


async def _load_user(user_id: str) -> Any:
    from channels.db import database_sync_to_async
    from django.contrib.auth import get_user_model

    def load() -> Any:
        model = get_user_model()
        return model._default_manager.filter(pk=user_id).first()

    with contextlib.suppress(Exception):
        return await database_sync_to_async(load)()
    return None


# Public queries ---------------------------------------------------------------------------------


async def aonline_user_ids() -> list[Any]:
    """The ids of users online anywhere (those in their grace period included)."""
    return [_user_id_value(u) for u in await get_backend().online_user_ids()]


async def ais_online(user_id: Any) -> bool:
    """Whether the user has a connection anywhere (or is in the grace period after the last)."""
    return await get_backend().is_online(str(user_id))


async def aconnection_count(user_id: Any) -> int:
    """The number of live connections the user has, across all processes."""
    return await get_backend().connection_count(str(user_id))


def online_user_ids() -> list[Any]:
    """Sync :func:`aonline_user_ids`, for views, commands and tasks."""
    result: list[Any] = async_to_sync(_with_fresh_client(aonline_user_ids))()
    return result


def is_online(user_id: Any) -> bool:
    """Sync :func:`ais_online`."""
    return bool(async_to_sync(_with_fresh_client(ais_online))(user_id))


def connection_count(user_id: Any) -> int:
    """Sync :func:`aconnection_count`."""
    return int(async_to_sync(_with_fresh_client(aconnection_count))(user_id))


def _with_fresh_client(func: Any) -> Any:
    # async_to_sync runs each call in an event loop of its own; close the Redis client made for
    # it so no connection outlives the call.
    async def run(*args: Any) -> Any:
        loop = asyncio.get_running_loop()
        had_backend = loop in _redis_clients
        try:
            return await func(*args)
        finally:
            # Under ASGI a sync view's async_to_sync runs on the server's own loop: its shared
            # client stays. Only a client made for this call is closed.
            if not had_backend:
                backend = _redis_clients.pop(loop, None)
                if backend is not None:
                    await backend.client.aclose()

    return run
