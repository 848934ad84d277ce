"""Presence through the consumer, in process: memory backend, WebsocketCommunicator.

The window is a minute here, so nothing is pushed until a test flushes the tracker (which runs in
the test's own event loop).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import override_settings

from livepush import presence
from livepush.presence import backends
from livepush.routing import websocket_application
from livepush.tokens import issue_access_token

from .helpers import ORIGIN_HEADERS, WAIT

pytestmark = pytest.mark.django_db(transaction=True)


def audience_from_the_database(user: Any) -> list[Any]:
    """A sync PRESENCE_AUDIENCE callable that uses the ORM, as real ones do."""
    return list(get_user_model().objects.exclude(pk=user.pk).values_list("pk", flat=True))


def audience_of_friends(user: Any) -> list[Any]:
    """A PRESENCE_AUDIENCE callable: tell user ids and a group."""
    return [user.pk, "friends"]


@pytest.fixture(autouse=True)
def presence_on() -> Iterator[None]:
    config = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    live = {
        **settings.LIVEPUSH,
        "PRESENCE": True,
        "PRESENCE_GRACE": 0,
        "PRESENCE_TTL": 30,
        "PRESENCE_WINDOW": 60,
    }
    backends.reset()
    with override_settings(CHANNEL_LAYERS=config, LIVEPUSH=live):
        yield
    backends.reset()


async def connect(user: Any) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(
        websocket_application(),
        "/ws/",
        headers=ORIGIN_HEADERS,
        subprotocols=["livepush", f"livepush.token.{issue_access_token(user)}"],
    )
    assert (await communicator.connect(timeout=WAIT))[0]
    return communicator


def diff(joins: Sequence[Any] = (), leaves: Sequence[Any] = ()) -> dict[str, Any]:
    return {"type": "PRESENCE_DIFF", "data": {"joins": list(joins), "leaves": list(leaves)}}


async def flush() -> None:
    """Push the presence transitions queued so far (the window is a minute here)."""
    await presence.get_tracker().flush()


async def frames_until(communicator: WebsocketCommunicator, type_: str) -> list[dict[str, Any]]:
    frames = []
    while not frames or frames[-1]["type"] != type_:
        frames.append(await communicator.receive_json_from(timeout=WAIT))
    return frames


async def test_connect_snapshot_events_and_signals(db_users):
    alice, bob = db_users["alice"], db_users["bob"]
    seen: list[tuple[str, Any]] = []

    def on_online(sender: Any, user_id: Any, **kwargs: Any) -> None:
        seen.append(("online", user_id))

    async def on_offline(sender: Any, user_id: Any, **kwargs: Any) -> None:
        seen.append(("offline", user_id))

    presence.user_online.connect(on_online)
    presence.user_offline.connect(on_offline)
    try:
        a = await connect(alice)
        # The snapshot comes first; events (her own arrival included) follow it.
        assert await a.receive_json_from(timeout=WAIT) == {
            "type": "PRESENCE_SNAPSHOT",
            "data": {"user_ids": [alice.pk]},
        }
        # The signal is sent at once; the push waits for the window.
        assert seen == [("online", alice.pk)]
        assert await a.receive_nothing(timeout=0.05)
        await flush()
        assert await a.receive_json_from(timeout=WAIT) == diff(joins=[alice.pk])

        b = await connect(bob)
        assert (await frames_until(b, "PRESENCE_SNAPSHOT"))[-1]["data"]["user_ids"] == [
            alice.pk,
            bob.pk,
        ]
        await flush()
        assert await a.receive_json_from(timeout=WAIT) == diff(joins=[bob.pk])
        assert await b.receive_json_from(timeout=WAIT) == diff(joins=[bob.pk])
        assert await presence.aconnection_count(bob.pk) == 1
        assert await presence.ais_online(bob.pk)

        await b.disconnect(timeout=WAIT)
        await flush()
        assert await a.receive_json_from(timeout=WAIT) == diff(leaves=[bob.pk])
        assert not await presence.ais_online(bob.pk)
        assert await presence.aonline_user_ids() == [alice.pk]
        await a.disconnect(timeout=WAIT)
    finally:
        presence.user_online.disconnect(on_online)
        presence.user_offline.disconnect(on_offline)
    assert seen == [
        ("online", alice.pk),
        ("online", bob.pk),
        ("offline", bob.pk),
        ("offline", alice.pk),
    ]


async def test_presence_audience_setting_picks_who_is_told(db_users):
    alice, bob = db_users["alice"], db_users["bob"]
    path = "tests.test_presence_consumer.audience_of_friends"
    with override_settings(
        LIVEPUSH={
            **settings.LIVEPUSH,
            "PRESENCE": True,
            "PRESENCE_GRACE": 0,
            "PRESENCE_AUDIENCE": path,
        }
    ):
        b = await connect(bob)
        await frames_until(b, "PRESENCE_SNAPSHOT")
        a = await connect(alice)
        await frames_until(a, "PRESENCE_SNAPSHOT")
        await flush()
        # One window, one frame per group: each is told of themselves (their user group is in
        # their audience), not of the other, whose audience is themselves and "friends".
        assert await b.receive_json_from(timeout=WAIT) == diff(joins=[bob.pk])
        assert await a.receive_json_from(timeout=WAIT) == diff(joins=[alice.pk])
        await a.disconnect(timeout=WAIT)
        await flush()
        assert await b.receive_nothing(timeout=0.3)
        await b.disconnect(timeout=WAIT)


async def test_presence_off_sends_no_presence_frames(db_users):
    with override_settings(LIVEPUSH={**settings.LIVEPUSH, "PRESENCE": False}):
        a = await connect(db_users["alice"])
        await a.send_json_to({"type": "PING"})
        assert await a.receive_json_from(timeout=WAIT) == {"type": "PONG"}
        await a.disconnect(timeout=WAIT)


async def test_a_sync_audience_may_use_the_orm(db_users):
    alice, bob = db_users["alice"], db_users["bob"]
    path = "tests.test_presence_consumer.audience_from_the_database"
    live = {**settings.LIVEPUSH, "PRESENCE": True, "PRESENCE_GRACE": 0, "PRESENCE_AUDIENCE": path}
    with override_settings(LIVEPUSH=live):
        b = await connect(bob)
        await frames_until(b, "PRESENCE_SNAPSHOT")
        a = await connect(alice)
        await frames_until(a, "PRESENCE_SNAPSHOT")  # her arrival is queued by then
        await flush()
        # Bob is in alice's audience (everyone but her), computed with a query.
        assert await b.receive_json_from(timeout=WAIT) == diff(joins=[alice.pk])
        await a.disconnect(timeout=WAIT)
        await b.disconnect(timeout=WAIT)
