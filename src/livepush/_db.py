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

from livepush._coalesce import Coalesced

__all__ = ["close_old_connections"]

_runs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Coalesced[None]] = (
    weakref.WeakKeyDictionary()
)


async def close_old_connections() -> None:
    """Run ``django.db.close_old_connections`` in the database thread, in a run that started
    after this call and that the callers waiting with it share (its exception, if any, is
    raised in each)."""
    loop = asyncio.get_running_loop()
    run = _runs.get(loop)
    if run is None:
        run = _runs[loop] = Coalesced(sync_to_async(db.close_old_connections))
    await run()
