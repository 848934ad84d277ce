"""The per-connection sender: one socket's pushes, in order, held when asked, never blocking.

The process's fan-out (``livepush._fanout``) hands each push to every local connection in the
group; the connection's :class:`Sender` is what puts it on the socket. It owns the three things
that are per connection on the delivery path:

- **order**: frames go out in the order :meth:`Sender.deliver` got them;
- **holding**: while held (the presence snapshot is being made, missed pushes replayed), frames
  wait and go out on :meth:`Sender.release`;
- **positions** (recovery): a push with a stream position (:meth:`Sender.deliver_at`) at or below
  the connection's *floor* for its stream (where the replay left it, then the last one sent) is
  a duplicate and is dropped, held ones included;
- **slow clients**: an ASGI server completes a ``websocket.send`` at once unless the client is
  not reading (uvicorn then waits for the transport to drain). A send that waits continues in
  its own task and later frames queue behind it, so one slow client never holds up the others.
  The queue (the backlog) has a bound in frames and in characters (the frames are ASCII JSON,
  so characters are bytes): past it the sender drops the backlog, stops sending and calls its
  ``on_overflow`` (the consumer closes the connection with 4010), so memory stays flat behind a
  client that stopped reading. Frames are counted only when they queue: a send that completes
  at once does no bookkeeping.

Starting a send costs no task when it completes at once: :func:`start_send` runs the send
coroutine's first step itself (``coroutine.send(None)``, the coroutine protocol of PEP 492) and,
only if the send waits, hands the rest of it to a task, which then waits on what the send waits
on. (Measured with ``benchmarks/compare.py``: a task per send costs about 50% more server CPU per
delivery on Python 3.11, and asyncio's eager task factory on 3.12 more than this.)
"""

from __future__ import annotations

import asyncio
import collections
import logging
import sys
from collections.abc import Callable, Coroutine, Generator
from typing import Any, TypeAlias

__all__ = ["Sender", "overflow_count", "start_send"]

logger = logging.getLogger("livepush.sender")

#: An ASGI ``send`` as servers provide it: an ``async def`` taking the message.
Send: TypeAlias = Callable[[dict[str, Any]], Coroutine[Any, Any, None]]

_overflows = 0


def overflow_count() -> int:
    """How many senders of this process dropped their backlog for passing its bound."""
    return _overflows


def start_send(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
    """Run ``coro`` until it first waits; return ``None`` if it finished, else the task running it.

    An exception raised before the first wait propagates.
    """
    try:
        yielded = coro.send(None)
    except StopIteration:
        return None
    return asyncio.get_running_loop().create_task(_resume(coro, yielded))


async def _resume(coro: Coroutine[Any, Any, None], yielded: Any) -> None:
    await _Suspended(coro, yielded)


class _Suspended:
    """Continues a coroutine that :func:`start_send` ran by hand up to a wait.

    The task awaiting it receives what the coroutine last yielded (the future it waits on, which
    marked itself as blocking when it yielded, as for any await), and from then on passes every
    result and exception through, as ``await`` would have.
    """

    __slots__ = ("coro", "yielded")

    def __init__(self, coro: Coroutine[Any, Any, None], yielded: Any) -> None:
        self.coro = coro
        self.yielded = yielded

    def __await__(self) -> Generator[Any, Any, None]:
        coro, yielded = self.coro, self.yielded
        while True:
            try:
                value = yield yielded
            except BaseException as exc:  # the task was cancelled: pass it on
                try:
                    yielded = coro.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    yielded = coro.send(value)
                except StopIteration:
                    return


class Sender:
    """Sends pre-encoded text frames to one WebSocket connection.

    Args:
        send: the connection's ASGI ``send`` (a consumer's ``base_send``).
        max_frames: the most frames the backlog may hold; ``None``: no bound.
        max_bytes: the most characters the backlog's frames may add up to; ``None``: no bound.
        on_overflow: called (once) when the backlog passed a bound and was dropped; the
            coroutine it returns is started at once, like a send (see :func:`start_send`).
    """

    __slots__ = (
        "_backlog",
        "_backlog_bytes",
        "_closed",
        "_closing",
        "_floors",
        "_held",
        "_holding",
        "_max_bytes",
        "_max_frames",
        "_on_overflow",
        "_send",
        "_sending",
        "hook",
    )

    def __init__(
        self,
        send: Send,
        *,
        max_frames: int | None = None,
        max_bytes: int | None = None,
        on_overflow: Callable[[], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        self._send = send
        self._backlog: collections.deque[str] = collections.deque()
        self._backlog_bytes = 0
        self._max_frames = sys.maxsize if max_frames is None else max_frames
        self._max_bytes = sys.maxsize if max_bytes is None else max_bytes
        self._on_overflow = on_overflow
        self._sending: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None
        self._holding = False
        # Frames kept back while holding, with their stream, offset and epoch if positioned.
        self._held: list[tuple[str, str | None, int, str]] = []
        # Each stream's last position this connection had: (epoch, offset).
        self._floors: dict[str, tuple[str, int]] = {}
        self._closed = False
        #: Where :meth:`deliver_at` sends a push that is not a duplicate: :meth:`deliver`, or a
        #: consumer's ``livepush_deliver`` override (which calls it in turn).
        self.hook: Callable[[str], None] = self.deliver

    @property
    def backlog(self) -> int:
        """Frames waiting behind a send in progress or a hold."""
        return len(self._backlog) + len(self._held)

    @property
    def backlog_bytes(self) -> int:
        """Characters (bytes, for ASCII JSON) of the frames waiting in the backlog."""
        return self._backlog_bytes

    def deliver(self, text: str) -> None:
        """Send ``text`` after every frame delivered before it; never blocks, never raises.

        After a send failed (the connection is going away) or the backlog overflowed, frames are
        dropped.
        """
        if self._closed:
            return
        if self._holding:
            self._hold(text, None, 0, "")
            return
        if self._sending is not None or self._backlog:
            self._backlog.append(text)
            self._backlog_bytes += len(text)
            if len(self._backlog) > self._max_frames or self._backlog_bytes > self._max_bytes:
                self._overflow()
            return
        self._start(text)

    def deliver_at(self, text: str, stream: str, offset: int, epoch: str) -> None:
        """:meth:`deliver` (through :attr:`hook`) the push at ``offset`` of ``stream``'s ``epoch``.

        Dropped if the connection already had it: ``offset`` is at or below the stream's floor
        in the same epoch (a new epoch starts again from offset 1).
        """
        if self._closed:
            return
        if self._holding:
            self._hold(text, stream, offset, epoch)
            return
        floors = self._floors
        floor = floors.get(stream)
        if floor is not None and offset <= floor[1] and floor[0] == epoch:
            return
        floors[stream] = (epoch, offset)
        self.hook(text)

    #: The fan-out's names for :meth:`deliver` and :meth:`deliver_at` (``livepush._fanout.Member``).
    livepush_deliver = deliver
    livepush_deliver_at = deliver_at

    def hold(self) -> None:
        """Keep frames back until :meth:`release`."""
        self._holding = True

    def set_floors(self, floors: dict[str, tuple[str, int]]) -> None:
        """From now on drop pushes of each stream at or below its ``(epoch, offset)``."""
        self._floors.update(floors)

    def release(self) -> None:
        """Send the frames held back, in order (duplicates dropped), and stop holding.

        A :attr:`hook` that raises loses its own frame only: it is logged, the rest are sent.
        """
        self._holding = False
        held, self._held = self._held, []
        self._backlog_bytes -= sum(len(text) for text, _, _, _ in held)
        for text, stream, offset, epoch in held:
            try:
                if stream is None:
                    self.deliver(text)
                else:
                    self.deliver_at(text, stream, offset, epoch)
            except Exception:
                logger.exception("Delivering a push held during the connect failed")

    def _hold(self, text: str, stream: str | None, offset: int, epoch: str) -> None:
        if self._closed:
            return
        self._held.append((text, stream, offset, epoch))
        self._backlog_bytes += len(text)
        if len(self._held) > self._max_frames or self._backlog_bytes > self._max_bytes:
            self._overflow()

    def close(self) -> None:
        """Drop the backlog and cancel a send in progress; later frames are ignored."""
        self._closed = True
        self._clear()
        sending, self._sending = self._sending, None
        if sending is not None:
            sending.cancel()
        closing, self._closing = self._closing, None
        if closing is not None:
            closing.cancel()

    def _clear(self) -> None:
        self._backlog.clear()
        self._held.clear()
        self._backlog_bytes = 0

    def _overflow(self) -> None:
        global _overflows
        _overflows += 1
        logger.debug(
            "Dropping a backlog of %d push(es), %d bytes, past its bound",
            self.backlog,
            self._backlog_bytes,
        )
        on_overflow, self._on_overflow = self._on_overflow, None  # once
        self.close()
        if on_overflow is not None:
            try:
                self._closing = start_send(on_overflow())
            except Exception as exc:
                logger.warning("Closing a connection whose backlog overflowed failed: %r", exc)

    def _start(self, text: str) -> None:
        try:
            task = start_send(self._send({"type": "websocket.send", "text": text}))
        except Exception as exc:
            self._failed(exc)
            return
        if task is not None:
            self._sending = task
            task.add_done_callback(self._on_sent)

    def _on_sent(self, task: asyncio.Task[None]) -> None:
        if task is self._sending:
            self._sending = None
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self._failed(exc)
        else:
            self._drain()

    def _failed(self, exc: BaseException) -> None:
        # The connection is going away (its disconnect handler cleans up): the frames left and
        # later ones cannot be sent.
        self._closed = True
        logger.debug(
            "Dropping %d push(es) for a closing connection: %r", len(self._backlog) + 1, exc
        )
        self._clear()

    def _drain(self) -> None:
        backlog = self._backlog
        while backlog and self._sending is None and not self._closed:
            text = backlog.popleft()
            self._backlog_bytes -= len(text)
            self._start(text)
