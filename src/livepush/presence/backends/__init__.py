"""Presence backends, and which one the running process uses.

:func:`get_backend` picks Redis when the channel layer is Redis (or ``PRESENCE_REDIS_URL`` is
set), else memory. A ``redis.asyncio`` client belongs to one event loop, so the Redis backend is
kept per loop; the memory backend is one per process. Both are rebuilt when the presence
settings change.

For tests: :func:`reset` forgets the cached backends and :func:`override` makes
:func:`get_backend` return a backend of the test's choosing.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Iterator

from livepush.conf import livepush_settings
from livepush.presence.backends.base import SWEEP_BATCH, PresenceBackend
from livepush.presence.backends.memory import MemoryPresence
from livepush.presence.backends.redis import RedisPresence, make_client, redis_host

__all__ = [
    "SWEEP_BATCH",
    "MemoryPresence",
    "PresenceBackend",
    "RedisPresence",
    "closing_new_client",
    "get_backend",
    "override",
    "reset",
]

_memory: MemoryPresence | None = None
_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RedisPresence] = (
    weakref.WeakKeyDictionary()
)
_override: PresenceBackend | None = None


def get_backend() -> PresenceBackend:
    """The presence backend for the running event loop (Redis when the channel layer is)."""
    if _override is not None:
        return _override
    ttl = float(livepush_settings.PRESENCE_TTL)
    grace = float(livepush_settings.PRESENCE_GRACE)
    host = redis_host()
    if host is None:
        global _memory
        if _memory is None or (_memory.ttl, _memory.grace) != (ttl, max(0.0, grace)):
            _memory = MemoryPresence(ttl, grace)
        return _memory
    loop = asyncio.get_running_loop()
    backend = _per_loop.get(loop)
    prefix = str(livepush_settings.PRESENCE_PREFIX)
    if backend is None or not backend.configured_as(prefix, ttl, grace):
        backend = _per_loop[loop] = RedisPresence(make_client(host), prefix, ttl, grace)
    return backend


def reset() -> None:
    """Forget the cached backends, so the next :func:`get_backend` builds new ones (tests).

    Redis clients already made are not closed; a test that made one closes it
    (``await get_backend().client.aclose()``).
    """
    global _memory
    _memory = None
    _per_loop.clear()


@contextlib.contextmanager
def override(backend: PresenceBackend) -> Iterator[PresenceBackend]:
    """Make :func:`get_backend` return ``backend`` inside the ``with`` block (tests)."""
    global _override
    previous, _override = _override, backend
    try:
        yield backend
    finally:
        _override = previous


@contextlib.asynccontextmanager
async def closing_new_client() -> AsyncIterator[None]:
    """Close, on leaving, a Redis client :func:`get_backend` made inside the block.

    For the sync queries: ``async_to_sync`` runs each call in an event loop of its own, and no
    connection may outlive the call. Under ASGI a sync view's ``async_to_sync`` runs on the
    server's own loop instead, whose shared client was there before and stays.
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
