"""Server heartbeat: ``PING`` every ``HEARTBEAT_INTERVAL``, close ``4002`` without a ``PONG``.

:class:`HeartbeatMixin` works on any Channels ``AsyncWebsocketConsumer``: it starts after
``accept()``, answers a client ``PING`` with ``PONG``, and stops when the connection ends, so no
task outlives the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any

from livepush.conf import livepush_settings
from livepush.protocol import PING_FRAME, PONG_FRAME, CloseCode

if TYPE_CHECKING:
    from livepush._types import ASGIReceive, ASGISend, Message, Scope

__all__ = ["HeartbeatMixin"]

logger = logging.getLogger("livepush.heartbeat")

# Heartbeat frames are tiny; anything longer is not one and is not parsed here.
_MAX_HEARTBEAT_FRAME = 64


class HeartbeatMixin:
    """Keep a WebSocket alive and detect dead peers; mix in before ``AsyncWebsocketConsumer``.

    Attributes:
        heartbeat_interval: seconds between ``PING`` frames; ``None`` reads
            ``LIVEPUSH["HEARTBEAT_INTERVAL"]``.
        heartbeat_timeout: seconds to wait for the ``PONG``; ``None`` reads
            ``LIVEPUSH["HEARTBEAT_TIMEOUT"]``.
    """

    heartbeat_interval: float | None = None
    heartbeat_timeout: float | None = None

    _heartbeat_task: asyncio.Task[None] | None = None
    _pong_received: asyncio.Event | None = None

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
            self.stop_heartbeat()

    async def accept(self, subprotocol: str | None = None, headers: Any = None) -> None:
        """Accept the connection, then start the heartbeat."""
        if headers is None:
            await super().accept(subprotocol)  # type: ignore[misc]
        else:
            await super().accept(subprotocol, headers)  # type: ignore[misc]
        self.start_heartbeat()

    async def websocket_receive(self, message: Message) -> None:
        text = message.get("text")
        if text is not None and len(text) <= _MAX_HEARTBEAT_FRAME:
            kind = _heartbeat_kind(text)
            if kind == "PONG":
                self.heartbeat_pong()
                return
            if kind == "PING":
                await self.send(text_data=PONG_FRAME)
                return
        await super().websocket_receive(message)  # type: ignore[misc]

    async def websocket_disconnect(self, message: Message) -> None:
        self.stop_heartbeat()
        await super().websocket_disconnect(message)  # type: ignore[misc]

    def start_heartbeat(self) -> None:
        """Start the heartbeat task (idempotent)."""
        if self._heartbeat_task is None:
            self._pong_received = asyncio.Event()
            self._heartbeat_task = asyncio.get_running_loop().create_task(
                self._heartbeat(), name=f"livepush-heartbeat-{id(self):x}"
            )

    def stop_heartbeat(self) -> None:
        """Cancel the heartbeat task, if running."""
        task, self._heartbeat_task = self._heartbeat_task, None
        if task is not None and task is not _current_task():
            task.cancel()

    def heartbeat_pong(self) -> None:
        """Record a ``PONG`` from the client."""
        if self._pong_received is not None:
            self._pong_received.set()

    async def _heartbeat(self) -> None:
        interval = self.heartbeat_interval or livepush_settings.heartbeat_interval
        timeout = self.heartbeat_timeout or livepush_settings.heartbeat_timeout
        pong = self._pong_received
        if pong is None:  # pragma: no cover - start_heartbeat always sets it
            return
        while True:
            await asyncio.sleep(interval)
            pong.clear()
            try:
                # The send itself counts against the timeout: a client that stops reading
                # leaves it waiting on a full transport.
                await asyncio.wait_for(self._ping_and_wait(pong), timeout)
            except asyncio.TimeoutError:
                logger.debug(
                    "No PONG within %ss; closing with %d", timeout, CloseCode.HEARTBEAT_TIMEOUT
                )
                self._heartbeat_task = None
                with contextlib.suppress(Exception):
                    await self.close(code=int(CloseCode.HEARTBEAT_TIMEOUT))
                return

    async def _ping_and_wait(self, pong: asyncio.Event) -> None:
        await self.send(text_data=PING_FRAME)
        await pong.wait()


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


def _heartbeat_kind(text: str) -> str | None:
    """Return ``"PING"`` or ``"PONG"`` when ``text`` is exactly such a frame, else ``None``."""
    if "PING" not in text and "PONG" not in text:
        return None
    try:
        content = json.loads(text)
    except ValueError:
        return None
    if isinstance(content, dict) and content.get("type") in ("PING", "PONG") and len(content) <= 2:
        return str(content["type"])
    return None
