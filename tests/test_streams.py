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

    def livepush_deliver_at(self, text: str, stream: str, offset: int) -> None:
        frame = json.loads(text)
        assert frame["pos"]["stream"] == stream
        assert frame["pos"]["offset"] == offset
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
    for n in (1, 2, 3):
        stream.push(push(n), n, "e1")
    assert member.offsets() == [1, 2, 3]
    assert member.frames[0] == {
        "type": "X",
        "data": {"n": 1},
        "pos": {"stream": "user_1", "offset": 1, "epoch": "e1"},
    }


async def test_a_duplicate_is_dropped(stream, member):
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
    stream.push(push(1), 1, "e1")
    stream.push(push(2), 2, "e1")
    stream.push(push(1), 1, "e2")  # Redis was flushed
    assert [f["type"] for f in member.frames] == ["X", "X", "RECOVERY", "X"]
    assert member.frames[2]["data"]["resync"] == ["user_1"]
    assert member.frames[2]["data"]["streams"]["user_1"] == {"offset": 0, "epoch": "e2"}
    assert member.frames[3]["pos"] == {"stream": "user_1", "offset": 1, "epoch": "e2"}
