"""Bursts of pushes to a server process too busy to read them, against a real redis-server: the
counting group send on its own (``livepush._capacity``), then real daphne with the pushes
published from another process.

channels-redis keeps the messages of all of a server process's channels in one Redis key and
drops, silently, a group message to a key holding ``capacity`` messages (100 by default). Under
the defaults (``redis_channel_layer()``) a burst of 2,000 arrives complete; where a bound must
drop (a tiny capacity set on purpose, or the seed's plain layer at 100), the publishing process
logs it at WARNING and counts it.

The server is made busy by a handler that blocks its event loop until the test lets go
(``TestConsumer.block``), so the whole burst waits in Redis, whatever the machine's speed.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from channels.layers import InMemoryChannelLayer
from channels_redis.core import RedisChannelLayer as PlainRedisChannelLayer
from redis.asyncio import Redis

from livepush import _capacity
from livepush._capacity import dropped_count, group_send
from livepush._publish import push_event
from livepush.layers import RedisChannelLayer

from .helpers import WAIT, Client, ws_connect
from .servers import AsgiServer, manage

pytestmark = [pytest.mark.redis]

BURST = 2000

# Publishes `count` pushes {"seq": i} to one user as fast as one event loop can, then prints
# one JSON line: livepush's count of pushes dropped for capacity, and livepush's WARNING records.
PUBLISHER = """
import asyncio, json, logging
from livepush import asend_ws_message_to_user
from livepush._capacity import dropped_count

warnings = []
class Collect(logging.Handler):
    def emit(self, record):
        warnings.append([record.name, record.getMessage()])
logging.getLogger("livepush").addHandler(Collect(logging.WARNING))

async def main():
    for seq in range({count}):
        await asend_ws_message_to_user({user_id}, "MESSAGE_CREATED", {{"seq": seq}})

asyncio.run(main())
print(json.dumps({{"dropped": dropped_count(), "warnings": warnings}}))
"""


# The counting group send -------------------------------------------------------------------


@pytest.fixture
def fresh_warnings(monkeypatch):
    """No WARNING line about drops was logged lately (they are at most one per interval)."""
    monkeypatch.setattr(_capacity, "_last_warning", float("-inf"))
    monkeypatch.setattr(_capacity, "_unreported", 0)


@pytest.fixture
async def layers(redis_server):
    """A server process's layer, with two channels in group ``g``, and a publisher's layer whose
    process channels hold 3 messages (the capacity is the sender's to apply)."""
    hosts = [("127.0.0.1", redis_server.port)]
    server = RedisChannelLayer(hosts, prefix="cap")
    publisher = RedisChannelLayer(hosts, prefix="cap", channel_capacity={"*!*": 3})
    channels = [await server.new_channel(), await server.new_channel()]
    for channel in channels:
        await server.group_add("g", channel)
    yield server, publisher, channels
    await server.flush()
    await publisher.close_pools()


async def test_a_send_past_capacity_is_counted_and_logged_once_per_interval(
    layers, fresh_warnings, caplog
):
    server, publisher, channels = layers
    before = dropped_count()
    with caplog.at_level("WARNING", logger="livepush.capacity"):
        results = [await group_send(publisher, "g", {"type": "t", "n": n}) for n in range(5)]
    # One Redis key for both channels of the process: the first three fit, each of the next
    # two is one channel-key over capacity.
    assert results == [0, 0, 0, 1, 1]
    assert dropped_count() == before + 2
    [record] = caplog.records  # the second drop came within WARNING_INTERVAL: counted only
    assert record.levelname == "WARNING"
    assert "'g'" in record.getMessage()
    assert "1 of its 2 channel(s) were over capacity" in record.getMessage()
    # Each channel got the three that fit, in order.
    for channel in channels:
        got = [await asyncio.wait_for(server.receive(channel), WAIT) for _ in range(3)]
        assert got == [{"type": "t", "n": n} for n in range(3)]


async def test_the_next_warning_says_how_many_were_dropped_since_the_last(
    layers, fresh_warnings, caplog, monkeypatch
):
    _, publisher, _ = layers
    with caplog.at_level("WARNING", logger="livepush.capacity"):
        for n in range(5):
            await group_send(publisher, "g", {"type": "t", "n": n})
        monkeypatch.setattr(_capacity, "_last_warning", float("-inf"))  # the interval passed
        await group_send(publisher, "g", {"type": "t", "n": 5})
    assert [r.getMessage().split(". ")[-1].split(",")[0] for r in caplog.records] == [
        "1 lost since the last warning",
        "2 lost since the last warning",
    ]


async def test_messages_that_waited_past_expiry_are_counted(layers, redis_server, fresh_warnings):
    server, publisher, channels = layers
    # A message that has waited in the process's key for two minutes, unread.
    key = f"cap{server.non_local_name(channels[0])}"
    client = Redis.from_url(redis_server.url)
    try:
        await client.zadd(key, {b"stale": 1.0})
    finally:
        await client.aclose()
    before = dropped_count()
    assert await group_send(publisher, "g", {"type": "t"}) == 1
    assert dropped_count() == before + 1
    assert await asyncio.wait_for(server.receive(channels[0]), WAIT) == {"type": "t"}


async def test_channels_redis_own_layer_is_counted_too(redis_server, fresh_warnings):
    plain = PlainRedisChannelLayer([("127.0.0.1", redis_server.port)], prefix="plain")
    channel = await plain.new_channel()
    await plain.group_add("g", channel)
    try:
        results = [await group_send(plain, "g", {"type": "t"}) for _ in range(101)]
        assert results == [0] * 100 + [1]  # channels-redis's capacity, 100
    finally:
        await plain.flush()


async def test_other_layers_keep_their_own_group_send():
    layer = InMemoryChannelLayer()
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    assert await group_send(layer, "g", {"type": "t"}) == 0
    assert await layer.receive(channel) == {"type": "t"}


# Over real sockets ---------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["default", "tiny", "seed"])
def layer_env(request, live_env) -> dict[str, str]:
    """The server's and the publisher's layer: ``redis_channel_layer()`` as it comes, the same
    with 10 messages per process channel, and the seed's plain channels-redis layer."""
    extra = {
        "default": {},
        "tiny": {"LIVEPUSH_TEST_PROCESS_CAPACITY": "10"},
        "seed": {"LIVEPUSH_TEST_LAYER": "seed"},
    }[request.param]
    # Exactly these layers, whatever layer the rest of the live suite runs with.
    base = {k: v for k, v in live_env.items() if k != "LIVEPUSH_TEST_LAYER"}
    return {**base, **extra}


@pytest.fixture(scope="module")
def server(layer_env, tmp_path_factory) -> Iterator[AsgiServer]:
    server = AsgiServer(tmp_path_factory.mktemp("capacity"), layer_env)
    server.start()
    yield server
    server.stop()


@asynccontextmanager
async def busy(client: Client) -> AsyncIterator[None]:
    """Block the client's server process's event loop for the duration of the block."""
    loop = asyncio.get_running_loop()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        await client.send({"type": "BLOCK", "data": {"port": listener.getsockname()[1]}})
        # The handler connects right before it blocks: from the accept on, the loop is stuck.
        conn, _ = await asyncio.wait_for(loop.sock_accept(listener), WAIT)
        with conn:
            yield
            await loop.sock_sendall(conn, b"x")


def publish(env: dict[str, str], user_id: int, count: int) -> dict[str, Any]:
    out = manage(env, "shell", "-c", PUBLISHER.format(user_id=user_id, count=count))
    return json.loads(out.strip().splitlines()[-1])


async def end_marker(env: dict[str, str], user_id: int) -> None:
    """Push ``{"end": True}`` through a layer of livepush's defaults: it comes after the burst
    and is not itself dropped."""
    host, _, port = env["LIVEPUSH_TEST_REDIS_URL"].removeprefix("redis://").partition(":")
    layer = RedisChannelLayer([(host, int(port))])
    group = f"user_{user_id}"
    text = json.dumps({"type": "SYSTEM_NOTIFICATION", "data": {"end": True}})
    try:
        await layer.group_send(group, push_event(group, text))
    finally:
        await layer.close_pools()


async def seqs_until_end(client: Client) -> list[int]:
    seqs = []
    while (frame := await client.recv())["type"] != "SYSTEM_NOTIFICATION":
        seqs.append(frame["data"]["seq"])
    return seqs


@pytest.mark.live
async def test_a_burst_to_a_busy_process(server, layer_env, live_user_ids, token_for):
    user_id = live_user_ids["dave"]
    kind = layer_env.get("LIVEPUSH_TEST_LAYER") or (
        "tiny" if "LIVEPUSH_TEST_PROCESS_CAPACITY" in layer_env else "default"
    )
    async with ws_connect(server.url, token=token_for(user_id)) as client:
        async with busy(client):
            result = await asyncio.to_thread(publish, layer_env, user_id, BURST)
        await end_marker(layer_env, user_id)
        seqs = await seqs_until_end(client)
    dropped, warnings = result["dropped"], result["warnings"]
    print(f"{kind}: {len(seqs)} of {BURST} pushes arrived, {dropped} counted as dropped")
    # In order, and every push either arrived or was counted as dropped.
    assert seqs == sorted(seqs)
    assert len(seqs) + dropped == BURST
    if kind == "default":
        assert (seqs, dropped, warnings) == (list(range(BURST)), 0, [])
    else:
        # The process channel held its capacity (10, or channels-redis's 100), plus the one
        # push a receive already waiting in Redis took, less the process's own probe if one was
        # waiting; the rest was dropped, logged and counted.
        capacity = 10 if kind == "tiny" else 100
        assert capacity - 1 <= len(seqs) <= capacity + 1
        assert warnings, "no WARNING for the pushes dropped"
        assert all(name.startswith("livepush") for name, _ in warnings)
        assert "over capacity" in warnings[0][1]
