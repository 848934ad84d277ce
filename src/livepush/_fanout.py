"""Process-level fan-out: one channel-layer channel per process joins each group once.

Channels' usual way is one channel per connection in every group, so a push to a group reaches a
process as one layer message per connection, each woken, dispatched and (in Channels 4.2+) run
past ``close_old_connections`` on its own. Here the process's :class:`Fanout` channel is the only
member the channel layer sees; a push arrives once per process and is handed, as the pre-encoded
text it already is, to every local connection in the group.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any, Protocol

from livepush.protocol import PUSH_EVENT_TYPE

__all__ = ["Fanout", "get_fanout"]

logger = logging.getLogger("livepush.fanout")

#: Seconds between re-joining every group, so memberships survive channels-redis's
#: ``group_expiry`` and a Redis restart or flush.
REFRESH_INTERVAL = 300.0
#: Seconds to wait before receiving again after the channel layer failed.
RETRY_DELAY = 1.0


class Receiver(Protocol):
    def livepush_deliver(self, text: str) -> None: ...


class _Group:
    __slots__ = ("joined", "lock", "members")

    def __init__(self) -> None:
        self.members: set[Receiver] = set()
        self.lock = asyncio.Lock()
        self.joined = False


class Fanout:
    """The fan-out of one channel layer in one event loop."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.channel: str | None = None
        self.groups: dict[str, _Group] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def join(self, name: str, receiver: Receiver) -> None:
        """Deliver pushes to group ``name`` to ``receiver`` from now on."""
        group = self.groups.get(name)
        if group is None:
            group = self.groups[name] = _Group()
        # Added before any await, so a concurrent leave() never drops a group being joined.
        group.members.add(receiver)
        async with group.lock:
            if not group.joined and receiver in group.members:
                await self._ensure_running()
                await self.layer.group_add(name, self.channel)
                group.joined = True

    async def leave(self, name: str, receiver: Receiver) -> None:
        """Stop delivering group ``name`` to ``receiver``; the last one out leaves the group."""
        group = self.groups.get(name)
        if group is None:
            return
        group.members.discard(receiver)
        if group.members:
            return
        async with group.lock:
            if group.joined and not group.members:
                group.joined = False
                await self.layer.group_discard(name, self.channel)
        if not group.members and not group.joined and not group.lock.locked():
            self.groups.pop(name, None)
        if not self.groups:
            self._stop()

    def deliver(self, message: dict[str, Any]) -> None:
        if message.get("type") != PUSH_EVENT_TYPE:
            logger.warning("Ignoring a %r message on the fan-out channel", message.get("type"))
            return
        group = self.groups.get(message.get("group", ""))
        if group is None:
            return
        text = message["text"]
        for receiver in tuple(group.members):
            try:
                receiver.livepush_deliver(text)
            except Exception:
                # One connection's failure must not stop the process's pushes.
                logger.exception("Delivering a push to %r failed", receiver)

    async def _ensure_running(self) -> None:
        if self.channel is None:
            # The default prefix matters: channels-redis receives every process-local channel
            # of one prefix through one Redis key, and a second prefix would starve.
            self.channel = await self.layer.new_channel()
        if not self._tasks:
            loop = asyncio.get_running_loop()
            self._tasks = [
                loop.create_task(self._receive_loop(), name="livepush-fanout-receive"),
                loop.create_task(self._refresh_loop(), name="livepush-fanout-refresh"),
            ]

    def _stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()

    async def _receive_loop(self) -> None:
        failed = False
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Redis went away: keep trying, and join every group again once it is back.
                if not failed:
                    logger.warning("Channel layer receive failed (%r); retrying", exc)
                failed = True
                await asyncio.sleep(RETRY_DELAY)
                continue
            if failed:
                failed = False
                logger.warning("Channel layer is back; joining %d group(s) again", len(self.groups))
                await self._rejoin()
            self.deliver(message)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_INTERVAL)
            await self._rejoin()

    async def _rejoin(self) -> None:
        names = [name for name, group in self.groups.items() if group.joined]
        results = await asyncio.gather(
            *(self.layer.group_add(name, self.channel) for name in names), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            logger.warning("Could not join %d group(s) again: %r", len(failures), failures[0])


_fanouts: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, Fanout]] = (
    weakref.WeakKeyDictionary()
)


def get_fanout(layer: Any) -> Fanout:
    """Return the fan-out of ``layer`` in the running event loop, creating it on first use."""
    loop = asyncio.get_running_loop()
    per_loop = _fanouts.setdefault(loop, {})
    fanout = per_loop.get(id(layer))
    if fanout is None or fanout.layer is not layer:
        fanout = per_loop[id(layer)] = Fanout(layer)
    return fanout


async def rejoin_all() -> None:
    """Join every group of this event loop's fan-outs again (Redis lost its data)."""
    loop = asyncio.get_running_loop()
    for fanout in list(_fanouts.get(loop, {}).values()):
        await fanout._rejoin()
