"""A Redis channel layer configuration that survives idle connections, connect bursts and bursts
of pushes.

With redis-py 8, channels-redis 4.3's receive loop dies after 5 idle seconds: redis-py's new
default ``socket_timeout`` of 5 s equals channels-redis's ``BZPOPMIN`` timeout of 5 s, so an idle
``receive()`` raises ``redis.exceptions.TimeoutError`` (django/channels_redis#422), with the
tuple host form of the Channels docs and with ``redis://`` URLs alike. And redis-py's
``ConnectionPool`` raises ``MaxConnectionsError`` instead of waiting when a burst of connects
needs more than ``max_connections`` at once.

:class:`RedisChannelLayer` fixes both: every host, Sentinel-managed ones included, gets a socket
timeout longer than the blocking pop (unless one is given) and a pool that waits for a free
connection. And it gives a server process's channels room for a burst: channels-redis keeps the
messages of every process-local channel of a process (its fan-out's among them) in one Redis key,
and a group send to a key that holds ``capacity`` messages (100 by default) is dropped; here that
key holds :data:`DEFAULT_PROCESS_CAPACITY`. :func:`redis_channel_layer` builds the
``CHANNEL_LAYERS`` entry for it from the same ``hosts`` the docs show::

    CHANNEL_LAYERS = {"default": redis_channel_layer([(REDIS_HOST, 6379)])}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from channels_redis.core import RedisChannelLayer as _ChannelsRedisLayer
from redis import asyncio as aioredis
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_POOL_TIMEOUT",
    "DEFAULT_PROCESS_CAPACITY",
    "DEFAULT_SOCKET_CONNECT_TIMEOUT",
    "DEFAULT_SOCKET_TIMEOUT",
    "PROCESS_CHANNELS",
    "RedisChannelLayer",
    "normalize_hosts",
    "redis_channel_layer",
]

#: Socket read timeout: longer than channels-redis's 5 s ``BZPOPMIN``, short enough that a hung
#: Redis is noticed.
DEFAULT_SOCKET_TIMEOUT: Final = 15.0
#: Connect timeout; without it an unreachable Redis would hang a connect forever.
DEFAULT_SOCKET_CONNECT_TIMEOUT: Final = 5.0
#: Connections per Redis host and process.
DEFAULT_MAX_CONNECTIONS: Final = 100
#: Seconds a command waits for a free pooled connection before failing.
DEFAULT_POOL_TIMEOUT: Final = 20.0
#: Messages a server process's channels may hold in Redis, unread, before channels-redis drops
#: more (its ``capacity`` defaults to 100): 5 to 7 seconds of pushes at the 1,500 to 2,000 a
#: second one process receives (measured). Each takes its push's size plus about 250 bytes of
#: Redis memory, so a process that stops reading costs Redis at most about 5 MB for 250-byte
#: pushes, 14 MB for 1 KB ones.
DEFAULT_PROCESS_CAPACITY: Final = 10_000
#: The ``channel_capacity`` pattern (a glob, as channels-redis takes) of process-local channels,
#: ``specific.<process>!<id>``: a server process's fan-out and its consumers' own channels.
PROCESS_CHANNELS: Final = "*!*"

HostSpec = Any  # a (host, port) pair, a redis:// URL or a dict of connection kwargs


def normalize_hosts(hosts: Sequence[HostSpec] | None) -> list[dict[str, Any]]:
    """Return ``hosts`` as channels-redis host dicts with safe timeouts filled in.

    Accepts every form channels-redis does: ``(host, port)`` pairs, ``redis://`` or
    ``rediss://`` URLs, and dicts (``address`` or connection kwargs, or Sentinel settings).
    Values the caller gave are kept.
    """
    if isinstance(hosts, (str, bytes)):
        raise TypeError(
            f"hosts must be a list of Redis hosts, even for one: [{hosts!r}], not {hosts!r}"
        )
    result: list[dict[str, Any]] = []
    for entry in hosts or ["redis://localhost:6379"]:
        if isinstance(entry, dict):
            host = dict(entry)
        elif isinstance(entry, (tuple, list)):
            host = {"host": entry[0], "port": entry[1]}
        elif isinstance(entry, str):
            host = {"address": entry}
        else:
            raise TypeError(f"Cannot use {entry!r} as a Redis host: give (host, port) or a URL.")
        # Sentinel-managed connections to the master get redis-py 8's 5 s default too, and
        # channels-redis's SentinelConnectionPool raises MaxConnectionsError like any other.
        host.setdefault("socket_timeout", DEFAULT_SOCKET_TIMEOUT)
        host.setdefault("socket_connect_timeout", DEFAULT_SOCKET_CONNECT_TIMEOUT)
        host.setdefault("socket_keepalive", True)
        host.setdefault("max_connections", DEFAULT_MAX_CONNECTIONS)
        host.setdefault("timeout", DEFAULT_POOL_TIMEOUT)
        result.append(host)
    return result


class _BlockingSentinelConnectionPool(SentinelConnectionPool, aioredis.BlockingConnectionPool):
    """A pool of connections to the master a Sentinel names that waits for a free connection.

    redis-py has no such class: SentinelConnectionPool finds the master, BlockingConnectionPool
    (next in the MRO, under ConnectionPool) takes ``max_connections`` and ``timeout`` and waits.
    """

    async def disconnect(self, inuse_connections: bool = True) -> None:
        await super().disconnect(inuse_connections)
        if inuse_connections:
            # Closing the pool (channels-redis's close_pools, at the end of every sync push's
            # event loop) closes the connections to the sentinels too; channels-redis leaves
            # them to the garbage collector. They reconnect if the pool is used again.
            for client in self.sentinel_manager.sentinels:
                await client.connection_pool.disconnect()


class RedisChannelLayer(_ChannelsRedisLayer):  # type: ignore[misc]
    """channels-redis's ``RedisChannelLayer`` with safe host settings, a blocking pool and room
    for bursts in process channels.

    Process channels hold :data:`DEFAULT_PROCESS_CAPACITY` messages unless ``capacity`` (every
    channel's, in channels-redis) or a ``channel_capacity`` pattern matching them is given.
    """

    def __init__(
        self,
        hosts: Sequence[HostSpec] | None = None,
        *,
        channel_capacity: Mapping[Any, int] | None = None,
        **kwargs: Any,
    ) -> None:
        capacities = dict(channel_capacity or {})
        if "capacity" not in kwargs:
            # Only channels-redis's default of 100 is replaced. After the caller's patterns:
            # channels-redis takes the first that matches, so one of theirs wins.
            capacities.setdefault(PROCESS_CHANNELS, DEFAULT_PROCESS_CAPACITY)
        super().__init__(hosts=normalize_hosts(hosts), channel_capacity=capacities, **kwargs)

    def create_pool(self, index: int) -> Any:
        # Blocking pools wait up to ``timeout`` for a free connection where ConnectionPool and
        # SentinelConnectionPool raise MaxConnectionsError at once.
        host = dict(self.hosts[index])
        master_name = host.pop("master_name", None)
        if master_name is not None:
            # As channels-redis builds it (channels_redis.utils.create_pool), but blocking.
            sentinels, options = host.pop("sentinels"), host.pop("sentinel_kwargs", None)
            sentinel = Sentinel(sentinels, sentinel_kwargs=options)  # type: ignore[no-untyped-call]
            return _BlockingSentinelConnectionPool(master_name, sentinel, **host)  # type: ignore[no-untyped-call]
        address = host.pop("address", None)
        if address is not None:
            return aioredis.BlockingConnectionPool.from_url(address, **host)
        return aioredis.BlockingConnectionPool(**host)


def redis_channel_layer(hosts: Sequence[HostSpec] | None = None, **config: Any) -> dict[str, Any]:
    """Return a ``CHANNEL_LAYERS`` entry for :class:`RedisChannelLayer`.

    Args:
        hosts: as channels-redis takes them; defaults to ``redis://localhost:6379``.
        **config: other channels-redis options (``prefix``, ``capacity``, ``channel_capacity``,
            ``expiry``, ``group_expiry``, ``symmetric_encryption_keys``, ...). Process channels
            hold :data:`DEFAULT_PROCESS_CAPACITY` messages unless ``capacity`` or a
            ``channel_capacity`` pattern for them (:data:`PROCESS_CHANNELS`) says otherwise.
    """
    return {
        "BACKEND": "livepush.layers.RedisChannelLayer",
        "CONFIG": {"hosts": normalize_hosts(hosts), **config},
    }
