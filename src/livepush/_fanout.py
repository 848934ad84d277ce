"""Process-level fan-out: one channel-layer channel per process joins each group once.

Channels' usual way is one channel per connection in every group, so a push to a group reaches a
process as one layer message per connection, each woken, dispatched and (in Channels 4.2+) run
past ``close_old_connections`` on its own. Here the process's :class:`Fanout` channel is the only
member the channel layer sees; a push arrives once per process and is handed, as the pre-encoded
text it already is, to every local member of the group (a connection, which passes it to its
sender, ``livepush._sender``).

The fan-out keeps its memberships true by itself: it re-joins every group after the channel
layer failed and came back, every :attr:`Fanout.refresh_interval` seconds (so memberships
outlive channels-redis's ``group_expiry``), and whenever its probe, a message it sends to a group
of its own every :attr:`Fanout.probe_interval` seconds, does not come back (Redis was flushed or
restarted and lost the memberships).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from collections.abc import Iterable
from typing import Any, Protocol

from redis.exceptions import TimeoutError as RedisTimeoutError

from livepush._loops import Loops
from livepush.protocol import PROCESSES_GROUP, PUSH_EVENT_TYPE

__all__ = ["PROBE_EVENT_TYPE", "Fanout", "Member", "get_fanout"]

logger = logging.getLogger("livepush.fanout")

#: The channel-layer event type of a fan-out's probe; only the fan-out that sent it receives it.
PROBE_EVENT_TYPE = "livepush.probe"


class Member(Protocol):
    """What the fan-out hands pushes to: a connection."""

    def livepush_deliver(self, text: str) -> None: ...


class _Group:
    __slots__ = ("joined", "lock", "members")

    def __init__(self) -> None:
        self.members: set[Member] = set()
        self.lock = asyncio.Lock()
        self.joined = False


class Fanout:
    """The fan-out of one channel layer in one event loop.

    Attributes:
        probe_interval: seconds between probes of the process's own memberships.
        probe_timeout: seconds a probe may take to come back before the memberships count as
            lost.
        refresh_interval: seconds between re-joining every group.
        retry_delay: seconds to wait before receiving again after the channel layer failed.
    """

    probe_interval = 5.0
    probe_timeout = 2.0
    refresh_interval = 300.0
    retry_delay = 1.0

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.channel: str | None = None
        self.groups: dict[str, _Group] = {}
        self._loops = Loops()
        self._starting = asyncio.Lock()
        self._probe_group = f"livepush.probe.{uuid.uuid4().hex}"
        self._probe: tuple[str, asyncio.Future[None]] | None = None

    @property
    def running(self) -> bool:
        """Whether the fan-out receives from the channel layer (some group has a member)."""
        return self._loops.running

    async def join(self, name: str, member: Member) -> None:
        """Deliver pushes to group ``name`` to ``member`` from now on."""
        group = self.groups.get(name)
        if group is None:
            group = self.groups[name] = _Group()
        # Added before any await, so a concurrent leave() never drops a group being joined.
        group.members.add(member)
        async with group.lock:
            if not group.joined and member in group.members:
                await self._ensure_running()
                await self.layer.group_add(name, self.channel)
                group.joined = True

    async def leave(self, name: str, member: Member) -> None:
        """Stop delivering group ``name`` to ``member``; the last one out leaves the group."""
        group = self.groups.get(name)
        if group is None:
            return
        group.members.discard(member)
        if group.members:
            return
        async with group.lock:
            if group.joined and not group.members:
                group.joined = False
                await self.layer.group_discard(name, self.channel)
        if not group.members and not group.joined and not group.lock.locked():
            self.groups.pop(name, None)
        if not self.groups and self._loops.running:
            self._loops.stop()
            # A join racing this leave may re-add the probe group first and lose it here; its
            # next probe then fails and re-joins.
            await self.layer.group_discard(self._probe_group, self.channel)
            await self.layer.group_discard(PROCESSES_GROUP, self.channel)

    def deliver(self, message: dict[str, Any]) -> None:
        """Hand one channel-layer message to the local members of its group or groups."""
        kind = message.get("type")
        if kind == PROBE_EVENT_TYPE:
            self._probe_returned(message.get("id"))
            return
        if kind != PUSH_EVENT_TYPE:
            logger.warning("Ignoring a %r message on the fan-out channel", kind)
            return
        text = message["text"]
        names = message.get("groups")
        if names is None:  # a push to one group
            group = self.groups.get(message.get("group", ""))
            if group is None:
                return
            members: Iterable[Member] = tuple(group.members)
        else:  # a push to several groups: each local connection in any of them, once
            found: dict[Member, None] = {}
            for name in names:
                group = self.groups.get(name)
                if group is not None:
                    found.update(dict.fromkeys(group.members))
            members = found
        for member in members:
            try:
                member.livepush_deliver(text)
            except Exception:
                # One connection's failure must not stop the process's pushes.
                logger.exception("Delivering a push to %r failed", member)

    async def check_memberships(self) -> bool:
        """Probe the process's memberships; re-join every group if the probe is lost.

        Returns whether the probe came back. A channel-layer error propagates.
        """
        probe_id = uuid.uuid4().hex
        arrived = asyncio.get_running_loop().create_future()
        self._probe = (probe_id, arrived)
        try:
            await self.layer.group_send(
                self._probe_group, {"type": PROBE_EVENT_TYPE, "id": probe_id}
            )
            await asyncio.wait_for(arrived, self.probe_timeout)
        except asyncio.TimeoutError:
            logger.warning(
                "The channel layer lost this process's group memberships (Redis restarted or "
                "flushed?); joining %d group(s) again",
                len(self.groups),
            )
            await self.rejoin()
            return False
        finally:
            self._probe = None
        return True

    async def rejoin(self) -> None:
        """Join every group this fan-out belongs to again; failures are logged."""
        names = [name for name, group in self.groups.items() if group.joined]
        names += [self._probe_group, PROCESSES_GROUP]
        results = await asyncio.gather(
            *(self.layer.group_add(name, self.channel) for name in names), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            logger.warning("Could not join %d group(s) again: %r", len(failures), failures[0])

    def _probe_returned(self, probe_id: object) -> None:
        probe = self._probe
        if probe is not None and probe[0] == probe_id and not probe[1].done():
            probe[1].set_result(None)

    async def _ensure_running(self) -> None:
        if self._loops.running:
            return
        # Connects arriving together must not each make a channel or add the probe.
        async with self._starting:
            if not self._loops.running:  # another connect may have started it meanwhile
                await self._start()

    async def _start(self) -> None:
        # A new channel each time: RedisPubSubChannelLayer forgets a channel whose receive was
        # cancelled (the last connection left), and refuses group_add for it. The default
        # prefix matters: channels-redis receives every process-local channel of one prefix
        # through one Redis key, and a second prefix would starve.
        self.channel = await self.layer.new_channel()
        await self.layer.group_add(self._probe_group, self.channel)
        await self.layer.group_add(PROCESSES_GROUP, self.channel)
        self._loops.start(
            {
                "livepush-fanout-receive": self._receive_loop,
                "livepush-fanout-maintain": self._maintain_loop,
            }
        )

    async def _receive_loop(self) -> None:
        failed = False
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except RedisTimeoutError:
                # Idle, not failed: channels-redis's 5 s blocking pop outlasted redis-py 8's 5 s
                # socket timeout (the seed's tuple-host configuration, channels_redis#422). Nothing
                # was popped, so nothing is lost: receive again.
                continue
            except Exception as exc:
                # Redis went away: keep trying, and join every group again once it is back.
                if not failed:
                    logger.warning("Channel layer receive failed (%r); retrying", exc)
                failed = True
                await asyncio.sleep(self.retry_delay)
                continue
            if failed:
                failed = False
                logger.warning("Channel layer is back; joining %d group(s) again", len(self.groups))
                await self.rejoin()
            self.deliver(message)

    async def _maintain_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_refresh = loop.time() + self.refresh_interval
        while True:
            await asyncio.sleep(self.probe_interval)
            try:
                if loop.time() >= next_refresh:
                    next_refresh = loop.time() + self.refresh_interval
                    await self.rejoin()
                else:
                    await self.check_memberships()
            except Exception as exc:
                # The receive loop reports the layer's failures and re-joins when it is back.
                logger.debug("Could not probe the channel layer: %r", exc)


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
