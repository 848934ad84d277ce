"""What a connection listens to: its client, and, only if it asks, its own channel-layer channel.

Channels gives every consumer a channel of its own and keeps a receive on it for as long as the
connection lives. A ``LivePushConsumer`` gets its pushes through the process's fan-out instead,
so by default it listens to its client alone: no receive task per connection, nothing that dies
when Redis goes idle (redis-py 8's 5 s socket timeout against channels-redis's 5 s blocking pop,
django/channels_redis#422) or restarts. A consumer that wants Channels messages sent to its own
channel (``channel_messages = True``) gets them through a receive that waits and retries while
the channel layer fails, instead of ending the connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from channels.utils import await_many_dispatch

if TYPE_CHECKING:
    from livepush._types import ASGIReceive, Message

__all__ = ["RETRY_DELAY", "listen", "resilient_receive"]

logger = logging.getLogger("livepush.consumers")

#: Seconds between receive attempts on a connection's own channel while the layer fails.
RETRY_DELAY = 1.0


async def listen(
    receive: ASGIReceive,
    dispatch: Callable[[Message], Awaitable[None]],
    channel_receive: Callable[[], Awaitable[Message]] | None = None,
) -> None:
    """Dispatch every message of the client (and of ``channel_receive``), in order, until
    ``dispatch`` raises (``StopConsumer`` when the connection ends)."""
    if channel_receive is None:
        while True:
            await dispatch(await receive())
    await await_many_dispatch([receive, channel_receive], dispatch)


def resilient_receive(layer: Any, channel: str) -> Callable[[], Awaitable[Message]]:
    """A receive on ``channel`` that waits out channel-layer failures instead of raising."""

    async def receive() -> Message:
        failing = False
        while True:
            try:
                message: Message = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not failing:
                    logger.warning("Receiving on %s failed (%r); retrying", channel, exc)
                failing = True
                await asyncio.sleep(RETRY_DELAY)
                continue
            return message

    return receive
