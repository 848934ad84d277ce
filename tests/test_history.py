"""Stream history (recovery): positions assigned once each, and what a reconnecting client missed.

Both backends against the same rules: in memory, and Redis (a real redis-server).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest
from django.test import override_settings
from redis.asyncio import Redis

from livepush.history import MemoryHistory, Position, RedisHistory, is_recoverable

_prefixes = itertools.count()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def make(request):
    clients: list[Redis] = []

    def make(size: int = 100, ttl: float = 300.0, meta_ttl: float = 3600.0) -> Any:
        if request.param == "memory":
            return MemoryHistory(size, ttl, meta_ttl, clock=Clock())
        client = Redis.from_url(request.getfixturevalue("redis_server").url)
        clients.append(client)
        return RedisHistory(client, f"test:h{next(_prefixes)}", size, ttl, meta_ttl)

    yield make
    for client in clients:
        await client.aclose()


async def test_offsets_count_up_by_one_per_push_in_each_stream(make):
    history = make()
    first = await history.append(["user_1", "broadcast"], "a")
    second = await history.append(["user_1"], "b")
    assert [p.offset for p in first] == [1, 1]
    assert second[0] == Position(2, first[0].epoch)


async def test_a_reader_gets_what_came_after_its_position_in_order(make):
    history = make()
    positions = [(await history.append(["user_1"], f"push {n}"))[0] for n in range(5)]
    state = (await history.read({"user_1": positions[1]}))["user_1"]
    assert state.top == positions[4]
    assert state.missed == [(3, "push 2"), (4, "push 3"), (5, "push 4")]
    up_to_date = (await history.read({"user_1": positions[4]}))["user_1"]
    assert up_to_date.missed == []


async def test_a_reader_without_a_position_gets_the_top_and_nothing_to_replay(make):
    history = make()
    await history.append(["user_1"], "x")
    state = await history.read({"user_1": None, "user_2": None})
    assert state["user_1"].top.offset == 1
    assert state["user_1"].missed == []
    # A stream with no push yet has offset 0 and an epoch to hold on to.
    assert state["user_2"].top.offset == 0
    assert state["user_2"].missed == []
    again = (await history.read({"user_2": None}))["user_2"]
    assert again.top == state["user_2"].top


async def test_a_gap_past_the_history_size_is_not_covered(make):
    history = make(size=3)
    start = (await history.append(["user_1"], "0"))[0]
    for n in range(5):
        await history.append(["user_1"], str(n))
    assert (await history.read({"user_1": start}))["user_1"].missed is None
    # Within the size it is.
    top = (await history.read({"user_1": None}))["user_1"].top
    recent = Position(top.offset - 3, top.epoch)
    assert [o for o, _ in (await history.read({"user_1": recent}))["user_1"].missed] == [4, 5, 6]


async def test_another_epoch_is_not_covered(make):
    history = make()
    top = (await history.append(["user_1"], "x"))[0]
    state = (await history.read({"user_1": Position(top.offset, "another")}))["user_1"]
    assert state.missed is None
    assert state.top == top


async def test_a_position_ahead_of_the_stream_is_not_covered(make):
    history = make()
    top = (await history.append(["user_1"], "x"))[0]
    state = (await history.read({"user_1": Position(top.offset + 5, top.epoch)}))["user_1"]
    assert state.missed is None


async def test_lost_metadata_starts_a_new_epoch(make, request):
    history = make()
    top = (await history.append(["user_1"], "x"))[0]
    if isinstance(history, MemoryHistory):
        history.clock.now += history.meta_ttl
    else:
        await history.client.flushall()
    after = (await history.append(["user_1"], "y"))[0]
    assert after.epoch != top.epoch
    assert after.offset == 1
    assert (await history.read({"user_1": top}))["user_1"].missed is None


async def test_pushes_expire_ttl_after_the_last_push():
    clock = Clock()
    history = MemoryHistory(100, 10.0, 3600.0, clock=clock)
    start = (await history.append(["user_1"], "a"))[0]
    await history.append(["user_1"], "b")
    clock.now += 10.0
    state = (await history.read({"user_1": start}))["user_1"]
    assert state.missed is None  # "b" is gone
    assert state.top.offset == 2  # the position lives on


async def test_the_memory_history_forgets_streams_past_their_meta_ttl():
    clock = Clock()
    history = MemoryHistory(100, 10.0, 60.0, clock=clock)
    for n in range(50):
        await history.append([f"user_{n}"], "x")
    clock.now += 60.0
    await history.append(["user_0"], "y")  # any use sweeps: the other 49 are gone
    assert list(history.streams) == ["user_0"]


@pytest.mark.redis
async def test_concurrent_appends_from_two_clients_never_gap_or_repeat(redis_server):
    clients = [Redis.from_url(redis_server.url) for _ in range(2)]
    try:
        histories = [RedisHistory(c, "test:concurrent", 1000, 300, 3600) for c in clients]
        results = await asyncio.gather(
            *(histories[n % 2].append(["user_9", "broadcast"], str(n)) for n in range(200))
        )
        assert sorted(r[0].offset for r in results) == list(range(1, 201))
        assert sorted(r[1].offset for r in results) == list(range(1, 201))
        assert len({r[0].epoch for r in results}) == 1
        # The history holds each push once, in offset order, as appended.
        state = (await histories[0].read({"user_9": Position(0, results[0][0].epoch)}))["user_9"]
        assert state.missed is not None
        by_offset = {r[0].offset: str(n) for n, r in enumerate(results)}
        assert state.missed == sorted(by_offset.items())
    finally:
        for client in clients:
            await client.aclose()


def test_user_groups_and_broadcast_are_recoverable_others_opt_in():
    assert is_recoverable("user_5")
    assert is_recoverable("broadcast")
    assert not is_recoverable("album_3")
    assert not is_recoverable("user_")
    with override_settings(LIVEPUSH={"HISTORY_GROUPS": ["album_*"]}):
        assert is_recoverable("album_3")
        assert not is_recoverable("albums")


# Publishing with recovery on: positions on the channel-layer message, ephemeral types without ---

RECOVERY = {"RECOVERY": True, "EPHEMERAL_TYPES": ["ECHO"]}


async def test_a_push_carries_its_position_in_each_stream_and_is_kept(layer, settings):
    from livepush import abroadcast_ws_message, asend_ws_message_to_user, history

    from .helpers import join_groups, pushes_received

    settings.LIVEPUSH = {**settings.LIVEPUSH, **RECOVERY}
    memory = MemoryHistory(100, 300, 3600)
    channel = await join_groups(layer, "user_1", "user_2")
    with history.override(memory):
        await asend_ws_message_to_user(1, "MESSAGE_CREATED", {"n": 1})
        await abroadcast_ws_message([1, 2, 3], "MESSAGE_CREATED", {"n": 2})
    one, many = await pushes_received(layer, channel)
    epoch = memory.streams["user_1"].epoch
    assert one["pos"] == [1, epoch]
    assert many["groups"] == ["user_1", "user_2", "user_3"]
    assert [p[0] for p in many["pos"]] == [2, 1, 1]
    state = (await memory.read({"user_1": Position(0, epoch)}))["user_1"]
    assert [json.loads(text)["data"] for _, text in state.missed] == [{"n": 1}, {"n": 2}]


async def test_ephemeral_types_and_presence_carry_no_position_and_are_not_kept(layer, settings):
    from livepush import asend_ws_message_to_user, history
    from livepush._publish import publish

    from .helpers import join_groups, pushes_received

    settings.LIVEPUSH = {**settings.LIVEPUSH, **RECOVERY}
    memory = MemoryHistory(100, 300, 3600)
    channel = await join_groups(layer, "user_1")
    with history.override(memory):
        await asend_ws_message_to_user(1, "ECHO", {"n": 1})
        await publish(["user_1"], '{"type":"PRESENCE_DIFF","data":{}}', ephemeral=True)
    received = await pushes_received(layer, channel)
    assert len(received) == 2
    assert all("pos" not in message for message in received)
    assert memory.streams == {}


async def test_reads_in_one_call_give_what_reads_one_by_one_give(make):
    history = make()
    positions = [(await history.append(["user_1", "broadcast"], str(n))) for n in range(4)]
    reads = [
        {"user_1": positions[0][0], "broadcast": None},
        {"user_1": positions[2][0]},
        {"user_1": Position(1, "another")},
        {},
    ]
    assert await history.read_many(reads) == [await history.read(wanted) for wanted in reads]
