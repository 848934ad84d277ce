"""Any channels-redis configuration a project already has works, over real daphne: the seed's
plain layer with tuple hosts (a real redis-server), and Redis Sentinel (a real sentinel and the
master it monitors).

With redis-py 8 the seed's configuration used to close idle connections after 5 s (Channels'
per-connection receive died, channels_redis#422). The two layer classes the library is built for,
livepush's RedisChannelLayer and channels-redis's RedisPubSubChannelLayer, run the whole
real-socket suite (``live_layer`` in conftest.py); the seed's layer is the first's base class with
other hosts, so these tests are enough for it.
"""

from __future__ import annotations

import asyncio

import pytest

from .helpers import Client, ws_connect
from .servers import AsgiServer, manage

pytestmark = [pytest.mark.live, pytest.mark.redis]


@pytest.fixture(scope="module")
def layer_env(redis_env):
    return {**redis_env, "LIVEPUSH_TEST_LAYER": "seed"}


@pytest.fixture(scope="module")
def server(layer_env, tmp_path_factory):
    server = AsgiServer(tmp_path_factory.mktemp("seed"), layer_env)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sentinel_env(live_db, redis_sentinel):
    # No LIVEPUSH_TEST_REDIS_URL: the processes find the master through the sentinel only.
    return {
        "LIVEPUSH_TEST_DB": str(live_db[0]),
        "LIVEPUSH_TEST_LAYER": "sentinel",
        "LIVEPUSH_TEST_SENTINEL": redis_sentinel.address,
        "LIVEPUSH_TEST_PRESENCE": "45,3,2",
    }


@pytest.fixture(scope="module")
def sentinel_server(sentinel_env, tmp_path_factory):
    server = AsgiServer(tmp_path_factory.mktemp("sentinel-daphne"), sentinel_env)
    server.start()
    yield server
    server.stop()


def push_to(env: dict[str, str], user_id: int, data: dict) -> None:
    manage(
        env,
        "shell",
        "-c",
        "from livepush import send_ws_message_to_user; "
        f"send_ws_message_to_user({user_id}, 'MESSAGE_CREATED', {data!r})",
    )


async def test_an_idle_connection_stays_open_and_gets_pushes(
    server, layer_env, live_user_ids, token_for
):
    dave = live_user_ids["dave"]
    async with ws_connect(server.url, token=token_for(dave)) as client:
        # Idle past redis-py 8's 5 s socket timeout: the idle time is the point, so it is
        # waited out, not awaited as an event.
        await asyncio.sleep(6.5)
        push_to(layer_env, dave, {"after": "idle"})
        assert await client.recv() == {"type": "MESSAGE_CREATED", "data": {"after": "idle"}}


async def until_joined(client: Client, user_id: int) -> None:
    """Read frames until a ``PRESENCE_DIFF`` says ``user_id`` joined."""
    while True:
        frame = await client.recv()
        if frame["type"] == "PRESENCE_DIFF" and user_id in frame["data"]["joins"]:
            return


async def test_through_sentinel_pushes_and_presence_reach_the_clients(
    sentinel_server, sentinel_env, redis_sentinel, live_user_ids, token_for
):
    alice, bob = live_user_ids["alice"], live_user_ids["bob"]
    async with ws_connect(sentinel_server.url, token=token_for(alice)) as for_alice:
        snapshot = await for_alice.recv()
        assert snapshot["type"] == "PRESENCE_SNAPSHOT"
        assert alice in snapshot["data"]["user_ids"]
        async with ws_connect(sentinel_server.url, token=token_for(bob)) as for_bob:
            snapshot = await for_bob.recv()
            assert snapshot["type"] == "PRESENCE_SNAPSHOT"
            assert {alice, bob} <= set(snapshot["data"]["user_ids"])
            # Bob's join reaches alice through the channel layer.
            await until_joined(for_alice, bob)
            # Another process finds both online and pushes to alice, through the sentinel too.
            out = manage(
                sentinel_env,
                "shell",
                "-c",
                "from livepush import send_ws_message_to_user; "
                "from livepush.presence import is_online; "
                f"print(is_online({alice}), is_online({bob})); "
                f"send_ws_message_to_user({alice}, 'MESSAGE_CREATED', {{'via': 'sentinel'}})",
            )
            assert out.split()[-2:] == ["True", "True"]
            frames = await for_alice.recv_until("MESSAGE_CREATED")
            assert frames[-1] == {"type": "MESSAGE_CREATED", "data": {"via": "sentinel"}}
            # What the processes wrote went to the master the sentinel named.
            reply = redis_sentinel.master.command("ZCARD", "livepush:presence:u")
            assert reply == b":2\r\n", reply


@pytest.fixture(scope="module")
def sentinel_recovery_server(sentinel_env, tmp_path_factory):
    env = {**sentinel_env, "LIVEPUSH_TEST_RECOVERY": "1000"}
    server = AsgiServer(tmp_path_factory.mktemp("sentinel-recovery"), env)
    server.start()
    yield server
    server.stop()


async def test_through_sentinel_a_reconnect_recovers_what_it_missed(
    sentinel_recovery_server, sentinel_env, redis_sentinel, live_user_ids, token_for
):
    import json
    from urllib.parse import quote

    env = {**sentinel_env, "LIVEPUSH_TEST_RECOVERY": "1000"}
    dave = live_user_ids["dave"]
    stream = f"user_{dave}"
    async with ws_connect(sentinel_recovery_server.url, token=token_for(dave)) as client:
        recovery = (await client.recv_until("RECOVERY"))[-1]["data"]
    positions = {s: [p["offset"], p["epoch"]] for s, p in recovery["streams"].items()}
    for n in range(3):
        push_to(env, dave, {"n": n})
    url = f"{sentinel_recovery_server.url}?resume={quote(json.dumps(positions))}"
    async with ws_connect(url, token=token_for(dave)) as client:
        frames = await client.recv_until("RECOVERY")
    replayed = [f["data"] for f in frames if f["type"] == "MESSAGE_CREATED"]
    assert replayed == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert frames[-1]["data"]["recovered"] is True
    # The history is kept on the master the sentinel names.
    assert b":3" in redis_sentinel.master.command("XLEN", f"livepush:history:h:{stream}")
