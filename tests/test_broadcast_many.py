"""Many users, one publish, across processes: ``broadcast_ws_message`` to 10,000 user ids reaches
each connected one exactly once, 2,000 of them spread over two daphne processes sharing Redis.

The push is one channel-layer message to every process (``livepush.processes``); each process
hands it to its own connections in any of the named groups.
"""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect

from livepush.protocol import SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX
from livepush.tokens import issue_access_token

from .helpers import ORIGIN, WAIT, Client
from .servers import AsgiServer, create_users, manage

pytestmark = [pytest.mark.live, pytest.mark.redis]

CONNECTED = 2000
IDS = 10_000


@pytest.fixture(scope="session")
def many_db(tmp_path_factory):
    # Session-scoped: made once for both layers (pytest runs one layer's tests, then the other's).
    path = tmp_path_factory.mktemp("many") / "many.sqlite3"
    return path, create_users(path, CONNECTED)


@pytest.fixture(scope="module")
def many_env(many_db, live_env):
    path, ids = many_db
    return {**live_env, "LIVEPUSH_TEST_DB": str(path)}, ids


@pytest.fixture(scope="module")
def two_servers(many_env, tmp_path_factory):
    env, _ = many_env
    servers = [
        AsgiServer(tmp_path_factory.mktemp(f"many-{n}"), env, backlog=4096) for n in ("a", "b")
    ]
    for server in servers:
        server.start()
    yield servers
    for server in servers:
        server.stop()


def redis_commands(redis_server) -> int:
    """Commands the redis-server has processed since it started."""
    info = redis_server.command("INFO", "stats").decode()
    return int(info.split("total_commands_processed:")[1].split()[0])


async def test_one_broadcast_to_10000_ids_reaches_each_connected_user_once(
    two_servers, many_env, redis_server
):
    env, ids = many_env

    async def one(index: int, user_id: int) -> Client:
        token = issue_access_token(user_id, lifetime=600)
        ws = await connect(
            two_servers[index % 2].url,
            subprotocols=[SUBPROTOCOL, f"{TOKEN_SUBPROTOCOL_PREFIX}{token}"],
            origin=ORIGIN,
            open_timeout=4 * WAIT,
        )
        return Client(ws)

    # In batches: this test is about the push, not the connect storm (test_storm.py).
    clients: list[Client] = []
    for start in range(0, len(ids), 250):
        batch = ids[start : start + 250]
        clients += await asyncio.gather(*(one(start + i, uid) for i, uid in enumerate(batch)))
    try:
        others = list(range(10**7, 10**7 + IDS - len(ids)))  # ids with no connection
        before = redis_commands(redis_server)
        manage(
            env,
            "shell",
            "-c",
            "from livepush import broadcast_ws_message, send_ws_message_to_all; "
            f"broadcast_ws_message({ids!r} + {others!r}, 'SYSTEM_NOTIFICATION', {{'to': 'many'}}); "
            "send_ws_message_to_all('SYSTEM_NOTIFICATION', {'end': True})",
        )

        async def until_end(client: Client) -> list[dict]:
            frames = []
            while (frame := await client.recv())["data"] != {"end": True}:
                frames.append(frame["data"])
            return frames

        got = await asyncio.gather(*(until_end(c) for c in clients), return_exceptions=True)
        assert len(got) == CONNECTED
        assert [g for g in got if g != [{"to": "many"}]] == []
        # Redis work grows with processes, not users: the two pushes and the processes'
        # receives and probes meanwhile, never one call per user (10,000).
        assert redis_commands(redis_server) - before < 200
    finally:
        await asyncio.gather(*(c.ws.close() for c in clients), return_exceptions=True)
