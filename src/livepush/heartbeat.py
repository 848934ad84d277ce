"""Server heartbeat: ``PING`` every ``HEARTBEAT_INTERVAL``, close ``4002`` without a ``PONG``.

:class:`Heartbeat` is the one owner of a connection's heartbeat: it runs the ``PING`` task,
records ``PONG`` and answers a client's ``PING``. :class:`~livepush.consumers.LivePushConsumer`
holds one; :class:`HeartbeatMixin` gives one to any Channels ``AsyncWebsocketConsumer``. Either
way it starts after ``accept()`` and stops when the connection ends, so no task outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from livepush._stats import stats
from livepush.conf import livepush_settings
from livepush.protocol import PING_FRAME, PONG_FRAME, CloseCode, ProtocolType

if TYPE_CHECKING:
    from livepush._types import ASGIReceive, ASGISend, Message, Scope

__all__ = ["Heartbeat", "HeartbeatMixin"]

logger = logging.getLogger("livepush.heartbeat")

# Heartbeat frames are tiny; anything longer is not one and is not parsed by the mixin.
_MAX_HEARTBEAT_FRAME = 64


class Heartbeat:
    """One connection's heartbeat.

    Args:
        send_text: sends a text frame on the connection.
        close: closes the connection with a code.
        interval: seconds between ``PING`` frames; ``None`` reads ``HEARTBEAT_INTERVAL``.
        timeout: seconds to wait for the ``PONG``, the ``PING``'s own send included (a client
            that stops reading leaves it waiting on a full transport); ``None`` reads
            ``HEARTBEAT_TIMEOUT``.
    """

    def __init__(
        self,
        send_text: Callable[[str], Awaitable[None]],
        close: Callable[[int], Awaitable[None]],
        *,
        interval: float | None = None,
        timeout: float | None = None,
    ) -> None:
        self._send_text = send_text
        self._close = close
        self.interval = interval or livepush_settings.heartbeat_interval
        self.timeout = timeout or livepush_settings.heartbeat_timeout
        self._pong = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        """Start sending ``PING`` frames (idempotent)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"livepush-heartbeat-{id(self):x}"
            )

    def stop(self) -> None:
        """Cancel the ``PING`` task, if it runs (idempotent)."""
        task, self._task = self._task, None
        if task is not None and task is not _current_task():
            task.cancel()

    async def aclose(self) -> None:
        """Stop and wait until the ``PING`` task has ended."""
        task = self._task
        self.stop()
        if task is not None and task is not _current_task():
            await asyncio.wait((task,))

    def pong(self) -> None:
        """Record a ``PONG`` from the client."""
        self._pong.set()

    async def receive(self, type_name: str) -> bool:
        """Handle a client frame of type ``type_name`` if it is ``PING`` or ``PONG``.

        Returns whether it was one: a ``PONG`` is recorded, a ``PING`` is answered with ``PONG``.
        """
        if type_name == ProtocolType.PONG:
            self.pong()
            return True
        if type_name == ProtocolType.PING:
            await self._send_text(PONG_FRAME)
            return True
        return False

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self._pong.clear()
            try:
                await asyncio.wait_for(self._ping_and_wait(), self.timeout)
            except asyncio.TimeoutError:
                logger.debug(
                    "No PONG within %ss; closing with %d", self.timeout, CloseCode.HEARTBEAT_TIMEOUT
                )
                self._task = None
                stats.heartbeat_timeouts += 1
                with contextlib.suppress(Exception):
                    await self._close(int(CloseCode.HEARTBEAT_TIMEOUT))
                return

    async def _ping_and_wait(self) -> None:
        await self._send_text(PING_FRAME)
        await self._pong.wait()


class HeartbeatMixin:
    """Give any Channels ``AsyncWebsocketConsumer`` the heartbeat; list it first in the bases.

    The heartbeat starts in :meth:`accept` and stops when the consumer ends. A text frame that
    is exactly a ``PING`` or ``PONG`` object is handled here; every other frame goes on to the
    consumer's ``receive()``.

    Attributes:
        heartbeat_interval: seconds between ``PING`` frames; ``None`` reads
            ``LIVEPUSH["HEARTBEAT_INTERVAL"]``.
        heartbeat_timeout: seconds to wait for the ``PONG``; ``None`` reads
            ``LIVEPUSH["HEARTBEAT_TIMEOUT"]``.
        heartbeat: the connection's :class:`Heartbeat`, from ``accept()`` on.
    """

    heartbeat_interval: float | None = None
    heartbeat_timeout: float | None = None
    heartbeat: Heartbeat | None = None

    # What the mixin needs from the consumer it is mixed into.
    if TYPE_CHECKING:

        async def send(
            self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False
        ) -> None: ...

        async def close(self, code: int | None = None, reason: str | None = None) -> None: ...

    async def __call__(self, scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        try:
            await super().__call__(scope, receive, send)  # type: ignore[misc]
        finally:
            if self.heartbeat is not None:
                await self.heartbeat.aclose()

    async def accept(self, subprotocol: str | None = None, headers: Any = None) -> None:
        """Accept the connection, then start the heartbeat."""
        if headers is None:
            await super().accept(subprotocol)  # type: ignore[misc]
        else:
            await super().accept(subprotocol, headers)  # type: ignore[misc]
        self.start_heartbeat()

    async def websocket_receive(self, message: Message) -> None:
        text = message.get("text")
        if text is not None and len(text) <= _MAX_HEARTBEAT_FRAME and self.heartbeat is not None:
            kind = _heartbeat_type(text)
            if kind is not None and await self.heartbeat.receive(kind):
                return
        await super().websocket_receive(message)  # type: ignore[misc]

    def start_heartbeat(self) -> None:
        """Start the heartbeat (idempotent)."""
        if self.heartbeat is None:
            self.heartbeat = Heartbeat(
                self._heartbeat_send,
                self._heartbeat_close,
                interval=self.heartbeat_interval,
                timeout=self.heartbeat_timeout,
            )
        self.heartbeat.start()

    def stop_heartbeat(self) -> None:
        """Stop the heartbeat, if it runs."""
        if self.heartbeat is not None:
            self.heartbeat.stop()

    def heartbeat_pong(self) -> None:
        """Record a ``PONG`` from the client."""
        if self.heartbeat is not None:
            self.heartbeat.pong()

    async def _heartbeat_send(self, text: str) -> None:
        await self.send(text_data=text)

    async def _heartbeat_close(self, code: int) -> None:
        await self.close(code=code)


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


def _heartbeat_type(text: str) -> str | None:
    """Return ``"PING"`` or ``"PONG"`` when ``text`` is exactly such a frame, else ``None``."""
    if ProtocolType.PING not in text and ProtocolType.PONG not in text:
        return None
    try:
        content = json.loads(text)
    except ValueError:
        return None
    kind = content.get("type") if isinstance(content, dict) else None
    if kind in (ProtocolType.PING, ProtocolType.PONG) and len(content) <= 2:
        return str(kind)
    return None
