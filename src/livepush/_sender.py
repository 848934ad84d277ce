"""The per-connection sender: one socket's pushes, in order, held when asked, never blocking.

The process's fan-out (``livepush._fanout``) hands each push to every local connection in the
group; the connection's :class:`Sender` is what puts it on the socket. It owns the three things
that are per connection on the delivery path:

- **order**: frames go out in the order :meth:`Sender.deliver` got them;
- **holding**: while held (the presence snapshot is being made), frames wait and go out on
  :meth:`Sender.release`;
- **slow clients**: an ASGI server completes a ``websocket.send`` at once unless the client is
  not reading (uvicorn then waits for the transport to drain). A send that waits continues in
  its own task and later frames queue behind it, so one slow client never holds up the others.

Starting a send: on Python 3.12+ with :func:`asyncio.eager_task_factory`, which runs the send's
first step at once and creates a task that is already done when the send did not wait; before
3.12, with a plain task.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeAlias

__all__ = ["Sender", "start_task"]

logger = logging.getLogger("livepush.sender")

#: An ASGI ``send`` as servers provide it: an ``async def`` taking the message.
Send: TypeAlias = Callable[[dict[str, Any]], Coroutine[Any, Any, None]]


if sys.version_info >= (3, 12):

    def start_task(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``coro`` until it first waits; return its task (done if it never waited)."""
        return asyncio.eager_task_factory(asyncio.get_running_loop(), coro)

else:  # pragma: no cover - depends on the Python version

    def start_task(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``coro`` in a task (eager start needs Python 3.12)."""
        return asyncio.get_running_loop().create_task(coro)


class Sender:
    """Sends pre-encoded text frames to one WebSocket connection.

    Args:
        send: the connection's ASGI ``send`` (a consumer's ``base_send``).
    """

    __slots__ = ("_backlog", "_closed", "_holding", "_send", "_sending")

    def __init__(self, send: Send) -> None:
        self._send = send
        self._backlog: collections.deque[str] = collections.deque()
        self._sending: asyncio.Task[None] | None = None
        self._holding = False
        self._closed = False

    @property
    def backlog(self) -> int:
        """Frames waiting behind a send in progress or a hold."""
        return len(self._backlog)

    def deliver(self, text: str) -> None:
        """Send ``text`` after every frame delivered before it; never blocks, never raises.

        After a send failed (the connection is going away), frames are dropped.
        """
        if self._closed:
            return
        if self._sending is not None or self._holding or self._backlog:
            self._backlog.append(text)
            return
        self._start(text)

    def hold(self) -> None:
        """Keep frames back until :meth:`release`."""
        self._holding = True

    def release(self) -> None:
        """Send the frames held back, in order, and stop holding."""
        self._holding = False
        self._drain()

    def close(self) -> None:
        """Drop the backlog and cancel a send in progress; later frames are ignored."""
        self._closed = True
        self._backlog.clear()
        sending, self._sending = self._sending, None
        if sending is not None:
            sending.cancel()

    def _start(self, text: str) -> None:
        task = start_task(self._send({"type": "websocket.send", "text": text}))
        if task.done():
            self._finished(task)
        else:
            self._sending = task
            task.add_done_callback(self._on_sent)

    def _on_sent(self, task: asyncio.Task[None]) -> None:
        if task is self._sending:
            self._sending = None
        if self._finished(task) and not self._holding:
            self._drain()

    def _finished(self, task: asyncio.Task[None]) -> bool:
        """Whether a finished send succeeded; a failed one means the connection is going away."""
        if task.cancelled():
            return False
        exc = task.exception()
        if exc is None:
            return True
        # The connection is going away (its disconnect handler cleans up): the frames left and
        # later ones cannot be sent.
        self._closed = True
        logger.debug(
            "Dropping %d push(es) for a closing connection: %r", len(self._backlog) + 1, exc
        )
        self._backlog.clear()
        return False

    def _drain(self) -> None:
        while self._backlog and self._sending is None and not self._closed:
            self._start(self._backlog.popleft())
