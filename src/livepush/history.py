"""Stream history: each recoverable group's pushes with a position, kept for a while for replay.

With ``LIVEPUSH["RECOVERY"]`` on, every push to a recoverable group (each user's group, the
broadcast group, and the groups ``HISTORY_GROUPS`` names) is appended to that group's *stream*
when it is published. The append gives it a :class:`Position`: an offset one above the stream's
last, and the stream's epoch, which changes whenever its history is lost (Redis flushed or
restarted without persistence, the stream's metadata expired). Offsets are assigned by one atomic
call per push (one Lua script in Redis, for every stream of the push), so two processes pushing
at once never make a gap or a duplicate.

A stream keeps its last ``HISTORY_SIZE`` pushes for ``HISTORY_TTL`` seconds after its last push;
its position (offset and epoch) lives ``HISTORY_META_TTL`` seconds. A reconnecting client that
presents its last position gets what it missed (:meth:`HistoryBackend.read`), or is told to
refetch when the history no longer covers the gap.

Backends: :class:`RedisHistory` when the channel layer is Redis (the same host presence uses),
:class:`MemoryHistory` with the in-memory layer (one process).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fnmatch
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from livepush.conf import livepush_settings

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "HistoryBackend",
    "MemoryHistory",
    "Position",
    "RedisHistory",
    "StreamState",
    "closing_new_client",
    "get_history",
    "is_recoverable",
    "new_epoch",
    "override",
    "reset",
]


class Position(NamedTuple):
    """Where a push stands in its stream: its offset (1, 2, ...) and the stream's epoch."""

    offset: int
    epoch: str


@dataclass(frozen=True)
class StreamState:
    """What :meth:`HistoryBackend.read` found for one stream.

    Attributes:
        top: the stream's position now (offset 0 for a stream with no push yet).
        missed: the pushes after the position the client presented, oldest first, as
            ``(offset, text)``; ``None`` when the history does not cover them all (trimmed,
            expired, or another epoch): the client must refetch.
    """

    top: Position
    missed: list[tuple[int, str]] | None


def new_epoch() -> str:
    """A new stream epoch: short, random, unlike any earlier one."""
    return uuid.uuid4().hex[:12]


def is_recoverable(group: str) -> bool:
    """Whether pushes to ``group`` get a position and are kept (``RECOVERY`` must be on).

    User groups, the broadcast group, and groups matching a ``HISTORY_GROUPS`` pattern.
    """
    if group == livepush_settings.broadcast_group:
        return True
    prefix, _, suffix = str(livepush_settings.USER_GROUP).partition("{id}")
    if group.startswith(prefix) and group.endswith(suffix) and len(group) > len(prefix + suffix):
        return True
    return any(fnmatch.fnmatchcase(group, p) for p in livepush_settings.HISTORY_GROUPS)


class HistoryBackend:
    """Where streams keep their pushes; every method is atomic across processes."""

    async def append(self, streams: Sequence[str], text: str) -> list[Position]:
        """Add the push ``text`` to each of ``streams``; return its position in each."""
        raise NotImplementedError

    async def read(self, wanted: Mapping[str, Position | None]) -> dict[str, StreamState]:
        """Each stream's position now, and the pushes after the position given for it.

        A stream with ``None`` (the client has no position for it) gets ``missed == []``.
        """
        raise NotImplementedError

    async def read_many(
        self, reads: Sequence[Mapping[str, Position | None]]
    ) -> list[dict[str, StreamState]]:
        """:meth:`read` for each of ``reads`` (the connects arriving together), in one call if
        the backend can. The default reads one by one."""
        return [await self.read(wanted) for wanted in reads]


def _state(since: Position | None, top: Position, entries: list[tuple[int, str]]) -> StreamState:
    """The read of one stream: ``entries`` if they are exactly the pushes after ``since``."""
    if since is None:
        return StreamState(top, [])
    if since.epoch != top.epoch or since.offset > top.offset:
        return StreamState(top, None)
    wanted = top.offset - since.offset
    covered = len(entries) == wanted and (wanted == 0 or entries[0][0] == since.offset + 1)
    return StreamState(top, entries if covered else None)


# Redis ------------------------------------------------------------------------------------------

# KEYS: per stream, its entries (a Redis stream whose ids are the offsets) then its meta (a hash:
# e = epoch, s = last offset). ARGV: size, ttl, meta_ttl, new epoch, text. Returns offset, epoch
# per stream. A meta that is gone starts a new epoch and drops what its entries key still holds.
_APPEND = """
local size, ttl, meta_ttl, fresh, text = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local result = {}
for i = 1, #KEYS, 2 do
  local entries, meta = KEYS[i], KEYS[i + 1]
  local epoch = redis.call('HGET', meta, 'e')
  if not epoch then
    epoch = fresh
    redis.call('HSET', meta, 'e', epoch)
  end
  local offset = redis.call('HINCRBY', meta, 's', 1)
  if offset == 1 then redis.call('DEL', entries) end
  redis.call('XADD', entries, 'MAXLEN', size, offset .. '-0', 'd', text)
  redis.call('EXPIRE', entries, ttl)
  redis.call('EXPIRE', meta, meta_ttl)
  table.insert(result, offset)
  table.insert(result, epoch)
end
return result
"""

# KEYS: as for _APPEND. ARGV: meta_ttl, new epoch, then per stream the offset after which to read
# ('' for none). Returns per stream: offset, epoch, then the entries after it as a flat list of
# id, text (or an empty list).
_READ = """
local meta_ttl, fresh = ARGV[1], ARGV[2]
local result = {}
for i = 1, #KEYS, 2 do
  local entries, meta = KEYS[i], KEYS[i + 1]
  local state = redis.call('HMGET', meta, 'e', 's')
  local epoch, offset = state[1], tonumber(state[2] or '0')
  if not epoch then
    epoch = fresh
    redis.call('HSET', meta, 'e', epoch, 's', 0)
  end
  redis.call('EXPIRE', meta, meta_ttl)
  local since = ARGV[3 + (i - 1) / 2]
  local found = {}
  if since ~= '' and tonumber(since) < offset then
    for _, entry in ipairs(redis.call('XRANGE', entries, '(' .. since .. '-0', '+')) do
      table.insert(found, entry[1])
      table.insert(found, entry[2][2])
    end
  end
  table.insert(result, offset)
  table.insert(result, epoch)
  table.insert(result, found)
end
return result
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisHistory(HistoryBackend):
    """Streams in Redis: ``{prefix}:h:{stream}`` (the pushes) and ``{prefix}:m:{stream}`` (meta).

    Args:
        client: a ``redis.asyncio`` client; the backend does not close it.
        prefix: the key prefix.
        size: pushes a stream keeps at most.
        ttl: seconds a stream's pushes are kept after its last push.
        meta_ttl: seconds a stream's position is kept after its last push or read.
    """

    def __init__(self, client: Redis, prefix: str, size: int, ttl: float, meta_ttl: float) -> None:
        self.client = client
        self.prefix = prefix
        self.size = size
        self.ttl = max(1, int(ttl))
        self.meta_ttl = max(1, int(meta_ttl))
        self._append = client.register_script(_APPEND)
        self._read = client.register_script(_READ)

    def _keys(self, streams: Sequence[str]) -> list[str]:
        keys: list[str] = []
        for stream in streams:
            keys += [f"{self.prefix}:h:{stream}", f"{self.prefix}:m:{stream}"]
        return keys

    async def append(self, streams: Sequence[str], text: str) -> list[Position]:
        args: list[str | int] = [self.size, self.ttl, self.meta_ttl, new_epoch(), text]
        reply = await self._append(self._keys(streams), args)
        return [Position(int(reply[i]), _text(reply[i + 1])) for i in range(0, len(reply), 2)]

    async def read(self, wanted: Mapping[str, Position | None]) -> dict[str, StreamState]:
        return (await self.read_many([wanted]))[0]

    async def read_many(
        self, reads: Sequence[Mapping[str, Position | None]]
    ) -> list[dict[str, StreamState]]:
        # One script for all: a stream several connects read comes once per read.
        pairs = [(stream, since) for wanted in reads for stream, since in wanted.items()]
        if not pairs:
            return [{} for _ in reads]
        offsets = ["" if p is None or p.offset < 0 else str(p.offset) for _, p in pairs]
        keys = self._keys([stream for stream, _ in pairs])
        reply = await self._read(keys, [self.meta_ttl, new_epoch(), *offsets])
        results: list[dict[str, StreamState]] = []
        index = 0
        for wanted in reads:
            states: dict[str, StreamState] = {}
            for stream, since in wanted.items():
                offset, epoch, flat = reply[3 * index : 3 * index + 3]
                index += 1
                top = Position(int(offset), _text(epoch))
                entries = [
                    (int(_text(flat[j]).partition("-")[0]), _text(flat[j + 1]))
                    for j in range(0, len(flat), 2)
                ]
                states[stream] = _state(since, top, entries)
            results.append(states)
        return results


# Memory -----------------------------------------------------------------------------------------


class _MemoryStream:
    __slots__ = ("entries", "epoch", "last_push", "offset", "touched")

    def __init__(self, epoch: str, now: float) -> None:
        self.epoch = epoch
        self.offset = 0
        self.entries: collections.deque[tuple[int, str]] = collections.deque()
        self.last_push = now
        self.touched = now


class MemoryHistory(HistoryBackend):
    """Streams in this process (the in-memory channel layer): the Redis backend's rules in dicts.

    Args:
        size, ttl, meta_ttl: as for :class:`RedisHistory`.
        clock: returns the time in seconds; tests pass one they move by hand.
    """

    def __init__(
        self, size: int, ttl: float, meta_ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.size = size
        self.ttl = ttl
        self.meta_ttl = meta_ttl
        self.clock = clock
        self.streams: dict[str, _MemoryStream] = {}
        self._swept = clock()

    def _stream(self, name: str) -> _MemoryStream:
        now = self.clock()
        if now - self._swept >= min(self.ttl, self.meta_ttl):
            self._sweep(now)
        stream = self.streams.get(name)
        if stream is None or now - stream.touched >= self.meta_ttl:
            stream = self.streams[name] = _MemoryStream(new_epoch(), now)
        elif now - stream.last_push >= self.ttl:
            stream.entries.clear()
        stream.touched = now
        return stream

    def _sweep(self, now: float) -> None:
        """Forget what Redis would have expired: old entries, and streams past their meta TTL."""
        self._swept = now
        for name, stream in list(self.streams.items()):
            if now - stream.touched >= self.meta_ttl:
                del self.streams[name]
            elif now - stream.last_push >= self.ttl:
                stream.entries.clear()

    async def append(self, streams: Sequence[str], text: str) -> list[Position]:
        positions = []
        for name in streams:
            stream = self._stream(name)
            stream.offset += 1
            stream.entries.append((stream.offset, text))
            while len(stream.entries) > self.size:
                stream.entries.popleft()
            stream.last_push = stream.touched
            positions.append(Position(stream.offset, stream.epoch))
        return positions

    async def read(self, wanted: Mapping[str, Position | None]) -> dict[str, StreamState]:
        states = {}
        for name, since in wanted.items():
            stream = self._stream(name)
            top = Position(stream.offset, stream.epoch)
            after = top.offset if since is None else since.offset
            entries = [entry for entry in stream.entries if entry[0] > after]
            states[name] = _state(since, top, entries)
        return states


# Which backend ----------------------------------------------------------------------------------

_memory: MemoryHistory | None = None
_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RedisHistory] = (
    weakref.WeakKeyDictionary()
)
_override: HistoryBackend | None = None


def get_history() -> HistoryBackend:
    """The history backend for the running event loop (Redis when the channel layer is)."""
    from livepush.presence.backends.redis import make_client, redis_host

    if _override is not None:
        return _override
    size = int(livepush_settings.HISTORY_SIZE)
    ttl = float(livepush_settings.HISTORY_TTL)
    meta_ttl = float(livepush_settings.HISTORY_META_TTL)
    host = redis_host()
    global _memory
    if host is None:
        if _memory is None or (_memory.size, _memory.ttl, _memory.meta_ttl) != (
            size,
            ttl,
            meta_ttl,
        ):
            _memory = MemoryHistory(size, ttl, meta_ttl)
        return _memory
    loop = asyncio.get_running_loop()
    backend = _per_loop.get(loop)
    prefix = str(livepush_settings.HISTORY_PREFIX)
    wanted = (prefix, size, max(1, int(ttl)), max(1, int(meta_ttl)))
    if backend is None or (backend.prefix, backend.size, backend.ttl, backend.meta_ttl) != wanted:
        backend = _per_loop[loop] = RedisHistory(make_client(host), prefix, size, ttl, meta_ttl)
    return backend


def reset() -> None:
    """Forget the cached backends, so the next :func:`get_history` builds new ones (tests)."""
    global _memory
    _memory = None
    _per_loop.clear()


@contextlib.contextmanager
def override(backend: HistoryBackend) -> Iterator[HistoryBackend]:
    """Make :func:`get_history` return ``backend`` inside the ``with`` block (tests)."""
    global _override
    previous, _override = _override, backend
    try:
        yield backend
    finally:
        _override = previous


@contextlib.asynccontextmanager
async def closing_new_client() -> AsyncIterator[None]:
    """Close, on leaving, a Redis client :func:`get_history` made inside the block.

    For the sync push helpers: ``async_to_sync`` runs each call in an event loop of its own, and
    no connection may outlive the call (as ``livepush.presence.backends.closing_new_client``).
    """
    loop = asyncio.get_running_loop()
    had_backend = loop in _per_loop
    try:
        yield
    finally:
        if not had_backend:
            backend = _per_loop.pop(loop, None)
            if backend is not None:
                await backend.client.aclose()
