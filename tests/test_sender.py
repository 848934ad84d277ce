"""The per-connection sender: order, holding, slow clients, a connection going away."""

from __future__ import annotations

import asyncio
from typing import Any

from livepush._sender import Sender

from .helpers import WAIT


class Socket:
    """An ASGI send whose sends complete at once, or wait until :meth:`drain` when blocked."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.blocked: asyncio.Event | None = None
        #: Frame text -> the error its send raises (the client went away).
        self.failures: dict[str, Exception] = {}

    def block(self) -> None:
        self.blocked = asyncio.Event()

    def drain(self) -> None:
        assert self.blocked is not None
        self.blocked.set()
        self.blocked = None

    async def send(self, message: dict[str, Any]) -> None:
        if message["text"] in self.failures:
            raise self.failures[message["text"]]
        if self.blocked is not None:
            await self.blocked.wait()
        self.sent.append(message["text"])


async def settle(sender: Sender, socket: Socket, count: int) -> None:
    """Wait until ``count`` frames are on the socket and the sender has nothing left."""

    await asyncio.wait_for(_until(lambda: len(socket.sent) >= count and not sender.backlog), WAIT)


async def test_frames_go_out_in_order_and_at_once_when_the_socket_keeps_up():
    socket = Socket()
    sender = Sender(socket.send)
    for i in range(5):
        sender.deliver(f"frame {i}")
    await settle(sender, socket, 5)
    assert socket.sent == [f"frame {i}" for i in range(5)]


async def test_a_send_that_waits_queues_the_rest_in_order():
    socket = Socket()
    sender = Sender(socket.send)
    socket.block()
    sender.deliver("first")
    sender.deliver("second")
    sender.deliver("third")
    await asyncio.sleep(0)
    assert socket.sent == []
    assert sender.backlog == 2  # behind the send in progress
    socket.drain()
    await settle(sender, socket, 3)
    assert socket.sent == ["first", "second", "third"]


async def test_held_frames_go_out_on_release_in_order_after_what_was_sent_before():
    socket = Socket()
    sender = Sender(socket.send)
    sender.hold()
    sender.deliver("held 1")
    sender.deliver("held 2")
    await asyncio.sleep(0)
    assert socket.sent == []
    await socket.send({"text": "snapshot"})  # what the consumer sends while holding
    sender.release()
    sender.deliver("after")
    await settle(sender, socket, 4)
    assert socket.sent == ["snapshot", "held 1", "held 2", "after"]


async def test_a_failed_send_drops_the_backlog_without_raising():
    socket = Socket()
    sender = Sender(socket.send)
    socket.block()
    sender.deliver("stuck")
    sender.deliver("queued")
    sender.deliver("never sent")
    socket.failures["queued"] = ConnectionResetError("client went away")
    socket.drain()  # the stuck send completes; "queued" then fails
    await asyncio.wait_for(_until(lambda: sender.backlog == 0), WAIT)
    assert socket.sent == ["stuck"]
    sender.deliver("later")  # dropped, and never raises into the fan-out
    await asyncio.sleep(0)
    assert socket.sent == ["stuck"]


async def test_close_cancels_the_send_in_progress_and_ignores_later_frames():
    socket = Socket()
    sender = Sender(socket.send)
    socket.block()
    sender.deliver("stuck")
    sender.deliver("queued")
    sender.close()
    assert sender.backlog == 0
    socket.drain()
    sender.deliver("after close")
    await asyncio.sleep(0)
    assert socket.sent == []
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def _until(condition: Any) -> None:
    # The sends and their done callbacks run on this loop: yield to it until they got there.
    # sleep(0) waits for no time; it is the loop turning.
    while not condition():  # noqa: ASYNC110
        await asyncio.sleep(0)
