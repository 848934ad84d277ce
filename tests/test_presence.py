"""Presence backends against their rules: the in-memory one and Redis (a real redis-server)."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from redis.asyncio import Redis

from livepush.presence import MemoryPresence, RedisPresence

WAIT = 10.0
_prefixes = itertools.count()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def make_backend(request):
    clients = []

    def make(ttl: float = 30.0, grace: float = 0.0):
        if request.param == "memory":
            return MemoryPresence(ttl, grace)
        client = Redis.from_url(request.getfixturevalue("redis_server").url)
        clients.append(client)
        return RedisPresence(client, f"test:{next(_prefixes)}", ttl, grace)

    yield make
    for client in clients:
        await client.aclose()


async def until(predicate, what: str):
    """Poll ``predicate`` (time passing is what is being tested) until true, for at most WAIT."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while True:
        result = await predicate()
        if result:
            return result
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_online_on_the_first_connection_offline_on_the_last(make_backend):
    backend = make_backend()
    assert await backend.connect("1", "tab-a") is True
    assert await backend.connect("1", "tab-b") is False
    assert await backend.connection_count("1") == 2
    assert await backend.disconnect("1", "tab-a") is False
    assert await backend.online_user_ids() == ["1"]
    assert await backend.disconnect("1", "tab-b") is True
    assert await backend.online_user_ids() == []
    assert await backend.connection_count("1") == 0


async def test_grace_period_absorbs_a_reload_and_then_expires(make_backend):
    backend = make_backend(grace=0.3)
    assert await backend.connect("1", "page") is True
    assert await backend.disconnect("1", "page") is False  # not yet: grace
    assert await backend.online_user_ids() == ["1"]
    assert await backend.connect("1", "reloaded") is False  # no flap
    assert await backend.disconnect("1", "reloaded") is False
    assert await until(backend.sweep, "the grace period to end") == ["1"]
    assert await backend.sweep() == []
    assert await backend.online_user_ids() == []


async def test_an_entry_nobody_refreshes_expires_exactly_once(make_backend):
    backend = make_backend(ttl=0.3)
    await backend.connect("7", "on-a-dead-server")
    assert await until(backend.sweep, "the entry to expire") == ["7"]
    assert await backend.sweep() == []
    assert await backend.connection_count("7") == 0


async def test_refresh_keeps_entries_alive(make_backend):
    backend = make_backend(ttl=0.5)
    await backend.connect("7", "alive")
    for _ in range(4):
        await asyncio.sleep(0.2)  # the TTL running down is what is tested
        assert await backend.refresh([("7", "alive")]) == []
        assert await backend.sweep() == []
    assert await backend.online_user_ids() == ["7"]


async def test_refresh_racing_a_disconnect_cannot_resurrect_it(make_backend):
    backend = make_backend()
    await backend.connect("1", "closed")
    assert await backend.disconnect("1", "closed") is True
    assert await backend.refresh([("1", "closed")]) == []
    assert await backend.online_user_ids() == []
    assert await backend.connection_count("1") == 0


@pytest.mark.redis
async def test_refresh_recreates_entries_after_a_flush(redis_server):
    client = Redis.from_url(redis_server.url)
    backend = RedisPresence(client, f"test:{next(_prefixes)}", 30.0, 0.0)
    try:
        await backend.connect("1", "tab")
        await client.flushall()
        assert await backend.online_user_ids() == []
        assert await backend.refresh([("1", "tab")]) == ["1"]
        assert await backend.online_user_ids() == ["1"]
        assert await backend.connection_count("1") == 1
    finally:
        await client.aclose()


@pytest.mark.redis
async def test_concurrent_cycles_from_two_clients_stay_balanced(redis_server):
    prefix = f"test:{next(_prefixes)}"
    clients = [Redis.from_url(redis_server.url) for _ in range(2)]
    backends = [RedisPresence(c, prefix, 30.0, 0.0) for c in clients]
    try:

        async def cycle(i: int) -> tuple[bool, bool]:
            backend = backends[i % 2]
            came = await backend.connect("1", f"c{i}")
            went = await backend.disconnect("1", f"c{i}")
            return came, went

        results = await asyncio.gather(*(cycle(i) for i in range(200)))
        online_events = sum(came for came, _ in results)
        offline_events = sum(went for _, went in results)
        assert online_events == offline_events >= 1
        assert await backends[0].online_user_ids() == []
        assert await backends[1].connection_count("1") == 0
    finally:
        for client in clients:
            await client.aclose()


async def test_a_lapsed_user_is_offline_before_any_sweep(make_backend):
    backend = make_backend(ttl=0.3)
    await backend.connect("9", "on-a-dead-server")
    assert await backend.is_online("9")

    async def offline() -> bool:
        return not await backend.online_user_ids() and not await backend.is_online("9")

    assert await until(offline, "the lease to lapse")


async def test_a_connection_whose_connect_failed_is_never_refreshed(settings):
    from livepush import presence

    class Failing(MemoryPresence):
        async def connect(self, user_id: str, conn_id: str) -> bool:
            raise ConnectionError("Redis went away")

    settings.LIVEPUSH = {**settings.LIVEPUSH, "PRESENCE": True, "PRESENCE_GRACE": 0}
    presence._memory = Failing(float(settings.LIVEPUSH["PRESENCE_TTL"]), 0.0)
    tracker = presence.Tracker()
    try:

        class User:
            pk = 5

        with pytest.raises(ConnectionError):
            await tracker.connect(User(), "conn")
        assert tracker.connections == {}
    finally:
        tracker.stop()
        presence._memory = None


@pytest.mark.redis
async def test_a_sync_query_on_the_servers_loop_keeps_its_shared_client(redis_server, settings):
    from asgiref.sync import sync_to_async

    from livepush import presence

    settings.LIVEPUSH = {**settings.LIVEPUSH, "PRESENCE_REDIS_URL": redis_server.url}
    backend = presence.get_backend()
    await backend.connect("3", "tab")
    # A sync view under ASGI: sync_to_async thread, whose async_to_sync runs on this loop.
    assert await sync_to_async(presence.is_online)(3) is True
    assert presence.get_backend() is backend
    assert await backend.connection_count("3") == 1  # the client still works
    await backend.disconnect("3", "tab")
    await backend.client.aclose()
