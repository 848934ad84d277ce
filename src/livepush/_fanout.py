"""Process-level fan-out: one channel-layer channel per process joins each group once.

Channels' usual way is one channel per connection in every group, so a push to a group reaches a
process as one layer message per connection, each woken, dispatched and (in Channels 4.2+) run
past ``close_old_connections`` on its own. Here the process's :class:`Fanout` channel is the only
member the channel layer sees; a push arrives once per process and is handed, as the pre-encoded
text it already is, to every local member of the group (a connection, which passes it to its
sender, ``livepush._sender``).

The fan-out keeps its memberships true by itself: it re-joins every group as soon as the
channel layer answers again after failing (tried every :attr:`Fanout.retry_delay` seconds), every
:attr:`Fanout.refresh_interval` seconds (so memberships outlive channels-redis's
``group_expiry``), and whenever its probe, a message it sends to a group of its own every
:attr:`Fanout.probe_interval` seconds, does not come back (Redis was flushed or restarted and lost
the memberships).

While the channel layer fails or hangs, a connect waits up to ``CHANNEL_LAYER_WAIT`` seconds
for it to answer (the consumer then refuses it with 4000); open connections are not touched.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from redis.exceptions import TimeoutError as RedisTimeoutError

from livepush._deadline import JoinTimeout, within
from livepush._loops import Loops
from livepush._stats import stats
from livepush._streams import Stream
from livepush.conf import livepush_settings
from livepush.protocol import PROCESSES_GROUP, PUSH_EVENT_TYPE

__all__ = ["EVENT_HANDLERS", "PROBE_EVENT_TYPE", "Fanout", "JoinTimeout", "Member", "get_fanout"]

logger = logging.getLogger("livepush.fanout")

#: The channel-layer event type of a fan-out's probe; only the fan-out that sent it receives it.
PROBE_EVENT_TYPE = "livepush.probe"


class Member(Protocol):
    """What the fan-out hands pushes to: a connection."""

    def livepush_deliver(self, text: str) -> None: ...

    def livepush_deliver_at(self, text: str, stream: str, offset: int, epoch: str) -> None: ...


#: Handlers of the other event types sent to every process (``PROCESSES_GROUP``), by type: a
#: module that asks the processes something (``livepush.status``) registers its answer here.
EVENT_HANDLERS: dict[str, Callable[[Fanout, dict[str, Any]], None]] = {}


class _Group:
    __slots__ = ("joined", "lock", "members", "stream")

    def __init__(self) -> None:
        self.members: set[Member] = set()
        self.lock = asyncio.Lock()
        self.joined = False
        #: Recovery: the order of the group's positioned pushes (``livepush._streams``).
        self.stream: Stream | None = None


class Fanout:
    """The fan-out of one channel layer in one event loop.

    Attributes:
        probe_interval: seconds between probes of the process's own memberships.
        probe_timeout: seconds a probe may take to come back before the memberships count as
            lost.
        refresh_interval: seconds between re-joining every group.
        retry_delay: seconds between attempts to reach the channel layer while it fails (to
            receive and re-join, or to join for a connect).
        gap_wait: seconds a stream's push that came ahead of a missing one waits for it before
            the missing ones are read from the history (recovery).
        join_timeout: seconds from its call after which a :meth:`join` gives up while the
            channel layer fails or hangs (a connect is then refused with 4000); ``None`` reads
            ``LIVEPUSH["CHANNEL_LAYER_WAIT"]``.
    """

    probe_interval = 5.0
    probe_timeout = 2.0
    refresh_interval = 300.0
    retry_delay = 1.0
    join_timeout: float | None = None
    gap_wait = 0.5

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.channel: str | None = None
        self._unstarted_channel: str | None = None
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
        """Deliver pushes to group ``name`` to ``member`` from now on.

        Gives up :attr:`join_timeout` seconds after the call: a failing channel layer is tried
        again every :attr:`retry_delay` seconds until then, and a try still waiting then (Redis
        accepts but does not answer, or a concurrent join or leave of the group holds it up) is
        cancelled. With a ``join_timeout`` of 0 there is one try, bounded only by the layer's own
        timeouts.

        Raises:
            JoinTimeout: a try was still waiting when :attr:`join_timeout` had passed.
            Exception: the channel layer's last error, when no try is left in the time.
        """
        loop = asyncio.get_running_loop()
        # One deadline from the call: joins queued on the group's lock behind a failing one
        # must not wait a join_timeout each.
        wait = self.join_timeout
        if wait is None:
            wait = float(livepush_settings.CHANNEL_LAYER_WAIT)
        deadline = loop.time() + wait
        group = self.groups.get(name)
        if group is None:
            group = self.groups[name] = _Group()
        # Added before any await, so a concurrent leave() never drops a group being joined.
        group.members.add(member)
        if group.lock.locked():  # a join or leave of the group is under way: wait for it
            await within(group.lock.acquire(), deadline, wait)
        else:
            await group.lock.acquire()
        try:
            while not group.joined and member in group.members:
                try:
                    await within(self._join_once(name), deadline, wait)
                except JoinTimeout:
                    raise
                except Exception:
                    if loop.time() + self.retry_delay >= deadline:
                        raise
                    await asyncio.sleep(self.retry_delay)
                else:
                    group.joined = True
        finally:
            group.lock.release()

    async def _join_once(self, name: str) -> None:
        await self._ensure_running()
        await self.layer.group_add(name, self.channel)

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
            handler = EVENT_HANDLERS.get(str(kind))
            if handler is None:
                logger.warning("Ignoring a %r message on the fan-out channel", kind)
            else:
                handler(self, message)
            return
        sent_at = message.get("t")
        if sent_at is not None:
            stats.observe_latency(sent_at)
        text = message["text"]
        names = message.get("groups")
        positions = message.get("pos")
        if names is None:  # a push to one group
            name = message.get("group", "")
            group = self.groups.get(name)
            if group is None:
                return
            if positions is not None:
                self._stream(name, group).push(text, positions[0], positions[1])
                return
            members: Iterable[Member] = tuple(group.members)
        else:  # a push to several groups: each local connection in any of them, once
            found: dict[Member, None] = {}
            streams: list[set[Member]] = []
            for index, name in enumerate(names):
                group = self.groups.get(name)
                if group is None:
                    continue
                position = None if positions is None else positions[index]
                if position is not None:
                    # Positioned per stream: a connection in two of the streams gets it from
                    # each, with each one's position (docs/topics/delivery.md, Recovery).
                    self._stream(name, group).push(text, position[0], position[1])
                    streams.append(group.members)
                else:
                    found.update(dict.fromkeys(group.members))
            # A connection that has it from a stream (with its position) needs no plain copy.
            members = [m for m in found if not any(m in s for s in streams)] if streams else found
        stats.deliveries += len(members)  # type: ignore[arg-type]
        for member in members:
            try:
                member.livepush_deliver(text)
            except Exception:
                # One connection's failure must not stop the process's pushes.
                logger.exception("Delivering a push to %r failed", member)

    def baseline(self, name: str, offset: int, epoch: str) -> None:
        """Start stream ``name`` at ``offset`` if no push of it came yet (a connect read it)."""
        group = self.groups.get(name)
        if group is not None:
            self._stream(name, group).baseline(offset, epoch)

    def _stream(self, name: str, group: _Group) -> Stream:
        stream = group.stream
        if stream is None:
            stream = group.stream = Stream(name, group.members, gap_wait=self.gap_wait)
        return stream

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

    async def rejoin(self, *, strict: bool = False) -> None:
        """Join every group this fan-out belongs to again; failures are logged.

        Raises:
            Exception: with ``strict``, the first failure, after every group was tried.
        """
        names = [name for name, group in self.groups.items() if group.joined]
        names += [self._probe_group, PROCESSES_GROUP]
        results = await asyncio.gather(
            *(self.layer.group_add(name, self.channel) for name in names), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures and strict:
            raise failures[0]
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
        # A new channel each time the fan-out starts receiving: RedisPubSubChannelLayer forgets
        # a channel whose receive was cancelled (the last connection left), and refuses
        # group_add for it. But the same one across tries that failed or were cut short before
        # the receive started: Redis may still carry out a try cut short (a hung Redis that
        # wakes up), and a channel of its own per try would leave channels in the groups that
        # nothing receives. The default prefix matters: channels-redis receives every
        # process-local channel of one prefix through one Redis key, and a second prefix would
        # starve.
        if self._unstarted_channel is None:
            self._unstarted_channel = await self.layer.new_channel()
        self.channel = self._unstarted_channel
        await self.layer.group_add(self._probe_group, self.channel)
        await self.layer.group_add(PROCESSES_GROUP, self.channel)
        self._unstarted_channel = None
        self._loops.start(
            {
                "livepush-fanout-receive": self._receive_loop,
                "livepush-fanout-maintain": self._maintain_loop,
            }
        )

    async def _receive_loop(self) -> None:
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
                # Redis went away: wait until it answers again and join every group again at
                # once (a restarted Redis lost the memberships; the probe would notice only
                # within probe_interval + probe_timeout).
                stats.layer_errors += 1
                logger.warning("Channel layer receive failed (%r); retrying", exc)
                await self._wait_and_rejoin()
                continue
            self.deliver(message)

    async def _wait_and_rejoin(self) -> None:
        """Re-join every group, every :attr:`retry_delay` seconds until it works."""
        while True:
            await asyncio.sleep(self.retry_delay)
            try:
                await self.rejoin(strict=True)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.debug("Channel layer still failing: %r", exc)
                continue
            logger.warning("Channel layer is back; joined %d group(s) again", len(self.groups))
            return

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
