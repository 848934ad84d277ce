"""Any channels-redis configuration a project already has works: here the seed's plain layer
with tuple hosts, over real daphne and a real redis-server.

With redis-py 8 the seed's configuration used to close idle connections after 5 s (Channels'
per-connection receive died, channels_redis#422). The two layer classes the library is built for,
livepush's RedisChannelLayer and channels-redis's RedisPubSubChannelLayer, run the whole
real-socket suite (``live_layer`` in conftest.py); the seed's layer is the first's base class with
other hosts, so these tests are enough for it.
"""

from __future__ import annotations

import asyncio

import pytest

from .helpers import ws_connect
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
