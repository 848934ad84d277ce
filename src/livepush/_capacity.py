"""Pushes channels-redis drops for a server process that does not read them: seen and counted.

channels-redis keeps the messages of all of a process's process-local channels (its fan-out's
among them) in one Redis key. Its ``group_send`` skips a key that already holds the channel's
capacity of messages (as the ASGI spec has it: a group send never raises ``ChannelFull``) and
says so only at INFO, a record a logger at the usual WARNING level never creates; and it removes,
as silently, messages that waited in a key longer than ``expiry`` (60 s) unread.

:func:`group_send` is channels-redis's ``RedisChannelLayer.group_send`` (4.2 to 4.3, unchanged
between them) made to report both: the same keys, script and message encoding, through the
layer's own helpers, with its four round trips pipelined into two. Every push goes through it
(``livepush._publish``). What it finds dropped is logged at WARNING on ``livepush.capacity``, at
most once every :data:`WARNING_INTERVAL` seconds with the drops since the last line, and counted
(:func:`dropped_count`), in the publishing process: the one that asked for the push. Other layers
(in-memory, pub/sub) have no capacity in Redis and keep their own ``group_send``.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

from channels_redis.core import RedisChannelLayer as _CoreRedisChannelLayer

__all__ = ["WARNING_INTERVAL", "dropped_count", "group_send"]

logger = logging.getLogger("livepush.capacity")

#: Seconds between two WARNING lines about drops; the count is exact whatever the rate.
WARNING_INTERVAL: Final = 10.0

# channels-redis's own script (channels_redis/core.py, RedisChannelLayer.group_send): add the
# message to each key below its capacity, and count the keys that were not.
_GROUP_SEND_LUA: Final = """
local over_capacity = 0
local current_time = ARGV[#ARGV - 1]
local expiry = ARGV[#ARGV]
for i=1,#KEYS do
    if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[i + #KEYS]) then
        redis.call('ZADD', KEYS[i], current_time, ARGV[i])
        redis.call('EXPIRE', KEYS[i], expiry)
    else
        over_capacity = over_capacity + 1
    end
end
return over_capacity
"""

_dropped = 0
_unreported = 0
_last_warning = float("-inf")


def dropped_count() -> int:
    """How many messages this process's pushes found dropped by channels-redis, since it started.

    Each is a push a server process did not get because its channel was over capacity, or a
    message removed from a server process's channel after waiting there unread for ``expiry``.
    """
    return _dropped


async def group_send(layer: Any, group: str, message: dict[str, Any]) -> int:
    """``layer.group_send(group, message)``, returning how many messages channels-redis dropped.

    For a channels-redis ``RedisChannelLayer`` (or a subclass), the count is the group's
    channels whose Redis key was at capacity, plus the messages older than ``expiry`` removed
    from those keys; each drop is also logged and counted (:func:`dropped_count`). For other
    layers, 0.

    Raises:
        Exception: the channel layer's error (redis-py's, for Redis).
    """
    if not isinstance(layer, _CoreRedisChannelLayer):
        await layer.group_send(group, message)
        return 0
    layer.require_valid_group_name(group)
    key = layer._group_key(group)
    pipe = layer.connection(layer.consistent_hash(group)).pipeline(transaction=False)
    # Memberships older than group_expiry are gone; then the members.
    pipe.zremrangebyscore(key, min=0, max=int(time.time()) - layer.group_expiry)
    pipe.zrange(key, 0, -1)
    _, members = await pipe.execute()
    channels = [member.decode("utf8") for member in members]
    by_connection, payloads, capacities = layer._map_channel_keys_to_connection(channels, message)
    over = expired = 0
    for index, keys in by_connection.items():
        now = time.time()
        # On the keys' own shard (channels-redis trims them on the group's, the same with one
        # host), then the script: one round trip.
        pipe = layer.connection(index).pipeline(transaction=False)
        for channel_key in keys:
            pipe.zremrangebyscore(channel_key, min=0, max=int(now) - int(layer.expiry))
        pipe.eval(
            _GROUP_SEND_LUA,
            len(keys),
            *keys,
            *(payloads[channel_key] for channel_key in keys),
            *(capacities[channel_key] for channel_key in keys),
            now,
            layer.expiry,
        )
        *trimmed, full = await pipe.execute()
        over += int(full)
        expired += sum(int(n) for n in trimmed)
    if over or expired:
        _report(group, over, expired, len(channels), layer.expiry)
    return over + expired


def _report(group: str, over: int, expired: int, members: int, expiry: float) -> None:
    global _dropped, _unreported, _last_warning
    _dropped += over + expired
    _unreported += over + expired
    now = time.monotonic()
    if now - _last_warning < WARNING_INTERVAL:
        return
    since, _unreported, _last_warning = _unreported, 0, now
    what = []
    if over:
        what.append(
            f"{over} of its {members} channel(s) were over capacity and did not get it (a server "
            "process too busy to read its pushes, or gone; raise channel_capacity for process "
            "channels)"
        )
    if expired:
        what.append(f"{expired} message(s) older than expiry ({expiry}s) were removed unread")
    logger.warning(
        "Pushes lost in Redis: sending to group %r, %s. %d lost since the last warning, %d since "
        "this process started (see docs/topics/faults.md, bursts of pushes).",
        group,
        "; ".join(what),
        since,
        _dropped,
    )
