"""Presence backends against their rules: the in-memory one and Redis (a real redis-server).

No channel layer is involved (the backends talk to Redis themselves), so nothing here runs per
``live_layer``; presence through each layer is in test_presence_live.py.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from django.test import override_settings
from redis.asyncio import Redis

from livepush.presence import MemoryPresence, RedisPresence, backends
from livepush.presence.ids import user_id_from_key, user_id_key, user_ids_from_keys

from .helpers import WAIT

_prefixes = itertools.count()


class Backends:
    """Makes backends of one kind, and lets time pass for them."""

    def __init__(self, kind: str, request: pytest.FixtureRequest) -> None:
        self.kind = kind
        self.request = request
        self.now = 0.0
        self.clients: list[Redis] = []

    def make(self, ttl: float = 30.0, grace: float = 0.0) -> Any:
        if self.kind == "memory":
            return MemoryPresence(ttl, grace, clock=lambda: self.now)
        client = Redis.from_url(self.request.getfixturevalue("redis_server").url)
        self.clients.append(client)
        return RedisPresence(client, f"test:{next(_prefixes)}", ttl, grace)

    async def elapse(self, seconds: float) -> None:
        if self.kind == "memory":
            self.now += seconds
        else:
            # A real server's clock (Redis TIME) must run the lease down.
            await asyncio.sleep(seconds)

    async def until(self, predicate: Callable[[], Awaitable[Any]], what: str) -> Any:
        """``predicate()``, which must be true after :meth:`elapse` ended a lease.

        Against Redis, polled for at most WAIT: Redis's own clock decides when a lease ends, so
        a moment after the wait it may not have ended yet.
        """
        if self.kind == "memory":
            result = await predicate()
            assert result, f"{what} did not happen"
            return result
        deadline = asyncio.get_running_loop().time() + WAIT
        while True:
            result = await predicate()
            if result:
                return result
            assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.05)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def backends_of_a_kind(request):
    made = Backends(request.param, request)
    yield made
    for client in made.clients:
        await client.aclose()


@pytest.fixture
def make_backend(backends_of_a_kind):
    return backends_of_a_kind.make


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


async def test_grace_period_absorbs_a_reload_and_then_expires(backends_of_a_kind):
    backend = backends_of_a_kind.make(grace=0.3)
    assert await backend.connect("1", "page") is True
    assert await backend.disconnect("1", "page") is False  # not yet: grace
    assert await backend.online_user_ids() == ["1"]
    assert await backend.connect("1", "reloaded") is False  # no flap
    assert await backend.disconnect("1", "reloaded") is False
    assert await backend.sweep() == []
    await backends_of_a_kind.elapse(0.3)
    assert await backends_of_a_kind.until(backend.sweep, "the grace period to end") == ["1"]
    assert await backend.sweep() == []
    assert await backend.online_user_ids() == []


async def test_an_entry_nobody_refreshes_expires_exactly_once(backends_of_a_kind):
    backend = backends_of_a_kind.make(ttl=0.3)
    await backend.connect("7", "on-a-dead-server")
    await backends_of_a_kind.elapse(0.3)
    assert await backends_of_a_kind.until(backend.sweep, "the entry to expire") == ["7"]
    assert await backend.sweep() == []
    assert await backend.connection_count("7") == 0


async def test_refresh_keeps_entries_alive(backends_of_a_kind):
    backend = backends_of_a_kind.make(ttl=0.5)
    await backend.connect("7", "alive")
    for _ in range(4):
        await backends_of_a_kind.elapse(0.2)  # the TTL running down is what is tested
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


async def test_a_lapsed_user_is_offline_before_any_sweep(backends_of_a_kind):
    backend = backends_of_a_kind.make(ttl=0.3)
    await backend.connect("9", "on-a-dead-server")
    assert await backend.is_online("9")
    await backends_of_a_kind.elapse(0.3)

    async def offline() -> bool:
        return not await backend.online_user_ids() and not await backend.is_online("9")

    assert await backends_of_a_kind.until(offline, "the lease to lapse")


async def test_connects_and_disconnects_in_one_batch_count_as_one_by_one(make_backend):
    batched, single = make_backend(), make_backend()
    entries = [("1", "a"), ("1", "b"), ("2", "c"), ("1", "a")]  # a second tab, then a reconnect
    expected = [await single.connect(u, c) for u, c in entries]
    assert await batched.connect_many(entries) == expected == [True, False, True, False]
    assert sorted(await batched.online_user_ids()) == ["1", "2"]
    closes = [("1", "a"), ("2", "c"), ("1", "b")]
    expected = [await single.disconnect(u, c) for u, c in closes]
    assert await batched.disconnect_many(closes) == expected == [False, True, True]
    assert await batched.online_user_ids() == []


async def test_connects_arriving_together_are_one_backend_call(settings):
    from livepush import presence

    class Counting(MemoryPresence):
        def __init__(self, ttl: float, grace: float) -> None:
            super().__init__(ttl, grace)
            self.calls: list[list[tuple[str, str]]] = []

        async def connect_many(self, entries: list[tuple[str, str]]) -> list[bool]:
            self.calls.append(entries)
            return await super().connect_many(entries)

    settings.LIVEPUSH = {**settings.LIVEPUSH, "PRESENCE": True, "PRESENCE_GRACE": 0}
    tracker = presence.Tracker()

    class User:
        def __init__(self, pk: int) -> None:
            self.pk = pk

    try:
        with backends.override(Counting(30.0, 0.0)) as backend:
            await asyncio.gather(*(tracker.connect(User(n % 3), f"c{n}") for n in range(9)))
            assert [len(call) for call in backend.calls] == [9]
            assert sorted(await backend.online_user_ids()) == ["0", "1", "2"]
            assert len(tracker.connections) == 9
    finally:
        tracker.stop()


async def test_a_connection_whose_connect_failed_is_never_refreshed(settings):
    from livepush import presence

    class Failing(MemoryPresence):
        async def connect(self, user_id: str, conn_id: str) -> bool:
            raise ConnectionError("Redis went away")

    settings.LIVEPUSH = {**settings.LIVEPUSH, "PRESENCE": True, "PRESENCE_GRACE": 0}
    tracker = presence.Tracker()
    try:

        class User:
            pk = 5

        with backends.override(Failing(30.0, 0.0)), pytest.raises(ConnectionError):
            await tracker.connect(User(), "conn")
        assert tracker.connections == {}
    finally:
        tracker.stop()


@pytest.mark.redis
async def test_a_sync_query_on_the_servers_loop_keeps_its_shared_client(redis_server, settings):
    from asgiref.sync import sync_to_async

    from livepush import presence

    settings.LIVEPUSH = {**settings.LIVEPUSH, "PRESENCE_REDIS_URL": redis_server.url}
    backend = presence.get_backend()
    assert isinstance(backend, RedisPresence)
    try:
        await backend.connect("3", "tab")
        # A sync view under ASGI: sync_to_async thread, whose async_to_sync runs on this loop.
        assert await sync_to_async(presence.is_online)(3) is True
        assert presence.get_backend() is backend
        assert await backend.connection_count("3") == 1  # the client still works
        await backend.disconnect("3", "tab")
    finally:
        await backend.client.aclose()
        backends.reset()


# User ids ---------------------------------------------------------------------------------------


def test_user_ids_come_back_through_the_user_models_primary_key_field():
    # The configured user model (django.contrib.auth's User) has an AutoField.
    assert user_id_key(7) == "7"
    assert user_id_from_key("7") == 7
    assert user_ids_from_keys(["1", "12"]) == [1, 12]


def test_a_string_primary_key_of_digits_stays_a_string():
    # Session's primary key is a CharField: a user model keyed like it keeps "007" and "42" as
    # they are (guessing from isdigit() made them 7 and 42).
    with override_settings(AUTH_USER_MODEL="sessions.Session"):
        assert user_id_from_key("007") == "007"
        assert user_ids_from_keys(["42", "abc"]) == ["42", "abc"]


async def test_queries_events_and_signals_give_the_primary_key_value(settings):
    from livepush import presence

    settings.LIVEPUSH = {**settings.LIVEPUSH, "PRESENCE": True, "PRESENCE_GRACE": 0}
    seen: list[tuple[str, Any]] = []

    async def on_online(sender: Any, user_id: Any, **kwargs: Any) -> None:
        seen.append(("online", user_id))

    async def on_offline(sender: Any, user_id: Any, **kwargs: Any) -> None:
        seen.append(("offline", user_id))

    class User:
        pk = "007"

    presence.user_online.connect(on_online)
    presence.user_offline.connect(on_offline)
    tracker = presence.Tracker()
    try:
        with (
            override_settings(AUTH_USER_MODEL="sessions.Session"),
            backends.override(MemoryPresence(30.0, 0.0)),
        ):
            await tracker.connect(User(), "tab")
            assert await presence.aonline_user_ids() == ["007"]
            assert await presence.ais_online("007")
            await tracker.disconnect(User(), "tab")
    finally:
        tracker.stop()
        presence.user_online.disconnect(on_online)
        presence.user_offline.disconnect(on_offline)
    assert seen == [("online", "007"), ("offline", "007")]
