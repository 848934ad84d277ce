"""A channel-layer call bounded by a deadline: what a connect waits for at most.

Redis that accepts connections and never replies would otherwise hold a connect up to redis-py's
``socket_timeout`` (15 s with ``redis_channel_layer()``) per try; ``CHANNEL_LAYER_WAIT`` bounds
the whole join instead (``livepush._fanout``).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from typing import Any

__all__ = ["JoinTimeout", "within"]


class JoinTimeout(TimeoutError):
    """A join gave up: the channel layer did not answer within ``CHANNEL_LAYER_WAIT``."""


async def within(awaitable: Awaitable[Any], deadline: float, wait: float) -> None:
    """Await ``awaitable``, cancelling it at ``deadline`` (loop time; never when ``wait`` is 0).

    Raises:
        JoinTimeout: the deadline passed first.
    """
    if not wait:
        await awaitable
        return
    try:
        if sys.version_info >= (3, 11):
            async with asyncio.timeout_at(deadline):
                await awaitable
        else:  # pragma: no cover - Python 3.10
            remaining = deadline - asyncio.get_running_loop().time()
            await asyncio.wait_for(awaitable, max(remaining, 0.0))
    except asyncio.TimeoutError:
        raise JoinTimeout(
            f"The channel layer did not answer within {wait:g} s (LIVEPUSH['CHANNEL_LAYER_WAIT'])"
        ) from None
