"""Recovery in the fan-out: each stream's positioned pushes handed over in offset order, once.

With ``LIVEPUSH["RECOVERY"]`` a push to a recoverable group carries its stream position (offset
and epoch, assigned by ``livepush.history`` when it was published). Pushes of one stream from two
processes can reach a process out of order (each assigned its offset, then sent, separately), and
one can be lost on the way (a channel-layer drop). The fan-out's :class:`Stream` of each group
hands the pushes to the group's local members in offset order, each once: a duplicate is dropped,
a push that comes ahead of a missing one waits up to ``gap_wait`` seconds, then the missing ones
are read from the history. Those the history no longer has are counted, logged at WARNING, and the
members are sent a ``RECOVERY`` frame naming the stream in ``resync`` (refetch), as when the
stream's epoch changes under them (its history was lost).

Each member gets the frame with its ``"pos"`` (built once per push and process, not per
connection) through ``livepush_deliver_at``, which drops what that connection already had.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from typing import TYPE_CHECKING

from livepush._stats import stats
from livepush.history import Position, get_history
from livepush.protocol import encode_recovery, with_position

if TYPE_CHECKING:
    from livepush._fanout import Member

__all__ = ["Stream", "gaps_lost"]

logger = logging.getLogger("livepush.fanout")

_gaps_lost = 0


def gaps_lost() -> int:
    """How many times pushes of a stream never reached this process and were not in its history."""
    return _gaps_lost


class Stream:
    """The order of one recoverable group's pushes in this process.

    Args:
        name: the group (the stream's name).
        members: the group's local members (the fan-out's live set).
        gap_wait: seconds a push that came ahead of a missing one waits for it.
    """

    __slots__ = ("epoch", "gap", "gap_wait", "members", "name", "offset", "waiting")

    def __init__(self, name: str, members: Collection[Member], *, gap_wait: float) -> None:
        self.name = name
        self.members = members
        self.gap_wait = gap_wait
        #: The position last handed to the members (``None``: none yet).
        self.offset: int | None = None
        self.epoch: str | None = None
        #: Pushes that came ahead of a missing one, by offset.
        self.waiting: dict[int, str] = {}
        self.gap: asyncio.Task[None] | None = None

    def baseline(self, offset: int, epoch: str) -> None:
        """A connect read the stream at ``offset``: start there, unless it started already.

        Called as soon as the read returns, before the connect awaits anything: the reads of a
        process run one batch after another (``livepush._resume``), so baselines come in read
        order and a later one never starts the stream past pushes an earlier reader still needs.
        Pushes that came before any baseline waited for it; those it covers are dropped (the
        reader replays them from the history).
        """
        if self.offset is not None:
            return  # started: pushes since were handed over to every member, readers included
        if self.epoch != epoch:
            self.waiting.clear()  # pushes of another epoch than the history's now
        self.offset, self.epoch = offset, epoch
        self.waiting = {n: text for n, text in self.waiting.items() if n > offset}
        self._drain_waiting()
        self._watch_gap()

    def push(self, text: str, offset: int, epoch: str) -> None:
        """Hand ``text``, the push at ``offset`` of ``epoch``, over in order (or keep it back)."""
        if self.epoch != epoch:
            if self.epoch is None or self.offset is None:
                self.epoch = epoch  # not started: waits below for a baseline
                self.waiting.clear()
            else:
                # The stream's history was lost (Redis flushed, its meta expired): the members'
                # positions mean nothing now, they must refetch.
                self._resync(offset - 1, epoch)
                self.offset, self.epoch = offset - 1, epoch
                self.waiting.clear()
        last = self.offset
        if last is None:
            # No connect has read the stream yet (its members' reads are in flight): wait for
            # the first to say where to start (baseline), or for the gap's wait.
            self.waiting[offset] = text
            self._watch_gap()
            return
        if offset <= last:
            return  # a duplicate
        if offset > last + 1:
            # Published from two processes at once, pushes can arrive out of order: wait a
            # moment for the missing one, then read it from the history.
            self.waiting[offset] = text
            self._watch_gap()
            return
        self._hand_over(text, offset)
        self._drain_waiting()

    def _drain_waiting(self) -> None:
        """Hand over the waiting pushes that follow on from the last one handed over."""
        waiting = self.waiting
        while waiting and self.offset is not None:
            following = waiting.pop(self.offset + 1, None)
            if following is None:
                return
            self._hand_over(following, self.offset + 1)

    def _hand_over(self, text: str, offset: int) -> None:
        self.offset = offset
        epoch = str(self.epoch)
        framed = with_position(text, self.name, offset, epoch)
        stats.deliveries += len(self.members)
        for member in tuple(self.members):
            try:
                member.livepush_deliver_at(framed, self.name, offset, epoch)
            except Exception:
                # One connection's failure must not stop the process's pushes.
                logger.exception("Delivering a push to %r failed", member)

    async def _fill_gap(self) -> None:
        try:
            await asyncio.sleep(self.gap_wait)
            if not self.waiting or self.epoch is None:
                return
            if self.offset is None:
                # No member read the stream (their reads failed, or recovery is off where they
                # connected): start at the first push that came.
                self.offset = min(self.waiting) - 1
                self._drain_waiting()
                if not self.waiting:
                    return
            since = Position(self.offset, self.epoch)
            try:
                missed = (await get_history().read({self.name: since}))[self.name].missed
            except Exception as exc:
                logger.warning("Could not read stream %r's history: %r", self.name, exc)
                missed = None
            if missed is not None and self.epoch == since.epoch:
                for offset, text in missed:
                    if offset > self.offset:
                        self.waiting.pop(offset, None)
                        self._hand_over(text, offset)
                self._drain_waiting()
            if self.waiting:
                global _gaps_lost
                _gaps_lost += 1
                logger.warning(
                    "Pushes %d-%d of stream %r never reached this process and are not in its "
                    "history; its connections here are told to refetch",
                    self.offset + 1,
                    min(self.waiting) - 1,
                    self.name,
                )
                self.offset = min(self.waiting) - 1
                self._resync(self.offset, self.epoch)
                self._drain_waiting()
        finally:
            self.gap = None
        self._watch_gap()  # a further gap among those still waiting

    def _watch_gap(self) -> None:
        if self.waiting and self.gap is None:
            self.gap = asyncio.get_running_loop().create_task(
                self._fill_gap(), name="livepush-stream-gap"
            )

    def _resync(self, offset: int, epoch: str) -> None:
        frame = encode_recovery({self.name: (offset, epoch)}, [self.name])
        for member in tuple(self.members):
            try:
                member.livepush_deliver(frame)
            except Exception:
                logger.exception("Delivering a resync to %r failed", member)
