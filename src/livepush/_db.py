"""Stale database connections closed once for all the connections waiting, not once each.

Channels (4.2+) runs ``django.db.close_old_connections`` in the database thread before every
message a consumer handles, so a handler using the ORM never meets a connection past
``CONN_MAX_AGE`` or broken. That is one thread hop per message through the one database thread:
in a connect storm, 2,000 connects queue 2,000 hops before the first is accepted. The cleanup is
idempotent, so the connections waiting at one moment share one run:
:func:`close_old_connections`.
"""

from __future__ import annotations

import asyncio
import weakref

from asgiref.sync import sync_to_async
from django import db

__all__ = ["close_old_connections"]

_runs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = (
    weakref.WeakKeyDictionary()
)


async def close_old_connections() -> None:
    """Run ``django.db.close_old_connections`` in the database thread; callers arriving while a
    run is under way share it (its exception, if any, is raised in each)."""
    loop = asyncio.get_running_loop()
    run = _runs.get(loop)
    if run is None:
        run = _runs[loop] = loop.create_task(
            sync_to_async(db.close_old_connections)(), name="livepush-close-old-connections"
        )
        run.add_done_callback(lambda done: _forget(loop, done))
    # shield: a caller that is cancelled (its connection went) does not cancel the others' run.
    await asyncio.shield(run)


def _forget(loop: asyncio.AbstractEventLoop, run: asyncio.Task[None]) -> None:
    if _runs.get(loop) is run:
        del _runs[loop]
