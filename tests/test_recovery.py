"""Recovery over real sockets: a client that drops gets every push it missed, in order, once, or
is told to refetch. Real daphne, a real redis-server, real WebSocket clients, and a TCP proxy
that cuts the network under a connection (tests/helpers.TcpProxy). Once per channel layer
(``live_layer`` in conftest.py).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import pytest
import redis

from .helpers import Client, TcpProxy, ws_connect
from .servers import AsgiServer, django_env, manage

pytestmark = [pytest.mark.live, pytest.mark.redis]


@pytest.fixture(scope="module")
def env(live_env: dict[str, str]) -> dict[str, str]:
    return {**live_env, "LIVEPUSH_TEST_RECOVERY": "1000"}


@pytest.fixture(scope="module")
def server(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[AsgiServer]:
    server = AsgiServer(tmp_path_factory.mktemp("recovery"), env)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def proxy(server: AsgiServer) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(server.port)
    await proxy.start()
    yield proxy
    await proxy.stop()


def push_script(user_id: int, start: int, count: int) -> str:
    return (
        "from livepush import send_ws_message_to_user\n"
        f"for n in range({start}, {start + count}):\n"
        f"    send_ws_message_to_user({user_id}, 'MESSAGE_CREATED', {{'n': n}})\n"
    )


def push(env: dict[str, str], user_id: int, start: int, count: int) -> None:
    manage(env, "shell", "-c", push_script(user_id, start, count))


@asynccontextmanager
async def connected(url: str, token: str, positions: dict[str, list[Any]] | None = None):
    if positions is not None:
        url = f"{url}?resume={quote(json.dumps(positions))}"
    async with ws_connect(url, token=token) as client:
        yield client


async def until_recovery(client: Client) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The frames before ``RECOVERY``, and its ``data``."""
    frames = await client.recv_until("RECOVERY")
    return frames[:-1], frames[-1]["data"]


def resume_from(recovery: dict[str, Any]) -> dict[str, list[Any]]:
    return {s: [p["offset"], p["epoch"]] for s, p in recovery["streams"].items()}


async def test_a_client_cut_off_while_100_pushes_are_sent_gets_exactly_those_100(
    server, proxy, env, live_user_ids, token_for
):
    dave = live_user_ids["dave"]
    stream = f"user_{dave}"
    async with connected(proxy.url, token_for(dave)) as client:
        replayed, recovery = await until_recovery(client)
        assert replayed == []
        assert recovery["recovered"] is True
        assert set(recovery["streams"]) == {stream, "broadcast", "testers"}
        start = recovery["streams"][stream]["offset"]
        positions = resume_from(recovery)
        proxy.cut()  # the client hears nothing more; the server does not know yet
        push(env, dave, 0, 100)
    # Reconnecting (through the proxy, which passes new connections), it presents its positions.
    async with connected(proxy.url, token_for(dave), positions) as client:
        replayed, recovery = await until_recovery(client)
        assert [f["data"]["n"] for f in replayed] == list(range(100))
        assert [f["pos"]["offset"] for f in replayed] == list(range(start + 1, start + 101))
        assert {f["pos"]["stream"] for f in replayed} == {stream}
        assert recovery["recovered"] is True
        assert recovery["resync"] == []
        assert recovery["streams"][stream]["offset"] == start + 100
        # Then live pushes, after the replay and never a replayed one again.
        push(env, dave, 100, 1)
        live = await client.recv()
        assert live["data"] == {"n": 100}
        assert live["pos"]["offset"] == start + 101


async def test_pushes_from_several_processes_during_the_replay_arrive_once_in_order(
    server, env, live_user_ids, token_for
):
    bob = live_user_ids["bob"]
    stream = f"user_{bob}"
    async with connected(server.url, token_for(bob)) as client:
        _, recovery = await until_recovery(client)
    positions = resume_from(recovery)
    start = positions[stream][0]
    push(env, bob, 0, 100)  # missed while away
    # Two more processes push 50 each while the client reconnects and its replay runs.
    pushers = [
        await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "django", "shell", "-c", push_script(bob, 100 + 50 * k, 50)),
            env=django_env(env),
        )
        for k in range(2)
    ]
    try:
        async with connected(server.url, token_for(bob), positions) as client:
            frames: list[dict[str, Any]] = []
            while len([f for f in frames if f["type"] == "MESSAGE_CREATED"]) < 200:
                frames.append(await client.recv())
            offsets = [f["pos"]["offset"] for f in frames if f["type"] == "MESSAGE_CREATED"]
            assert offsets == list(range(start + 1, start + 201))
            ns = sorted(f["data"]["n"] for f in frames if f["type"] == "MESSAGE_CREATED")
            assert ns == list(range(200))
            assert [f["data"]["recovered"] for f in frames if f["type"] == "RECOVERY"] == [True]
    finally:
        for pusher in pushers:
            assert await asyncio.wait_for(pusher.wait(), 60) == 0


async def test_a_gap_past_the_history_is_a_resync_never_a_silent_loss(
    env, live_user_ids, token_for, tmp_path
):
    small = AsgiServer(tmp_path, {**env, "LIVEPUSH_TEST_RECOVERY": "10"})
    small.start()
    try:
        alice = live_user_ids["alice"]
        stream = f"user_{alice}"
        async with connected(small.url, token_for(alice)) as client:
            _, recovery = await until_recovery(client)
        positions = resume_from(recovery)
        start = positions[stream][0]
        push({**env, "LIVEPUSH_TEST_RECOVERY": "10"}, alice, 0, 20)  # keeps the last 10
        async with connected(small.url, token_for(alice), positions) as client:
            replayed, recovery = await until_recovery(client)
            assert replayed == []
            assert recovery["recovered"] is False
            assert recovery["resync"] == [stream]
            assert recovery["streams"][stream]["offset"] == start + 20
    finally:
        small.stop()


async def test_lost_history_is_a_resync(server, env, redis_server, live_user_ids, token_for):
    dave = live_user_ids["dave"]
    stream = f"user_{dave}"
    async with connected(server.url, token_for(dave)) as client:
        _, recovery = await until_recovery(client)
    positions = resume_from(recovery)
    # Only the history's keys: the channel layer's groups stay.
    client = redis.Redis.from_url(redis_server.url)
    try:
        assert client.delete(f"livepush:history:h:{stream}", f"livepush:history:m:{stream}") == 2
    finally:
        client.close()
    push(env, dave, 0, 3)
    async with connected(server.url, token_for(dave), positions) as client:
        replayed, recovery = await until_recovery(client)
        assert replayed == []
        assert recovery["resync"] == [stream]
        assert recovery["streams"][stream]["epoch"] != positions[stream][1]


async def test_positions_that_are_not_positions_get_an_error_and_a_resync(
    server, live_user_ids, token_for
):
    dave = live_user_ids["dave"]
    async with ws_connect(f"{server.url}?resume=%7Bnope", token=token_for(dave)) as client:
        error = await client.recv()
        assert error["type"] == "ERROR"
        assert error["data"]["code"] == "invalid_resume"
        _, recovery = await until_recovery(client)
        assert sorted(recovery["resync"]) == sorted([f"user_{dave}", "broadcast", "testers"])


async def test_after_its_server_is_killed_a_client_recovers_on_another_server(
    env, live_user_ids, token_for, tmp_path
):
    first, second = AsgiServer(tmp_path, env), AsgiServer(tmp_path, env)
    first.start()
    second.start()
    try:
        alice = live_user_ids["alice"]
        stream = f"user_{alice}"
        async with connected(first.url, token_for(alice)) as client:
            _, recovery = await until_recovery(client)
            positions = resume_from(recovery)
            start = positions[stream][0]
            assert first.proc is not None
            first.proc.send_signal(signal.SIGKILL)  # a crash: no close, no goodbye
            first.proc.wait(10)
            push(env, alice, 0, 100)
            assert await client.closed_with() in (1006, None)
        async with connected(second.url, token_for(alice), positions) as client:
            replayed, recovery = await until_recovery(client)
            assert [f["data"]["n"] for f in replayed] == list(range(100))
            assert [f["pos"]["offset"] for f in replayed] == list(range(start + 1, start + 101))
            assert recovery["recovered"] is True
    finally:
        first.stop()
        second.stop()
