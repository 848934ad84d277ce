"""The channels-redis trap and its fix, against a real redis-server.

About livepush.layers itself (and plain channels-redis beside it), in process: not run per
``live_layer``, which picks the layer of the live servers.
"""

from __future__ import annotations

import asyncio

import pytest
import redis
from channels_redis.core import RedisChannelLayer as PlainRedisChannelLayer

from livepush.layers import (
    DEFAULT_POOL_TIMEOUT,
    DEFAULT_PROCESS_CAPACITY,
    DEFAULT_SOCKET_TIMEOUT,
    PROCESS_CHANNELS,
    RedisChannelLayer,
    normalize_hosts,
    redis_channel_layer,
)

from .helpers import WAIT

REDIS_MAJOR = int(redis.__version__.split(".")[0])


def test_normalize_hosts_accepts_every_channels_redis_form_and_keeps_given_values():
    hosts = normalize_hosts(
        [("redis", 6379), "redis://cache:6380/1", {"address": "redis://x", "socket_timeout": 3}]
    )
    assert hosts[0]["host"] == "redis"
    assert hosts[0]["port"] == 6379
    assert hosts[1]["address"] == "redis://cache:6380/1"
    assert all(h["socket_timeout"] for h in hosts)
    assert hosts[0]["socket_timeout"] == DEFAULT_SOCKET_TIMEOUT > 5
    assert hosts[2]["socket_timeout"] == 3  # the caller's value wins


def test_normalize_hosts_gives_sentinel_hosts_timeouts_and_pool_options():
    sentinel = {"master_name": "mymaster", "sentinels": [("s1", 26379)], "max_connections": 7}
    (host,) = normalize_hosts([sentinel])
    assert host["socket_timeout"] == DEFAULT_SOCKET_TIMEOUT
    assert host["timeout"] == DEFAULT_POOL_TIMEOUT
    assert host["max_connections"] == 7
    assert host["sentinels"] == [("s1", 26379)]


def test_normalize_hosts_refuses_a_bare_string():
    with pytest.raises(TypeError, match=r"\['redis://localhost:6379'\]"):
        normalize_hosts("redis://localhost:6379")


def test_redis_channel_layer_builds_a_channel_layers_entry():
    entry = redis_channel_layer([("localhost", 6379)], prefix="app", capacity=500)
    assert entry["BACKEND"] == "livepush.layers.RedisChannelLayer"
    assert entry["CONFIG"]["prefix"] == "app"
    assert entry["CONFIG"]["capacity"] == 500
    assert entry["CONFIG"]["hosts"][0]["socket_timeout"] == DEFAULT_SOCKET_TIMEOUT


def test_process_channels_hold_a_burst():
    layer = RedisChannelLayer([("localhost", 6379)])
    assert layer.get_capacity(f"specific.{layer.client_prefix}!abc") == DEFAULT_PROCESS_CAPACITY
    assert layer.get_capacity("a-general-channel") == 100
    # channels-redis's own layer: 100 for every channel.
    plain = PlainRedisChannelLayer([("localhost", 6379)])
    assert plain.get_capacity(f"specific.{plain.client_prefix}!abc") == 100


@pytest.mark.parametrize(
    "config",
    [
        {"capacity": 500},
        {"channel_capacity": {PROCESS_CHANNELS: 500}},
        {"channel_capacity": {"specific.*": 500}},
        {"channel_capacity": {"specific.*": 500, PROCESS_CHANNELS: 7}},
        {"capacity": 7, "channel_capacity": {"specific.*": 500}},
    ],
)
def test_a_capacity_given_for_process_channels_wins(config):
    layer = RedisChannelLayer([("localhost", 6379)], **config)
    assert layer.get_capacity(f"specific.{layer.client_prefix}!abc") == 500


@pytest.mark.redis
async def test_idle_receive_dies_with_plain_channels_redis_and_survives_with_livepush(
    redis_server, redis_sentinel
):
    host = [("127.0.0.1", redis_server.port)]
    plain = PlainRedisChannelLayer(hosts=host)
    fixed = RedisChannelLayer(hosts=host)
    # Through a Sentinel, the master's connections need the longer timeout too.
    sentinel = RedisChannelLayer(hosts=[redis_sentinel.host])
    plain_channel = await plain.new_channel()
    fixed_channel = await fixed.new_channel()
    sentinel_channel = await sentinel.new_channel()
    plain_receive = asyncio.ensure_future(plain.receive(plain_channel))
    fixed_receive = asyncio.ensure_future(fixed.receive(fixed_channel))
    sentinel_receive = asyncio.ensure_future(sentinel.receive(sentinel_channel))
    receives = (plain_receive, fixed_receive, sentinel_receive)
    try:
        # Idle for longer than redis-py 8's 5 s socket timeout: the duration is the test.
        await asyncio.sleep(6.5)
        if REDIS_MAJOR >= 8:
            # The trap this module exists for (django/channels_redis#422).
            assert plain_receive.done()
            assert isinstance(plain_receive.exception(), redis.exceptions.TimeoutError)
        assert not fixed_receive.done()
        assert not sentinel_receive.done()
        await fixed.send(fixed_channel, {"type": "after.idle"})
        await sentinel.send(sentinel_channel, {"type": "after.idle", "via": "sentinel"})
        assert await asyncio.wait_for(fixed_receive, WAIT) == {"type": "after.idle"}
        expected = {"type": "after.idle", "via": "sentinel"}
        assert await asyncio.wait_for(sentinel_receive, WAIT) == expected
    finally:
        for task in receives:
            task.cancel()
        await asyncio.gather(*receives, return_exceptions=True)
        await plain.flush()
        for layer in (fixed, plain, sentinel):
            await layer.close_pools()


@pytest.mark.redis
async def test_a_burst_through_sentinel_waits_for_pooled_connections_instead_of_failing(
    redis_sentinel,
):
    # channels-redis's SentinelConnectionPool is a plain ConnectionPool: MaxConnectionsError
    # past max_connections, like the tuple hosts before the fix.
    layer = RedisChannelLayer(hosts=[{**redis_sentinel.host, "max_connections": 2}], prefix="s")
    channels = [await layer.new_channel() for _ in range(200)]
    try:
        await asyncio.gather(*(layer.group_add("burst", c) for c in channels))
        await layer.group_send("burst", {"type": "hello"})
        received = await asyncio.gather(*(layer.receive(c) for c in channels[:5]))
        assert received == [{"type": "hello"}] * 5
        # Through the sentinel to its master: the group is a key there.
        assert redis_sentinel.master.command("EXISTS", "s:group:burst").startswith(b":1")
    finally:
        await layer.flush()
        await layer.close_pools()


@pytest.mark.redis
async def test_a_burst_of_group_adds_waits_for_pooled_connections_instead_of_failing(redis_server):
    hosts = [{"address": redis_server.url, "max_connections": 2}]
    fixed = RedisChannelLayer(hosts=hosts, prefix="burst-fixed")
    channels = [await fixed.new_channel() for _ in range(200)]
    try:
        await asyncio.gather(*(fixed.group_add("burst", c) for c in channels))
        await fixed.group_send("burst", {"type": "hello"})
        received = await asyncio.gather(*(fixed.receive(c) for c in channels[:5]))
        assert received == [{"type": "hello"}] * 5
    finally:
        await fixed.flush()
        await fixed.close_pools()

    if REDIS_MAJOR >= 8:
        plain = PlainRedisChannelLayer(hosts=hosts, prefix="burst-plain")
        plain_channels = [await plain.new_channel() for _ in range(200)]
        try:
            results = await asyncio.gather(
                *(plain.group_add("burst", c) for c in plain_channels), return_exceptions=True
            )
            assert any(isinstance(r, redis.exceptions.MaxConnectionsError) for r in results)
        finally:
            await plain.flush()
            await plain.close_pools()
