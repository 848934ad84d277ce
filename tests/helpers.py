"""What the tests share besides fixtures: patience, the Origin, a real WebSocket client, and a
channel read through the channel layer's public API.

Fixtures live in conftest.py; everything a test imports lives here.
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from channels.testing import WebsocketCommunicator
from websockets.asyncio.client import ClientConnection, connect

from livepush.protocol import PROCESSES_GROUP

#: Upper bound for anything a test awaits; never a timing assertion.
WAIT = 15.0
#: :data:`WAIT` in milliseconds, for Playwright.
WAIT_MS = int(WAIT * 1000)

#: The Origin of every allowed connection. The test project's ALLOWED_HOSTS accepts it, for the
#: servers the live tests run on 127.0.0.1 and for Channels' WebsocketCommunicator alike.
ORIGIN = "http://testserver"
#: :data:`ORIGIN` as the ASGI header list WebsocketCommunicator takes.
ORIGIN_HEADERS = [(b"origin", ORIGIN.encode())]


class Client:
    """A real WebSocket client that decodes JSON frames.

    A task reads the connection in the background. With ``answer_pings`` (the default) it answers
    the server's heartbeat PINGs with PONG and keeps them from :meth:`recv`, so a test that runs
    longer than the heartbeat interval neither sees nor skips them; without it, PINGs are frames
    like any other.
    """

    def __init__(self, ws: ClientConnection, *, answer_pings: bool = True) -> None:
        self.ws = ws
        self.answer_pings = answer_pings
        #: Frames in arrival order; the reader's last item is the exception that ended it.
        self._frames: asyncio.Queue[dict[str, Any] | BaseException] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read(), name="test-client-reader")

    async def _read(self) -> None:
        try:
            while True:
                frame = json.loads(await self.ws.recv())
                if self.answer_pings and isinstance(frame, dict) and frame.get("type") == "PING":
                    await self.ws.send(json.dumps({"type": "PONG"}))
                else:
                    self._frames.put_nowait(frame)
        except Exception as error:  # ConnectionClosed, or a frame that is not JSON
            self._frames.put_nowait(error)

    async def recv(self) -> dict[str, Any]:
        """The next frame; raises what ended the connection (ConnectionClosed) once it is over."""
        item = await asyncio.wait_for(self._frames.get(), WAIT)
        if isinstance(item, BaseException):
            self._frames.put_nowait(item)  # every later recv() raises it too
            raise item
        return item

    async def send(self, frame: Any) -> None:
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def closed_with(self) -> int | None:
        """Wait for the server to close the connection; return its close code.

        Frames that arrive first are dropped.
        """
        await asyncio.wait_for(asyncio.shield(self._reader), WAIT)
        return self.ws.close_code

    async def recv_until(self, type_: str) -> list[dict[str, Any]]:
        """Receive frames up to and including the first of ``type_``; return them all."""
        frames = []
        while True:
            frame = await self.recv()
            frames.append(frame)
            if frame["type"] == type_:
                return frames

    async def stop(self) -> None:
        """Stop reading; the connection itself is closed by :func:`ws_connect`."""
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)


@asynccontextmanager
async def ws_connect(
    url: str,
    *,
    token: str | None = None,
    query_token: str | None = None,
    origin: str | None = ORIGIN,
    subprotocols: list[str] | None = None,
    answer_pings: bool = True,
) -> AsyncIterator[Client]:
    """Connect a :class:`Client`; ``token`` goes in the subprotocols, ``query_token`` in the URL."""
    protocols = list(subprotocols or [])
    if token is not None:
        protocols = ["livepush", f"livepush.token.{token}"]
    if query_token is not None:
        url = f"{url}?accessToken={query_token}"
    async with connect(
        url,
        origin=origin,  # type: ignore[arg-type]
        subprotocols=protocols or None,  # type: ignore[arg-type]
        open_timeout=WAIT,
        max_size=None,
    ) as ws:
        client = Client(ws, answer_pings=answer_pings)
        try:
            yield client
        finally:
            await client.stop()


async def received(layer: Any, channel: str) -> list[dict[str, Any]]:
    """Every message waiting on ``channel`` of ``layer``, in order, and none left behind.

    Read with the layer's own ``send()`` and ``receive()``: a marker sent now comes after
    whatever is already there, so receiving up to it needs no timeout to prove nothing else came.
    """
    marker = {"type": "test.marker", "id": uuid.uuid4().hex}
    await layer.send(channel, marker)
    messages = []
    while (message := await asyncio.wait_for(layer.receive(channel), WAIT)) != marker:
        messages.append(message)
    return messages


async def raw_websocket(port: int, token: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a WebSocket by hand on a socket with a tiny receive buffer."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
    writer.write(
        (
            "GET /ws/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\nOrigin: {ORIGIN}\r\n"
            f"Sec-WebSocket-Protocol: livepush, livepush.token.{token}\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    status = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    assert status.startswith(b"HTTP/1.1 101")
    return reader, writer


async def read_server_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Read one unfragmented, unmasked server frame; return its opcode and payload."""
    head = await asyncio.wait_for(reader.readexactly(2), WAIT)
    length = head[1] & 0x7F
    if length == 126:
        length = int.from_bytes(await reader.readexactly(2), "big")
    elif length == 127:
        length = int.from_bytes(await reader.readexactly(8), "big")
    payload = await asyncio.wait_for(reader.readexactly(length), WAIT)
    return head[0] & 0x0F, payload


async def read_text_frame(reader: asyncio.StreamReader) -> str:
    """Read server frames up to the next text frame (skipping control frames); return its text."""
    while True:
        opcode, payload = await read_server_frame(reader)
        if opcode == 1:
            return payload.decode()


def communicator_for(
    token: str | None = None,
    *,
    app: Any = None,
    url: str = "/ws/",
    subprotocols: list[str] | None = None,
) -> WebsocketCommunicator:
    """A Channels ``WebsocketCommunicator`` on the library's route, with the allowed Origin and
    ``token`` in the subprotocols (next to ``livepush``, unless ``subprotocols`` says otherwise)."""
    from livepush.routing import websocket_application

    protocols = list(subprotocols if subprotocols is not None else ["livepush"])
    if token is not None:
        protocols.append(f"livepush.token.{token}")
    return WebsocketCommunicator(
        app or websocket_application(), url, headers=ORIGIN_HEADERS, subprotocols=protocols
    )


@asynccontextmanager
async def connected(token: str, **kwargs: Any) -> AsyncIterator[WebsocketCommunicator]:
    """:func:`communicator_for`, connected (``livepush`` selected) and disconnected after."""
    communicator = communicator_for(token, **kwargs)
    assert await communicator.connect(timeout=WAIT) == (True, "livepush")
    try:
        yield communicator
    finally:
        await communicator.disconnect(timeout=WAIT)


#: Channel -> the groups it joined with :func:`join_groups`.
_member_groups: dict[str, frozenset[str]] = {}


async def join_groups(layer: Any, *groups: str) -> str:
    """A new channel that gets what a process's fan-out gets for a connection in ``groups``:
    pushes to one of the groups, and pushes to several groups, which go to every process
    (``PROCESSES_GROUP``). Read it with :func:`pushes_received`."""
    channel: str = await layer.new_channel()
    for group in (*groups, PROCESSES_GROUP):
        await layer.group_add(group, channel)
    _member_groups[channel] = frozenset(groups)
    return channel


async def pushes_received(layer: Any, channel: str) -> list[dict[str, Any]]:
    """The push messages waiting on a :func:`join_groups` channel that are for its groups."""
    groups = _member_groups[channel]
    return [
        message
        for message in await received(layer, channel)
        if message.get("group") in groups or groups & set(message.get("groups", ()))
    ]


__all__ = [
    "ORIGIN",
    "ORIGIN_HEADERS",
    "WAIT",
    "WAIT_MS",
    "Client",
    "communicator_for",
    "connected",
    "join_groups",
    "pushes_received",
    "raw_websocket",
    "read_server_frame",
    "read_text_frame",
    "received",
    "ws_connect",
]


class TcpProxy:
    """A TCP proxy on a free port of 127.0.0.1 to ``port``, in the test's event loop.

    :meth:`cut` cuts the network under the connections through it, as a phone switching networks
    does: the client's end is dropped (it sees the connection lost at once), the server's end stays
    open and hears nothing more (the server keeps sending into the void until its heartbeat
    notices). New connections go through.
    """

    def __init__(self, port: int) -> None:
        self.target = port
        self.port = 0
        self._server: asyncio.Server | None = None
        # Per connection: its client and server writers, and whether it still forwards.
        self._links: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter, dict[str, bool]]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def cut(self) -> None:
        for client_w, _, state in self._links:
            state["open"] = False
            client_w.transport.abort()

    async def stop(self) -> None:
        for client_w, server_w, _ in self._links:
            client_w.transport.abort()
            server_w.transport.abort()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target)
        state = {"open": True}
        self._links.append((client_w, server_w, state))

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    if state["open"]:
                        writer.write(data)
                        await writer.drain()
            except ConnectionError:
                pass

        try:
            await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))
        finally:
            client_w.transport.abort()
            server_w.transport.abort()
            self._tasks.discard(task)


class Inbox:
    """A channel in ``group``, as a connection's fan-out would have, read without waiting (from
    sync code: the pushes of sync helpers and ``live_model`` outside an event loop)."""

    def __init__(self, group: str) -> None:
        from asgiref.sync import async_to_sync
        from channels.layers import get_channel_layer

        self.layer = get_channel_layer()
        self.channel = async_to_sync(join_groups)(self.layer, group)

    def frames(self) -> list[dict[str, Any]]:
        """The frames pushed since the last call, in order."""
        from asgiref.sync import async_to_sync

        events = async_to_sync(pushes_received)(self.layer, self.channel)
        return [json.loads(event["text"]) for event in events]
