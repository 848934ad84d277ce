"""The process-level fan-out, against the in-memory channel layer."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import InMemoryChannelLayer

from livepush._fanout import Fanout, JoinTimeout
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


class HungLayer(InMemoryChannelLayer):
    """The in-memory layer, with group_add waiting while ``hung`` (a Redis that accepts and never
    replies) and failing at once while ``down``; it counts new channels."""

    def __init__(self) -> None:
        super().__init__()
        self.answering = asyncio.Event()
        self.answering.set()
        self.down = False
        self.new_channels = 0
        #: Set when a group_add is waiting for the layer to answer.
        self.waiting = asyncio.Event()

    def hang(self) -> None:
        self.answering.clear()

    def answer(self) -> None:
        self.answering.set()

    async def new_channel(self, prefix: str = "specific.") -> str:
        self.new_channels += 1
        return await super().new_channel(prefix)

    async def group_add(self, group: str, channel: str) -> None:
        if self.down:
            raise ConnectionError("refused")
        if not self.answering.is_set():
            self.waiting.set()
        await self.answering.wait()
        await super().group_add(group, channel)


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
        # What a Redis FLUSHALL or restart does to the memberships. (Not layer.flush(): the
        # in-memory layer's would also orphan the fan-out's receive, if it is already waiting.)
        for group in list(layer.groups):
            await layer.group_discard(group, fanout.channel)
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


class PositionedReceiver(Receiver):
    def livepush_deliver_at(self, text: str, stream: str, offset: int, epoch: str) -> None:
        self.livepush_deliver(f"{stream}@{offset}")


async def test_with_recovery_a_connection_in_a_stream_and_a_plain_group_gets_the_push_once():
    layer = InMemoryChannelLayer()
    fanout = Fanout(layer)
    alice, bob = PositionedReceiver(), PositionedReceiver()
    await fanout.join("user_1", alice)
    await fanout.join("album_7", alice)  # a get_groups() group that is not a stream
    await fanout.join("album_7", bob)
    fanout.baseline("user_1", 0, "e1")
    try:
        # live_model's audience [owner, "album_7"], recovery on: user_1 is positioned, album_7
        # is not.
        await layer.group_send(
            PROCESSES_GROUP,
            {
                "type": "livepush.push",
                "groups": ["user_1", "album_7"],
                "text": '{"type":"X","data":{}}',
                "pos": [[1, "e1"], None],
            },
        )
        assert await asyncio.wait_for(bob.frames.get(), WAIT) == '{"type":"X","data":{}}'
        assert alice.frames.get_nowait() == "user_1@1"  # with its position
        assert alice.frames.empty()
    finally:
        for name, member in [("user_1", alice), ("album_7", alice), ("album_7", bob)]:
            await fanout.leave(name, member)


async def test_a_join_while_the_layer_hangs_gives_up_at_join_timeout():
    layer = HungLayer()
    fanout = Fanout(layer)
    fanout.join_timeout = 0.2  # the layer never answers: the bound is the point
    member = Receiver()
    layer.hang()
    with pytest.raises(JoinTimeout, match=r"did not answer within 0.2 s"):
        await fanout.join("user_1", member)
    await fanout.leave("user_1", member)
    # Once the layer answers, the next start keeps the channel of the try cut short (which a
    # hung Redis may still carry out) instead of adding a second one to the groups.
    layer.answer()
    await fanout.join("user_1", member)
    try:
        assert layer.new_channels == 1
        await layer.group_send("user_1", push("user_1", "after"))
        assert await asyncio.wait_for(member.frames.get(), WAIT) == "after"
    finally:
        await fanout.leave("user_1", member)


async def test_a_join_queued_behind_a_hung_one_gives_up_at_its_own_deadline():
    layer = HungLayer()
    fanout = Fanout(layer)
    first, second = Receiver(), Receiver()
    fanout.join_timeout = 30.0
    layer.hang()
    stuck = asyncio.ensure_future(fanout.join("g", first))
    await asyncio.wait_for(layer.waiting.wait(), WAIT)
    assert fanout.groups["g"].lock.locked()  # the first join holds it, waiting for the layer
    fanout.join_timeout = 0.2
    with pytest.raises(JoinTimeout):
        await fanout.join("g", second)
    layer.answer()
    await asyncio.wait_for(stuck, WAIT)
    try:
        assert fanout.groups["g"].joined
    finally:
        await fanout.leave("g", first)
        await fanout.leave("g", second)


async def test_a_join_while_the_layer_refuses_retries_then_raises_its_error():
    layer = HungLayer()
    fanout = Fanout(layer)
    fanout.join_timeout, fanout.retry_delay = 0.3, 0.1
    layer.down = True
    with pytest.raises(ConnectionError, match="refused"):
        await fanout.join("g", Receiver())


async def test_a_join_timeout_of_0_makes_one_try_bounded_by_the_layer_alone():
    layer = HungLayer()
    fanout = Fanout(layer)
    fanout.join_timeout = 0
    member = Receiver()
    layer.hang()
    joining = asyncio.ensure_future(fanout.join("g", member))
    await asyncio.wait_for(layer.waiting.wait(), WAIT)  # not cancelled before it even tried
    assert not joining.done()
    layer.answer()
    await asyncio.wait_for(joining, WAIT)
    await fanout.leave("g", member)
