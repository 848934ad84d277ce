"""The process-level fan-out, against the in-memory channel layer."""

from __future__ import annotations

import asyncio

from channels.layers import InMemoryChannelLayer

from livepush._fanout import Fanout
from livepush.protocol import PROCESSES_GROUP

from .helpers import WAIT


class Receiver:
    def __init__(self, fail: bool = False) -> None:
        self.frames: asyncio.Queue[str] = asyncio.Queue()
        self.fail = fail

    def livepush_deliver(self, text: str) -> None:
        if self.fail:
            raise RuntimeError("this connection is broken")
        self.frames.put_nowait(text)


def push(group: str, text: str) -> dict[str, str]:
    return {"type": "livepush.push", "group": group, "text": text}


async def test_one_layer_member_per_group_however_many_connections():
    layer = InMemoryChannelLayer()
    fanout = Fanout(layer)
    receivers = [Receiver() for _ in range(3)]
    await asyncio.gather(*(fanout.join("broadcast", r) for r in receivers))
    try:
        assert list(layer.groups["broadcast"]) == [fanout.channel]
        await layer.group_send("broadcast", push("broadcast", "hello"))
        for receiver in receivers:
            assert await asyncio.wait_for(receiver.frames.get(), WAIT) == "hello"
    finally:
        for receiver in receivers:
            await fanout.leave("broadcast", receiver)
    # The last one out left the group, and the fan-out stopped its tasks.
    assert "broadcast" not in layer.groups
    assert fanout.groups == {}
    assert not fanout.running


async def test_a_receiver_that_raises_does_not_stop_the_others(caplog):
    layer = InMemoryChannelLayer()
    fanout = Fanout(layer)
    broken, healthy = Receiver(fail=True), Receiver()
    await fanout.join("user_1", broken)
    await fanout.join("user_1", healthy)
    try:
        await layer.group_send("user_1", push("user_1", "one"))
        await layer.group_send("user_1", push("user_1", "two"))
        assert await asyncio.wait_for(healthy.frames.get(), WAIT) == "one"
        assert await asyncio.wait_for(healthy.frames.get(), WAIT) == "two"
        assert "Delivering a push" in caplog.text
    finally:
        await fanout.leave("user_1", broken)
        await fanout.leave("user_1", healthy)


async def test_pushes_reach_only_the_members_of_their_group():
    layer = InMemoryChannelLayer()
    fanout = Fanout(layer)
    alice, bob = Receiver(), Receiver()
    await fanout.join("user_1", alice)
    await fanout.join("user_2", bob)
    try:
        await layer.group_send("user_1", push("user_1", "for alice"))
        await layer.group_send("user_2", push("user_2", "for bob"))
        assert await asyncio.wait_for(bob.frames.get(), WAIT) == "for bob"
        assert alice.frames.get_nowait() == "for alice"
        assert alice.frames.empty()
    finally:
        await fanout.leave("user_1", alice)
        await fanout.leave("user_2", bob)


async def test_leave_while_another_joins_keeps_the_group():
    layer = InMemoryChannelLayer()
    fanout = Fanout(layer)
    first, second = Receiver(), Receiver()
    await fanout.join("g", first)
    await asyncio.gather(fanout.leave("g", first), fanout.join("g", second))
    try:
        assert list(layer.groups["g"]) == [fanout.channel]
        await layer.group_send("g", push("g", "still here"))
        assert await asyncio.wait_for(second.frames.get(), WAIT) == "still here"
    finally:
        await fanout.leave("g", second)


async def test_probe_comes_back_while_memberships_hold():
    layer = InMemoryChannelLayer()
    fanout = Fanout(layer)
    member = Receiver()
    await fanout.join("user_1", member)
    try:
        assert await fanout.check_memberships() is True
    finally:
        await fanout.leave("user_1", member)
    assert layer.groups == {}  # the probe group is left with the last group


async def test_lost_memberships_are_noticed_and_joined_again(caplog):
    layer = InMemoryChannelLayer()
    fanout = Fanout(layer)
    fanout.probe_timeout = 0.2  # the in-memory layer answers at once; a lost probe never does
    member = Receiver()
    await fanout.join("user_1", member)
    try:
        await layer.flush()  # what a Redis FLUSHALL or restart does to the memberships
        assert await fanout.check_memberships() is False
        assert "lost this process's group memberships" in caplog.text
        await layer.group_send("user_1", push("user_1", "after the flush"))
        assert await asyncio.wait_for(member.frames.get(), WAIT) == "after the flush"
        assert await fanout.check_memberships() is True
    finally:
        await fanout.leave("user_1", member)


async def test_a_push_to_several_groups_reaches_each_local_member_once():
    layer = InMemoryChannelLayer()
    fanout = Fanout(layer)
    alice, bob, carol = Receiver(), Receiver(), Receiver()
    await fanout.join("user_1", alice)
    await fanout.join("team", alice)  # in two of the target groups
    await fanout.join("user_2", bob)
    await fanout.join("user_3", carol)  # in none of them
    try:
        # What livepush._publish sends for a push to several groups: one message to every
        # process, naming the groups.
        await layer.group_send(
            PROCESSES_GROUP,
            {
                "type": "livepush.push",
                "groups": ["user_1", "team", "user_2", "user_9"],
                "text": "x",
            },
        )
        await layer.group_send("user_3", push("user_3", "marker"))
        assert await asyncio.wait_for(carol.frames.get(), WAIT) == "marker"
        assert [alice.frames.get_nowait(), bob.frames.get_nowait()] == ["x", "x"]
        assert alice.frames.empty()
        assert bob.frames.empty()
    finally:
        for name, member in [
            ("user_1", alice),
            ("team", alice),
            ("user_2", bob),
            ("user_3", carol),
        ]:
            await fanout.leave(name, member)
    assert layer.groups == {}
