"""A minimal WebSocket client on an ``asyncio.Protocol``: the benchmark's cheap client.

It does what the measurements need and nothing more: the HTTP upgrade (the reply must be
``101``; ``Sec-WebSocket-Accept`` is not checked), unfragmented server frames parsed straight
from the transport's buffer (text frames go to ``on_text(client, text)``; pings are answered;
pongs resolve :meth:`LightClient.ping`'s waiters, in order), and masked client frames of under
126 bytes. No compression, no size limit, no keepalive.

Measured on the 2-core machine (1,000 connections, 2 client processes, 2-10 broadcasts/s): about
12 ms of client CPU per 1,000 deliveries from livepush against about 25 ms for the
``websockets`` client, so the runner uses it by default (``--client websockets`` for the other;
``meta.json`` records which).
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections import deque
from collections.abc import Callable
from urllib.parse import urlsplit


def _control(opcode: int, payload: bytes = b"") -> bytes:
    """A masked client frame with a short payload (< 126 bytes): control frames, a PONG."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked


class LightClient(asyncio.Protocol):
    def __init__(self, request: bytes, on_text: Callable[[LightClient, str], None]) -> None:
        self.request = request
        self.on_text = on_text
        self.buffer = bytearray()
        self.open = False
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pongs: deque[asyncio.Future[None]] = deque()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed during the handshake"))
        while self.pongs:
            waiter = self.pongs.popleft()
            if not waiter.done():
                waiter.set_exception(ConnectionError("closed"))

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buf[: buf.find(b"\r\n")])
            if b" 101 " not in status + b" ":
                self.opened.set_exception(ConnectionRefusedError(status.decode(errors="replace")))
                assert self.transport is not None
                self.transport.close()
                return
            del buf[: end + 4]
            self.open = True
            self.opened.set_result(None)
        pos, size = 0, len(buf)
        while size - pos >= 2:
            opcode, length = buf[pos] & 0x0F, buf[pos + 1] & 0x7F
            head = pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), pos + 10
            if size - head < length:
                break
            pos = head + length
            if opcode == 1:
                self.on_text(self, buf[head:pos].decode())
            elif opcode == 9:
                self._write(_control(10, bytes(buf[head:pos])))
            elif opcode == 10:
                if self.pongs:
                    waiter = self.pongs.popleft()
                    if not waiter.done():
                        waiter.set_result(None)
            elif opcode == 8:
                self._write(_control(8, bytes(buf[head : head + 2])))
                assert self.transport is not None
                self.transport.close()
            elif opcode == 2:
                self.on_text(self, "")  # binary: not a push; counted as another frame
        del buf[:pos]

    def _write(self, frame: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame)

    def send_text(self, text: str) -> None:
        """Send a short text frame (the heartbeat's ``PONG``)."""
        self._write(_control(1, text.encode()))

    async def ping(self) -> asyncio.Future[None]:
        """Send a ping; return the future its pong resolves (as ``websockets``' ``ping()``)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pongs.append(waiter)
        self._write(_control(9))
        return waiter

    async def close(self) -> None:
        self._write(_control(8, (1000).to_bytes(2, "big")))
        if self.transport is not None:
            self.transport.close()


async def connect(
    url: str,
    protocols: list[str],
    on_text: Callable[[LightClient, str], None],
    timeout: float = 60,
) -> LightClient:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if protocols:
        lines.append(f"Sec-WebSocket-Protocol: {', '.join(protocols)}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    loop = asyncio.get_running_loop()
    _, client = await asyncio.wait_for(
        loop.create_connection(lambda: LightClient(request, on_text), host, port), timeout
    )
    await asyncio.wait_for(client.opened, timeout)
    return client
