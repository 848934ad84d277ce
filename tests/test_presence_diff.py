"""Presence transitions coalesced per window into PRESENCE_DIFF frames, one per audience group.

In process: the memory presence backend and the in-memory channel layer, with a channel of the
test's in each group it listens to. The window is a minute unless a test says otherwise, and the
test flushes the tracker itself, so nothing depends on time passing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.test import override_settings

from livepush import presence
from livepush._publish import channel_layer
from livepush.exceptions import PushError
from livepush.presence import backends
from livepush.protocol import PUSH_EVENT_TYPE, encode_presence_diff

from .helpers import WAIT, join_groups, pushes_received


class User:
    def __init__(self, pk: Any) -> None:
        self.pk = pk


async def by_parity(user: User) -> list[str]:
    """A PRESENCE_AUDIENCE: the group of the user's parity, and everyone's."""
    return ["odd" if user.pk % 2 else "even", "all"]


async def two_groups(user: User) -> list[str]:
    return ["one", "two"]


def configure(**extra: Any) -> Any:
    live = {**settings.LIVEPUSH, "PRESENCE": True, "PRESENCE_GRACE": 0, "PRESENCE_WINDOW": 60}
    return override_settings(
        CHANNEL_LAYERS={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
        LIVEPUSH={**live, **extra},
    )


@pytest.fixture
def tracker() -> Iterator[presence.Tracker]:
    tracker = presence.Tracker()
    with configure(), backends.override(presence.MemoryPresence(30.0, 0.0)):
        yield tracker
    tracker.stop()


async def listen(*groups: str) -> str:
    return await join_groups(channel_layer(), *groups)


async def diffs(channel: str) -> list[dict[str, Any]]:
    """The PRESENCE_DIFF data the channel got so far, in order."""
    frames = []
    for message in await pushes_received(channel_layer(), channel):
        assert message["type"] == PUSH_EVENT_TYPE
        frame = json.loads(message["text"])
        assert frame["type"] == "PRESENCE_DIFF"
        frames.append(frame["data"])
    return frames


def diff(joins: Sequence[Any] = (), leaves: Sequence[Any] = ()) -> dict[str, Any]:
    return {"joins": list(joins), "leaves": list(leaves)}


async def test_a_window_of_joins_is_one_frame_and_each_signal_is_sent_at_once(tracker):
    seen: list[Any] = []

    async def on_online(sender: Any, user_id: Any, **kwargs: Any) -> None:
        assert sender is presence.Tracker
        seen.append(user_id)

    presence.user_online.connect(on_online)
    try:
        channel = await listen("broadcast")
        for pk in range(1, 101):
            await tracker.connect(User(pk), f"conn-{pk}")
        assert seen == list(range(1, 101))
        assert await diffs(channel) == []  # the window is still open
        assert tracker.announcer.pending == 100
        await tracker.flush()
        assert await diffs(channel) == [diff(joins=range(1, 101))]
        assert tracker.announcer.frames_sent == 1
        await tracker.flush()  # nothing queued: nothing sent
        assert await diffs(channel) == []
    finally:
        presence.user_online.disconnect(on_online)


async def test_a_second_tab_is_no_transition(tracker):
    channel = await listen("broadcast")
    await tracker.connect(User(1), "tab-1")
    await tracker.connect(User(1), "tab-2")
    await tracker.disconnect(User(1), "tab-1")
    await tracker.flush()
    assert await diffs(channel) == [diff(joins=[1])]


async def test_within_a_window_the_last_state_of_each_user_is_sent(tracker):
    channel = await listen("broadcast")
    await tracker.connect(User(1), "a")
    await tracker.connect(User(2), "b")
    await tracker.flush()
    assert await diffs(channel) == [diff(joins=[1, 2])]
    # 3 comes and goes, 1 goes and comes back, 2 goes: one frame with each one's last state.
    await tracker.connect(User(3), "c")
    await tracker.disconnect(User(3), "c")
    await tracker.disconnect(User(1), "a")
    await tracker.connect(User(1), "a2")
    await tracker.disconnect(User(2), "b")
    await tracker.flush()
    # 1's join and 3's leave change nothing for an observer that kept up, and set right one
    # whose snapshot was read between the two transitions.
    assert await diffs(channel) == [diff(joins=[1], leaves=[3, 2])]
    assert await presence.aonline_user_ids() == [1]


async def test_a_frame_says_what_is_true_when_it_is_sent(tracker):
    channel = await listen("broadcast")
    await tracker.connect(User(1), "a")
    await tracker.connect(User(2), "b")
    # Another process ends 1's connection (its sweep, say) before this window closes.
    await backends.get_backend().disconnect("1", "a")
    await tracker.flush()
    assert await diffs(channel) == [diff(joins=[2], leaves=[1])]


async def test_each_audience_group_gets_one_frame_with_its_users(tracker):
    with configure(PRESENCE_AUDIENCE="tests.test_presence_diff.by_parity"):
        odd, even, everyone = await listen("odd"), await listen("even"), await listen("all")
        broadcast = await listen("broadcast")
        for pk in range(1, 6):
            await tracker.connect(User(pk), f"conn-{pk}")
        await tracker.disconnect(User(4), "conn-4")
        await tracker.flush()
        assert await diffs(odd) == [diff(joins=[1, 3, 5])]
        assert await diffs(even) == [diff(joins=[2], leaves=[4])]
        assert await diffs(everyone) == [diff(joins=[1, 2, 3, 5], leaves=[4])]
        assert await diffs(broadcast) == []
        assert tracker.announcer.frames_sent == 3


async def test_groups_with_the_same_frame_share_one_publish(tracker):
    with configure(PRESENCE_AUDIENCE="tests.test_presence_diff.two_groups"):
        one, two = await listen("one"), await listen("two")
        await tracker.connect(User(1), "a")
        await tracker.connect(User(2), "b")
        await tracker.flush()
        assert await diffs(one) == await diffs(two) == [diff(joins=[1, 2])]
        assert tracker.announcer.frames_sent == 1


async def test_a_user_whose_audience_changed_is_told_to_both(tracker):
    audiences = iter([["first"], ["second"]])

    async def changing(user: User) -> list[str]:
        return next(audiences)

    with configure(PRESENCE_AUDIENCE=changing):
        first, second = await listen("first"), await listen("second")
        await tracker.connect(User(1), "a")
        await tracker.disconnect(User(1), "a")
        await tracker.flush()
        assert await diffs(first) == await diffs(second) == [diff(leaves=[1])]


async def test_the_window_flushes_on_its_own(tracker):
    with configure(PRESENCE_WINDOW=0.05):
        layer = channel_layer()
        channel = await listen("broadcast")
        await tracker.connect(User(1), "a")
        await tracker.connect(User(2), "b")
        message = await asyncio.wait_for(layer.receive(channel), WAIT)
        assert json.loads(message["text"])["data"] == diff(joins=[1, 2])
        # The next transition opens the next window.
        await tracker.disconnect(User(1), "a")
        message = await asyncio.wait_for(layer.receive(channel), WAIT)
        assert json.loads(message["text"])["data"] == diff(leaves=[1])
        assert tracker.announcer.pending == 0


async def test_a_window_of_zero_sends_each_transition_at_once(tracker):
    with configure(PRESENCE_WINDOW=0):
        channel = await listen("broadcast")
        await tracker.connect(User(1), "a")
        await tracker.connect(User(2), "b")
        await tracker.disconnect(User(1), "a")
        assert await diffs(channel) == [diff(joins=[1]), diff(joins=[2]), diff(leaves=[1])]


async def test_flushes_keep_their_order(tracker, monkeypatch):
    from livepush.presence import announcer

    publishing, go_on = asyncio.Event(), asyncio.Event()
    real_publish = announcer.publish

    async def slow(groups: Sequence[str], text: str, *, ephemeral: bool) -> None:
        publishing.set()
        await go_on.wait()
        await real_publish(groups, text, ephemeral=ephemeral)

    monkeypatch.setattr(announcer, "publish", slow)
    channel = await listen("broadcast")
    await tracker.connect(User(1), "a")
    first = asyncio.ensure_future(tracker.flush())
    await publishing.wait()  # the first window is being published
    await tracker.disconnect(User(1), "a")
    second = asyncio.ensure_future(tracker.flush())
    go_on.set()
    await asyncio.gather(first, second)
    assert await diffs(channel) == [diff(joins=[1]), diff(leaves=[1])]


async def test_an_entry_that_is_no_user_id_is_logged_and_skipped(tracker, caplog):
    channel = await listen("broadcast")
    with caplog.at_level(logging.ERROR, logger="livepush.presence"):
        await tracker.announcer.announce(True, "not-a-number", None)
    assert "'not-a-number' is not a user id" in caplog.text
    assert tracker.announcer.pending == 0
    await tracker.flush()
    assert await diffs(channel) == []


async def test_a_failed_publish_is_logged_and_the_next_window_still_goes(
    tracker, caplog, monkeypatch
):
    from livepush.presence import announcer

    async def failing(groups: Sequence[str], text: str, *, ephemeral: bool) -> None:
        raise PushError("Redis went away")

    channel = await listen("broadcast")
    await tracker.connect(User(1), "a")
    with monkeypatch.context() as patch, caplog.at_level(logging.ERROR, "livepush.presence"):
        patch.setattr(announcer, "publish", failing)
        await tracker.flush()
    assert "Could not push PRESENCE_DIFF to 1 group(s)" in caplog.text
    await tracker.connect(User(2), "b")
    await tracker.flush()
    assert await diffs(channel) == [diff(joins=[2])]


def test_uuid_ids_are_encoded_with_the_json_encoder():
    key = uuid.UUID("12345678-1234-5678-1234-567812345678")
    text = encode_presence_diff([key], [], cls=DjangoJSONEncoder)
    assert json.loads(text) == {
        "type": "PRESENCE_DIFF",
        "data": {"joins": [str(key)], "leaves": []},
    }
