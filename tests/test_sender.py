"""The per-connection sender: order, holding, slow clients, a connection going away."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from livepush._sender import Sender, overflow_count

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


# The backlog's bound ------------------------------------------------------------------------


class Overflow:
    """An ``on_overflow`` that records its calls, as the consumer's closes with 4010."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1


async def test_a_backlog_within_its_bounds_is_sent_in_full_and_in_order():
    socket = Socket()
    overflow = Overflow()
    sender = Sender(socket.send, max_frames=3, max_bytes=30, on_overflow=overflow)
    socket.block()
    for i in range(4):  # one in progress, three queued: at the bound, not past it
        sender.deliver(f"frame {i}")
    assert (sender.backlog, sender.backlog_bytes) == (3, 21)
    socket.drain()
    await settle(sender, socket, 4)
    assert socket.sent == [f"frame {i}" for i in range(4)]
    assert (sender.backlog_bytes, overflow.calls) == (0, 0)


async def test_a_frame_past_the_frame_bound_drops_the_backlog_and_calls_on_overflow_once():
    socket = Socket()
    overflow = Overflow()
    sender = Sender(socket.send, max_frames=2, on_overflow=overflow)
    before = overflow_count()
    socket.block()
    for i in range(4):
        sender.deliver(f"frame {i}")
    assert (sender.backlog, sender.backlog_bytes, overflow.calls) == (0, 0, 1)
    assert overflow_count() == before + 1
    sender.deliver("later")  # ignored: the connection is being closed
    socket.drain()
    await asyncio.sleep(0)
    assert socket.sent == []  # the send in progress was cancelled too
    assert overflow.calls == 1
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def test_the_byte_bound_counts_the_queued_frames_text():
    socket = Socket()
    overflow = Overflow()
    sender = Sender(socket.send, max_bytes=10, on_overflow=overflow)
    socket.block()
    sender.deliver("x" * 100)  # in progress: not in the backlog, not counted
    sender.deliver("y" * 10)
    assert (sender.backlog_bytes, overflow.calls) == (10, 0)
    sender.deliver("z")
    assert (sender.backlog, overflow.calls) == (0, 1)
    sender.close()


async def test_the_bound_applies_while_holding():
    socket = Socket()
    overflow = Overflow()
    sender = Sender(socket.send, max_frames=1, on_overflow=overflow)
    sender.hold()
    sender.deliver("held")
    sender.deliver("one too many")
    assert overflow.calls == 1
    sender.release()
    await asyncio.sleep(0)
    assert socket.sent == []


async def test_an_on_overflow_that_waits_runs_in_a_task_that_close_cancels():
    socket = Socket()
    gate = asyncio.Event()

    async def on_overflow() -> None:
        await gate.wait()

    sender = Sender(socket.send, max_frames=0, on_overflow=on_overflow)
    sender.hold()
    sender.deliver("over")
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert len(pending) == 1
    sender.close()
    await asyncio.gather(*pending, return_exceptions=True)
    assert pending[0].cancelled()


async def test_without_bounds_the_backlog_grows_as_before():
    socket = Socket()
    sender = Sender(socket.send)
    socket.block()
    for i in range(5000):
        sender.deliver(f"frame {i}")
    assert sender.backlog == 4999
    socket.drain()
    await settle(sender, socket, 5000)
    assert socket.sent[-1] == "frame 4999"


async def _until(condition: Any) -> None:
    # The sends and their done callbacks run on this loop: yield to it until they got there.
    # sleep(0) waits for no time; it is the loop turning.
    while not condition():  # noqa: ASYNC110
        await asyncio.sleep(0)


# Positions (recovery) -------------------------------------------------------------------------


async def test_a_positioned_push_at_or_below_the_floor_is_dropped_held_ones_included():
    socket = Socket()
    sender = Sender(socket.send)
    sender.hold()
    sender.deliver_at("user 3", "user_1", 3, "e1")  # live, but the replay will cover it
    sender.deliver("not positioned")
    sender.deliver_at("user 4", "user_1", 4, "e1")
    sender.deliver_at("broadcast 9", "broadcast", 9, "e1")
    sender.set_floors({"user_1": ("e1", 3), "broadcast": ("e1", 0)})
    sender.release()
    sender.deliver_at("user 3 again", "user_1", 3, "e1")
    sender.deliver_at("user 5", "user_1", 5, "e1")
    await settle(sender, socket, 4)
    assert socket.sent == ["not positioned", "user 4", "broadcast 9", "user 5"]


async def test_a_positioned_push_goes_through_the_hook():
    socket = Socket()
    sender = Sender(socket.send)
    seen: list[str] = []

    def hook(text: str) -> None:  # a consumer's livepush_deliver override
        seen.append(text)
        if "secret" not in text:
            sender.deliver(text)

    sender.hook = hook
    sender.set_floors({"user_1": ("e1", 1)})
    for offset, text in enumerate(["dup", "a", "secret b", "c"], start=1):
        sender.deliver_at(text, "user_1", offset, "e1")
    await settle(sender, socket, 2)
    assert seen == ["a", "secret b", "c"]
    assert socket.sent == ["a", "c"]


async def test_a_new_epoch_of_a_stream_starts_its_floor_again():
    # The stream's history was lost (Redis flushed, its meta expired) while connected: the new
    # epoch counts from 1 again, below the old floor, and must get through.
    socket = Socket()
    sender = Sender(socket.send)
    sender.set_floors({"user_1": ("e1", 500)})
    sender.deliver_at("old 500", "user_1", 500, "e1")
    sender.deliver_at("new 1", "user_1", 1, "e2")
    sender.deliver_at("new 1 again", "user_1", 1, "e2")
    sender.deliver_at("new 2", "user_1", 2, "e2")
    await settle(sender, socket, 2)
    assert socket.sent == ["new 1", "new 2"]


async def test_a_closed_sender_holds_nothing_and_overflows_once():
    socket = Socket()
    overflows = []

    async def on_overflow() -> None:
        overflows.append(1)

    sender = Sender(socket.send, max_frames=2, on_overflow=on_overflow)
    sender.hold()
    for offset in range(1, 11):
        sender.deliver_at(f"push {offset}", "user_1", offset, "e1")
    assert sender.backlog == 0
    sender.release()
    await asyncio.sleep(0)
    assert overflows == [1]
    assert socket.sent == []


async def test_a_hook_that_raises_on_release_loses_only_its_own_frame(caplog):
    socket = Socket()
    sender = Sender(socket.send)

    def hook(text: str) -> None:
        if text == "bad":
            raise ValueError("a consumer's livepush_deliver override failed")
        sender.deliver(text)

    sender.hook = hook
    sender.hold()
    for offset, text in enumerate(["a", "bad", "c"], start=1):
        sender.deliver_at(text, "user_1", offset, "e1")
    with caplog.at_level(logging.ERROR, "livepush.sender"):
        sender.release()
    await settle(sender, socket, 2)
    assert socket.sent == ["a", "c"]
    assert "held during the connect failed" in caplog.text
