"""Any channels-redis configuration a project already has works: the seed's plain layer with
tuple hosts, and channels-redis's pub/sub layer. Real daphne, real redis-server.

With redis-py 8 the seed's configuration used to close idle connections after 5 s (Channels'
per-connection receive died, channels_redis#422), and the pub/sub layer refused every connect
after a process's last connection had left.
"""

from __future__ import annotations

import asyncio

import pytest

from .helpers import ws_connect
from .servers import AsgiServer, manage

pytestmark = [pytest.mark.live, pytest.mark.redis]


@pytest.fixture(scope="module", params=["seed", "pubsub"])
def layer_env(request, live_env):
    return {**live_env, "LIVEPUSH_TEST_LAYER": request.param}


@pytest.fixture(scope="module")
def server(layer_env, tmp_path_factory):
    server = AsgiServer(tmp_path_factory.mktemp(layer_env["LIVEPUSH_TEST_LAYER"]), layer_env)
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


async def test_a_connect_after_the_last_connection_left_works(
    server, layer_env, live_user_ids, token_for
):
    alice, bob = live_user_ids["alice"], live_user_ids["bob"]
    async with ws_connect(server.url, token=token_for(alice)):
        pass  # the process's last connection leaves
    async with (
        ws_connect(server.url, token=token_for(alice)) as for_alice,
        ws_connect(server.url, token=token_for(bob)) as for_bob,
    ):
        push_to(layer_env, bob, {"to": "bob"})
        push_to(layer_env, alice, {"to": "alice"})
        assert await for_alice.recv() == {"type": "MESSAGE_CREATED", "data": {"to": "alice"}}
        assert await for_bob.recv() == {"type": "MESSAGE_CREATED", "data": {"to": "bob"}}
