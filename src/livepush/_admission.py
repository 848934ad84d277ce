"""Connects admitted in arrival order, a bounded number at a time.

In a connect storm, connects that all run at once all progress together and all finish late:
daphne drops every handshake the application has not accepted within its
``--websocket_connect_timeout`` (5 s), so a storm needing 6 s of work lost nearly every connect.
Admitted first come, first served, :data:`CONCURRENCY` at a time, the early ones are accepted
early and only the tail waits; enough run together for their database and Redis work to batch.
"""

from __future__ import annotations

import asyncio
import weakref

__all__ = ["CONCURRENCY", "admission"]

#: Connects of one process past authentication that run their connect path at once.
CONCURRENCY = 32

_semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def admission() -> asyncio.Semaphore:
    """The running event loop's admission (asyncio wakes a semaphore's waiters in order)."""
    loop = asyncio.get_running_loop()
    semaphore = _semaphores.get(loop)
    if semaphore is None:
        semaphore = _semaphores[loop] = asyncio.Semaphore(CONCURRENCY)
    return semaphore
