"""Presence over real sockets: two daphne processes sharing one redis-server.

Presence changes arrive as PRESENCE_DIFF frames (the default window, 0.25 s); ``presence_events``
expands them into the per-user events livepush.js makes of them.

The presence TTL is 2 s, the grace period 0.3 s and the sweep interval 0.2 s in these servers,
so expiry happens within the test's patience; the defaults are 45, 3 and 2 seconds.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

import pytest

from .helpers import WAIT, Client, ws_connect
from .servers import AsgiServer

pytestmark = [pytest.mark.live, pytest.mark.redis]

PRESENCE = {"LIVEPUSH_TEST_PRESENCE": "2,0.3,0.2"}
CONNECTED, DISCONNECTED = "USER_PRESENCE_CONNECTED", "USER_PRESENCE_DISCONNECTED"
PRESENCE_TYPES = {CONNECTED, DISCONNECTED}


def _server(live_env, tmp_path_factory, name):
    server = AsgiServer(tmp_path_factory.mktemp(name), {**live_env, **PRESENCE})
    server.start()
    return server


@pytest.fixture(scope="module")
def server_a(live_env, tmp_path_factory):
    server = _server(live_env, tmp_path_factory, "presence-a")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server_b(live_env, tmp_path_factory):
    server = _server(live_env, tmp_path_factory, "presence-b")
    yield server
    server.stop()


def expand(frame: dict[str, Any]) -> list[tuple[str, Any]]:
    """The per-user events of a ``PRESENCE_DIFF``, as livepush.js calls them: leaves, then joins."""
    if frame["type"] != "PRESENCE_DIFF":
        return []
    data = frame["data"]
    return [(DISCONNECTED, u) for u in data["leaves"]] + [(CONNECTED, u) for u in data["joins"]]


async def presence_events(client: Client, user_id: int, until_marker: bool = False) -> Any:
    """Return the next presence event about ``user_id`` (or, with ``until_marker``, every one
    up to the next ``SYSTEM_NOTIFICATION``), read from the ``PRESENCE_DIFF`` frames."""
    events = client.__dict__.setdefault("presence_backlog", [])  # left over from a frame
    found: list[str] = []
    while True:
        while events:
            event, about = events.pop(0)
            if about != user_id:
                continue
            if not until_marker:
                return event
            found.append(event)
        frame = await client.recv()
        if until_marker and frame["type"] == "SYSTEM_NOTIFICATION":
            return found
        events.extend(expand(frame))


@pytest.fixture
def marker(push_from_other_process, live_user_ids):
    """Push a SYSTEM_NOTIFICATION to dave, the observer, from another process."""

    def send() -> None:
        push_from_other_process(
            "from livepush import send_ws_message_to_user; "
            f"send_ws_message_to_user({live_user_ids['dave']}, 'SYSTEM_NOTIFICATION', {{'marker': 1}})"
        )

    return send


async def test_a_new_connection_gets_a_snapshot_with_itself(server_a, live_user_ids, token_for):
    async with ws_connect(server_a.url, token=token_for(live_user_ids["bob"])) as bob:
        frame = await bob.recv()
        while frame["type"] != "PRESENCE_SNAPSHOT":
            frame = await bob.recv()
        assert live_user_ids["bob"] in frame["data"]["user_ids"]


async def test_two_tabs_on_two_servers_one_disconnected_event_for_the_last(
    server_a, server_b, live_user_ids, token_for, marker
):
    alice = live_user_ids["alice"]
    async with ws_connect(server_a.url, token=token_for(live_user_ids["dave"])) as observer:
        async with ws_connect(server_a.url, token=token_for(alice)):
            assert await presence_events(observer, alice) == CONNECTED
            async with ws_connect(server_b.url, token=token_for(alice)):
                pass  # the second tab, on the other server, closes first
        # Only the last close (after the grace period) makes alice offline.
        assert await presence_events(observer, alice) == DISCONNECTED
        marker()
        assert await presence_events(observer, alice, until_marker=True) == []


async def test_redis_flush_is_repaired_by_presence_and_the_fanout(
    server_a, live_user_ids, token_for, redis_server, marker
):
    alice = live_user_ids["alice"]
    async with ws_connect(server_a.url, token=token_for(live_user_ids["dave"])) as observer:
        async with ws_connect(server_a.url, token=token_for(alice)):
            assert await presence_events(observer, alice) == CONNECTED
            assert redis_server.command("FLUSHALL").startswith(b"+OK")
            # Presence: the next refresh finds alice's entry gone and writes it again.
            while not await _is_online(redis_server, alice):  # noqa: ASYNC110
                await asyncio.sleep(0.1)  # polling Redis, which has no event to await
            # The fan-out: its next probe finds its memberships gone and joins its groups
            # again (the pub/sub layer's subscriptions are not data: none is lost). Pushes sent
            # before that are lost, so push until one arrives.
            await _pushes_arrive(observer, marker)
        # alice's leaving reaches the observer (after the CONNECTED the repair may announce).
        while await presence_events(observer, alice) != DISCONNECTED:
            pass


async def _pushes_arrive(observer: Client, marker: Any) -> None:
    for _ in range(20):
        marker()
        try:
            while (await asyncio.wait_for(observer.recv(), 1.0))["type"] != "SYSTEM_NOTIFICATION":
                pass
        except asyncio.TimeoutError:
            continue  # lost: the memberships are not back yet
        return
    raise AssertionError("no push reached the observer after the flush")


async def _is_online(redis_server, user_id: int) -> bool:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_server.url)
    try:
        return await client.zscore("livepush:presence:u", str(user_id)) is not None
    finally:
        await client.aclose()


async def test_rapid_cycles_over_both_servers_end_balanced(
    server_a, server_b, live_user_ids, token_for, marker, redis_server
):
    alice = live_user_ids["alice"]
    token = token_for(alice)
    urls = [server_a.url, server_b.url]
    async with ws_connect(server_a.url, token=token_for(live_user_ids["dave"])) as observer:

        async def cycle(i: int) -> None:
            async with ws_connect(urls[i % 2], token=token):
                pass

        for start in range(0, 200, 20):
            await asyncio.gather(*(cycle(i) for i in range(start, start + 20)))
        # Each diff says what was true when it was sent: the last one says alice is offline.
        events: list[str] = []
        while not (
            events and events[-1] == DISCONNECTED and not await _is_online(redis_server, alice)
        ):
            events.append(await presence_events(observer, alice))
        assert CONNECTED in events
        marker()
        # A window that closed after her last change may repeat it, never contradict it.
        assert set(await presence_events(observer, alice, until_marker=True)) <= {DISCONNECTED}
        assert not await _is_online(redis_server, alice)
        print(f"presence: {len(events)} events about alice over 200 cycles on two servers")


@pytest.fixture
def doomed_server(live_env, tmp_path_factory):
    server = _server(live_env, tmp_path_factory, "presence-doomed")
    yield server
    server.stop()


async def test_sigkill_of_the_server_holding_the_only_connection(
    server_a, doomed_server, live_user_ids, token_for
):
    bob = live_user_ids["bob"]
    async with (
        ws_connect(server_a.url, token=token_for(live_user_ids["dave"])) as observer,
        ws_connect(doomed_server.url, token=token_for(bob)) as doomed,
    ):
        assert await presence_events(observer, bob) == CONNECTED
        killed_at = time.monotonic()
        os.kill(doomed_server.proc.pid, signal.SIGKILL)
        doomed_server.proc.wait(WAIT)
        # The surviving server's sweep notices the entry lapse and says so.
        assert await presence_events(observer, bob) == DISCONNECTED
        detected = time.monotonic() - killed_at
        # Reported, not asserted: the bound is PRESENCE_TTL + PRESENCE_SWEEP_INTERVAL.
        print(f"presence: killed server detected after {detected:.2f}s (TTL 2 s, sweep 0.2 s)")
        assert await doomed.closed_with() == 1006
