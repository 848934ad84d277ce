"""Presence in Redis: atomic Lua scripts on Redis's own clock, and the client presence uses.

Every operation is one script, so concurrent connects, disconnects, refreshes and sweeps in
several processes never leave a wrong count, and server processes with skewed clocks agree.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from livepush.conf import livepush_settings
from livepush.presence.backends.base import SWEEP_BATCH, PresenceBackend

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisPresence", "make_client", "redis_host"]

# Every script reads the clock from Redis (TIME), so server processes with skewed clocks agree.
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: users. ARGV: ttl_ms, prefix, then user_id, conn_id pairs. Returns, per pair, 1 if the
# user came online (had no entry before: a second tab of the same batch gets 0).
_CONNECT = (
    _NOW
    + """
local ttl = tonumber(ARGV[1])
local exp = now + ttl
local came = {}
for i = 3, #ARGV, 2 do
  local uid, conn = ARGV[i], ARGV[i + 1]
  local ckey = ARGV[2] .. ':c:' .. uid
  redis.call('DEL', ARGV[2] .. ':t:' .. conn)
  redis.call('ZREMRANGEBYSCORE', ckey, '-inf', now)
  local had = redis.call('ZSCORE', KEYS[1], uid)
  redis.call('ZADD', ckey, exp, conn)
  redis.call('PEXPIRE', ckey, ttl * 4)
  redis.call('ZADD', KEYS[1], 'GT', exp, uid)
  if had then table.insert(came, 0) else table.insert(came, 1) end
end
return came
"""
)

# KEYS: users. ARGV: grace_ms, tombstone_ms, prefix, then user_id, conn_id pairs. Returns, per
# pair, 1 if the user went offline now (grace 0 only).
_DISCONNECT = (
    _NOW
    + """
local grace = tonumber(ARGV[1])
local went = {}
for i = 4, #ARGV, 2 do
  local uid, conn = ARGV[i], ARGV[i + 1]
  local ckey = ARGV[3] .. ':c:' .. uid
  local result = 0
  redis.call('SET', ARGV[3] .. ':t:' .. conn, '1', 'PX', tonumber(ARGV[2]))
  redis.call('ZREM', ckey, conn)
  redis.call('ZREMRANGEBYSCORE', ckey, '-inf', now)
  if redis.call('ZCARD', ckey) == 0 then
    redis.call('DEL', ckey)
    if grace == 0 then
      result = redis.call('ZREM', KEYS[1], uid)
    elseif redis.call('ZSCORE', KEYS[1], uid) then
      redis.call('ZADD', KEYS[1], now + grace, uid)
    end
  end
  table.insert(went, result)
end
return went
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

# KEYS: users. The users whose lease has not lapsed, as one JSON array: one reply to parse, not
# one per user (a snapshot of 2,000 users online is read once per connect batch in a storm).
_ONLINE = (
    _NOW
    + """
local users = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
if #users == 0 then return '[]' end
return cjson.encode(users)
"""
)

#: Entries one connect, disconnect or refresh script writes; more are sent in several scripts.
REFRESH_BATCH = 500


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisPresence(PresenceBackend):
    """Presence in Redis: one sorted set of users, one of connections per user.

    Keys (prefix ``LIVEPUSH["PRESENCE_PREFIX"]``): ``{prefix}:u`` (user id -> when their entry
    lapses), ``{prefix}:c:{user_id}`` (connection id -> expiry), ``{prefix}:t:{conn_id}``
    (tombstone of a closed connection). One Redis server or a primary with replicas; not
    Redis Cluster (the scripts build key names).

    Args:
        client: a ``redis.asyncio`` client; the backend does not close it.
        prefix: the key prefix.
        ttl: seconds an entry lives without a refresh.
        grace: seconds a user stays online after their last connection closes.
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
        self._online = client.register_script(_ONLINE)
        self._sweep = client.register_script(_SWEEP)

    def configured_as(self, prefix: str, ttl: float, grace: float) -> bool:
        """Whether this backend was made with these settings (rounded as it stores them)."""
        wanted = (prefix, _ms(ttl), 0 if grace <= 0 else _ms(grace))
        return (self.prefix, self.ttl_ms, self.grace_ms) == wanted

    async def connect(self, user_id: str, conn_id: str) -> bool:
        return (await self.connect_many([(user_id, conn_id)]))[0]

    async def connect_many(self, entries: list[tuple[str, str]]) -> list[bool]:
        replies = await self._per_batch(self._connect, [self.ttl_ms, self.prefix], entries)
        return [bool(flag) for flag in replies]

    async def disconnect(self, user_id: str, conn_id: str) -> bool:
        return (await self.disconnect_many([(user_id, conn_id)]))[0]

    async def disconnect_many(self, entries: list[tuple[str, str]]) -> list[bool]:
        head: list[Any] = [self.grace_ms, self.ttl_ms * 2, self.prefix]
        return [bool(flag) for flag in await self._per_batch(self._disconnect, head, entries)]

    async def _per_batch(
        self, script: Any, head: list[Any], entries: list[tuple[str, str]]
    ) -> list[Any]:
        """Run ``script`` over ``entries``, :data:`REFRESH_BATCH` pairs a call; all the replies."""
        replies: list[Any] = []
        for start in range(0, len(entries), REFRESH_BATCH):
            args = list(head)
            for user_id, conn_id in entries[start : start + REFRESH_BATCH]:
                args += [user_id, conn_id]
            replies += await script([self.users_key], args)
        return replies

    async def refresh(self, entries: list[tuple[str, str]]) -> list[str]:
        replies = await self._per_batch(self._refresh, [self.ttl_ms, self.prefix], entries)
        return [_text(u) for u in replies]

    async def sweep(self) -> list[str]:
        result = await self._sweep([self.users_key], [self.prefix, SWEEP_BATCH])
        return [_text(u) for u in result]

    async def _now_ms(self) -> int:
        seconds, micros = await self.client.time()
        return int(seconds) * 1000 + int(micros) // 1000

    async def online_user_ids(self) -> list[str]:
        # Users whose lease lapsed are offline even before a sweep removes them.
        users: list[str] = json.loads(await self._online([self.users_key]))
        return users

    async def online_among(self, user_ids: list[str]) -> set[str]:
        now = await self._now_ms()
        scores = await self.client.zmscore(self.users_key, user_ids)
        return {
            u
            for u, score in zip(user_ids, scores, strict=True)
            if score is not None and score > now
        }

    async def is_online(self, user_id: str) -> bool:
        score = await self.client.zscore(self.users_key, user_id)
        return score is not None and score > await self._now_ms()

    async def connection_count(self, user_id: str) -> int:
        now = await self._now_ms()
        return int(await self.client.zcount(f"{self.prefix}:c:{user_id}", f"({now}", "+inf"))


# The client -------------------------------------------------------------------------------------


def redis_host() -> dict[str, Any] | None:
    """The Redis presence uses, as a host dict, or ``None`` for in-memory presence.

    ``PRESENCE_REDIS_URL`` when set, else the first host of a Redis channel layer (its password,
    TLS and Sentinel settings included).
    """
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


def make_client(host: dict[str, Any]) -> Redis:
    """A ``redis.asyncio`` client for a host dict from :func:`redis_host` (Sentinel included)."""
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
