"""Presence in Redis: atomic Lua scripts on Redis's own clock, and the client presence uses.

Every operation is one script, so concurrent connects, disconnects, refreshes and sweeps in
several processes never leave a wrong count, and server processes with skewed clocks agree.
"""

from __future__ import annotations

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

#: Entries one refresh script writes; a longer list is sent in several scripts.
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
        self._sweep = client.register_script(_SWEEP)

    def configured_as(self, prefix: str, ttl: float, grace: float) -> bool:
        """Whether this backend was made with these settings (rounded as it stores them)."""
        wanted = (prefix, _ms(ttl), 0 if grace <= 0 else _ms(grace))
        return (self.prefix, self.ttl_ms, self.grace_ms) == wanted

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
        for start in range(0, len(entries), REFRESH_BATCH):
            args: list[Any] = [self.ttl_ms, self.prefix]
            for user_id, conn_id in entries[start : start + REFRESH_BATCH]:
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
