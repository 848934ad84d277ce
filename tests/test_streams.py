"""The fan-out's order of a stream's positioned pushes (recovery): in offset order, each once."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from livepush import _streams, history
from livepush._streams import Stream

from .helpers import WAIT


class Member:
    """Records what the fan-out hands it, positioned or not."""

    def __init__(self) -> None:
        self.frames: list[dict] = []
        self.arrived = asyncio.Event()

    def livepush_deliver(self, text: str) -> None:
        self.frames.append(json.loads(text))
        self.arrived.set()

    def livepush_deliver_at(self, text: str, stream: str, offset: int, epoch: str) -> None:
        frame = json.loads(text)
        assert frame["pos"] == {"stream": stream, "offset": offset, "epoch": epoch}
        self.livepush_deliver(text)

    def offsets(self) -> list[int]:
        return [f["pos"]["offset"] for f in self.frames if "pos" in f]


def push(n: int) -> str:
    return json.dumps({"type": "X", "data": {"n": n}})


@pytest.fixture
def member():
    return Member()


@pytest.fixture
def stream(member):
    return Stream("user_1", {member}, gap_wait=0.05)


async def test_pushes_in_order_are_handed_over_at_once_with_their_position(stream, member):
    stream.baseline(0, "e1")  # its member read it: nothing yet
    for n in (1, 2, 3):
        stream.push(push(n), n, "e1")
    assert member.offsets() == [1, 2, 3]
    assert member.frames[0] == {
        "type": "X",
        "data": {"n": 1},
        "pos": {"stream": "user_1", "offset": 1, "epoch": "e1"},
    }


async def test_a_duplicate_is_dropped(stream, member):
    stream.baseline(0, "e1")  # its member read it: nothing yet
    stream.push(push(1), 1, "e1")
    stream.push(push(1), 1, "e1")
    stream.push(push(2), 2, "e1")
    assert member.offsets() == [1, 2]


async def test_out_of_order_pushes_are_put_back_in_order(stream, member):
    stream.baseline(4, "e1")
    stream.push(push(6), 6, "e1")
    stream.push(push(7), 7, "e1")
    assert member.offsets() == []
    stream.push(push(5), 5, "e1")
    assert member.offsets() == [5, 6, 7]


async def test_a_push_that_never_comes_is_read_from_the_history(stream, member):
    memory = history.MemoryHistory(100, 300, 3600)
    positions = [(await memory.append(["user_1"], push(n)))[0] for n in range(1, 5)]
    epoch = positions[0].epoch
    with history.override(memory):
        stream.baseline(0, epoch)
        stream.push(push(1), 1, epoch)
        stream.push(push(3), 3, epoch)  # 2 went missing on the way
        stream.push(push(4), 4, epoch)
        assert member.offsets() == [1]
        while member.offsets() != [1, 2, 3, 4]:
            member.arrived.clear()
            await asyncio.wait_for(member.arrived.wait(), WAIT)
    assert [f["data"]["n"] for f in member.frames] == [1, 2, 3, 4]


async def test_a_push_gone_from_the_history_too_is_counted_and_the_members_told(
    stream, member, caplog
):
    memory = history.MemoryHistory(100, 300, 3600)
    before = _streams.gaps_lost()
    with history.override(memory), caplog.at_level(logging.WARNING, "livepush.fanout"):
        stream.baseline(0, "e1")
        stream.push(push(1), 1, "e1")
        stream.push(push(5), 5, "e1")
        while len(member.frames) < 3:
            member.arrived.clear()
            await asyncio.wait_for(member.arrived.wait(), WAIT)
    assert _streams.gaps_lost() == before + 1
    resync = member.frames[1]
    assert resync["type"] == "RECOVERY"
    assert resync["data"] == {
        "recovered": False,
        "streams": {"user_1": {"offset": 4, "epoch": "e1"}},
        "resync": ["user_1"],
    }
    assert member.offsets() == [1, 5]
    assert "Pushes 2-4 of stream 'user_1'" in caplog.text


async def test_a_new_epoch_tells_the_members_to_refetch_and_starts_over(stream, member):
    stream.baseline(0, "e1")  # its member read it: nothing yet
    stream.push(push(1), 1, "e1")
    stream.push(push(2), 2, "e1")
    stream.push(push(1), 1, "e2")  # Redis was flushed
    assert [f["type"] for f in member.frames] == ["X", "X", "RECOVERY", "X"]
    assert member.frames[2]["data"]["resync"] == ["user_1"]
    assert member.frames[2]["data"]["streams"]["user_1"] == {"offset": 0, "epoch": "e2"}
    assert member.frames[3]["pos"] == {"stream": "user_1", "offset": 1, "epoch": "e2"}


async def test_pushes_before_any_read_wait_for_the_first_baseline(stream, member):
    # A new stream in this process: push 10 (from one server) overtakes push 9 (from another)
    # while its first member's read, which will see 8, is in flight.
    stream.push(push(10), 10, "e1")
    assert member.offsets() == []
    stream.baseline(8, "e1")
    assert member.offsets() == []  # 9 is still missing
    stream.push(push(9), 9, "e1")
    assert member.offsets() == [9, 10]


async def test_the_first_baseline_drops_the_waiting_pushes_its_read_covers(stream, member):
    stream.push(push(5), 5, "e1")
    stream.push(push(6), 6, "e1")
    stream.baseline(5, "e1")  # the reader replays 5 itself
    assert member.offsets() == [6]


async def test_a_later_baseline_does_not_move_a_started_stream(stream, member):
    stream.baseline(8, "e1")
    stream.baseline(10, "e1")  # a later read: 9 and 10 are still on their way to the first reader
    stream.push(push(9), 9, "e1")
    stream.push(push(10), 10, "e1")
    assert member.offsets() == [9, 10]


async def test_with_no_baseline_the_stream_starts_at_its_first_push_after_the_gap_wait(
    stream, member
):
    stream.push(push(3), 3, "e1")  # a member whose history read failed never baselines
    stream.push(push(4), 4, "e1")
    while member.offsets() != [3, 4]:
        member.arrived.clear()
        await asyncio.wait_for(member.arrived.wait(), WAIT)


# Resume (livepush._resume) against the in-memory history: what RECOVERY says on a reconnect ----


class _Held:
    """Just what resume() needs of a connection's sender."""

    def __init__(self) -> None:
        self.floors: dict[str, tuple[str, int]] = {}

    def set_floors(self, floors: dict[str, tuple[str, int]]) -> None:
        self.floors.update(floors)


async def _resume(groups: list[str], query: bytes) -> tuple[list[dict], _Held]:
    from livepush._resume import resume

    sent: list[dict] = []

    async def send(text: str) -> None:
        sent.append(json.loads(text))

    sender = _Held()
    await resume({"query_string": query}, groups, send, sender)  # type: ignore[arg-type]
    return sent, sender


async def test_a_reconnect_puts_the_groups_that_are_not_streams_in_resync(settings):
    settings.LIVEPUSH = {**settings.LIVEPUSH, "RECOVERY": True, "HISTORY_GROUPS": []}
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    memory = history.MemoryHistory(100, 300, 3600)
    groups = ["user_1", "broadcast", "album_3"]  # album_3: a get_groups() group, not kept
    with history.override(memory):
        first, sender = await _resume(groups, b"")
        assert first[-1]["data"]["resync"] == []  # a first connect missed nothing
        epoch = first[-1]["data"]["streams"]["user_1"]["epoch"]
        assert sender.floors["user_1"] == (epoch, 0)
        resume = json.dumps({"user_1": [0, epoch]}).encode()
        again, _ = await _resume(groups, b"resume=" + resume)
    recovery = again[-1]["data"]
    assert recovery["resync"] == ["album_3"]
    assert recovery["recovered"] is False
    assert set(recovery["streams"]) == {"user_1", "broadcast"}
