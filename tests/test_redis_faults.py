"""Redis killed and started again under live connections, Redis down during a push and a
connect, and Redis hung (SIGSTOP: it accepts connections and never replies) during a connect and
a push: daphne processes and a redis-server of this module's own, which the tests SIGKILL and
start again on the same port, or stop and continue. Once per channel layer (``live_layer`` in
conftest.py).

Figures (pushes lost, time to recover, time to fail) are printed, not asserted.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from .helpers import WAIT, Client, ws_connect
from .servers import ROOT, AsgiServer, RedisServer, django_env, manage

pytestmark = [pytest.mark.live, pytest.mark.redis]

#: Presence on, with a 2 s TTL (refreshed every 2/3 s), as in test_presence_live.py.
PRESENCE = {"LIVEPUSH_TEST_PRESENCE": "2,0.3,0.2"}
USERS = ("alice", "bob", "dave")
#: Seconds Redis stays down mid-stream: long enough for pushes to fail and for every receive to
#: notice. The outage itself is the point, so it is waited out, not awaited as an event.
OUTAGE = 1.5

# Pushes MESSAGE_CREATED {"seq": i, "t": wall time} to USERS until the stop file exists; one
# JSON line per push: [seq, pushed (1) or PushError (0), wall time, seconds the call took].
PUSHER = """
import json, os, time
from livepush import PushError, broadcast_ws_message
ids, stop = {ids!r}, {stop!r}
seq = 0
while not os.path.exists(stop):
    seq += 1
    start = time.time()
    try:
        broadcast_ws_message(ids, 'MESSAGE_CREATED', {{'seq': seq, 't': start}})
        ok = 1
    except PushError:
        ok = 0
    print(json.dumps([seq, ok, start, time.time() - start]), flush=True)
    time.sleep(0.05)
"""


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis-faults"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def env(
    redis: RedisServer, live_db: tuple[Path, dict[str, int]], live_layer: str
) -> dict[str, str]:
    return {
        "LIVEPUSH_TEST_DB": str(live_db[0]),
        "LIVEPUSH_TEST_REDIS_URL": redis.url,
        "LIVEPUSH_TEST_LAYER": live_layer,
        **PRESENCE,
    }


@pytest.fixture(scope="module")
def server(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[AsgiServer]:
    server = AsgiServer(tmp_path_factory.mktemp("daphne-faults"), env)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fresh_server(env: dict[str, str], tmp_path: Path) -> Iterator[AsgiServer]:
    """A daphne process of the test's own, which holds no group membership yet.

    For the connects while Redis is down: a process already in a connection's groups lets it
    in without Redis, and one of the module's server could still be in them from the test
    before (a connection whose close it had not handled when Redis was killed).
    """
    server = AsgiServer(tmp_path, env)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_up(redis: RedisServer) -> Iterator[RedisServer]:
    """The module's Redis, running again after the test whatever it did to it."""
    yield redis
    redis.resume()
    if not redis.ping():
        redis.restart()


#: CHANNEL_LAYER_WAIT for the hung-Redis tests, and a socket timeout of none at all: redis-py
#: would wait for a hung Redis forever, so only CHANNEL_LAYER_WAIT can end a connect.
HUNG = {
    "LIVEPUSH_TEST_LIMITS": json.dumps({"CHANNEL_LAYER_WAIT": 1}),
    "LIVEPUSH_TEST_SOCKET_TIMEOUT": "none",
}


@pytest.fixture(scope="module")
def hung_env(env: dict[str, str]) -> dict[str, str]:
    """The module's Redis with :data:`HUNG`, presence off."""
    return {k: v for k, v in env.items() if k not in PRESENCE} | HUNG


@pytest.fixture(scope="module")
def hung_server(
    hung_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AsgiServer]:
    server = AsgiServer(
        tmp_path_factory.mktemp("daphne-hung"), hung_env, settings="tests.project.settings_limits"
    )
    server.start()
    yield server
    server.stop()


async def next_push(client: Client, type_: str = "MESSAGE_CREATED") -> dict[str, Any]:
    """The next frame of ``type_``; presence frames and others are skipped."""
    while (frame := await client.recv())["type"] != type_:
        pass
    return frame


def push(env: dict[str, str], user_id: int, type_: str, data: dict[str, Any]) -> None:
    manage(
        env,
        "shell",
        "-c",
        f"from livepush import send_ws_message_to_user; "
        f"send_ws_message_to_user({user_id}, {type_!r}, {data!r})",
    )


async def pushes_arrive(client: Client, env: dict[str, str], user_id: int) -> None:
    """Push SYSTEM_NOTIFICATIONs until one arrives (those sent before the memberships are back
    are lost), with bounded attempts."""
    for attempt in range(20):
        await asyncio.to_thread(push, env, user_id, "SYSTEM_NOTIFICATION", {"attempt": attempt})
        try:
            await asyncio.wait_for(next_push(client, "SYSTEM_NOTIFICATION"), 1.0)
        except asyncio.TimeoutError:
            continue
        return
    raise AssertionError("no push arrived after Redis came back")


async def is_online(redis: RedisServer, user_id: int) -> bool:
    from redis.asyncio import Redis

    client = Redis.from_url(redis.url)
    try:
        return await client.zscore("livepush:presence:u", str(user_id)) is not None
    finally:
        await client.aclose()


def start_pusher(env: dict[str, str], ids: list[int], stop: Path, out: IO[str]) -> Any:
    """Run :data:`PUSHER` in a ``django-admin shell`` process of its own, writing to ``out``."""
    return subprocess.Popen(
        [sys.executable, "-m", "django", "shell", "-c", PUSHER.format(ids=ids, stop=str(stop))],
        env=django_env(env),
        cwd=ROOT,
        stdout=out,
        stderr=subprocess.STDOUT,
    )


async def test_redis_sigkill_and_restart_mid_stream(
    server, redis_up, env, live_user_ids, token_for, tmp_path
):
    ids = [live_user_ids[name] for name in USERS]
    stop = tmp_path / "stop"
    async with (
        ws_connect(server.url, token=token_for(ids[0])) as a,
        ws_connect(server.url, token=token_for(ids[1])) as b,
        ws_connect(server.url, token=token_for(ids[2])) as c,
    ):
        clients = [a, b, c]
        with (tmp_path / "pushes.jsonl").open("w+") as out:
            pusher = start_pusher(env, ids, stop, out)
            try:
                received: list[set[int]] = [set() for _ in clients]

                async def until(client: Client, seen: set[int], after: float) -> float:
                    """Read pushes until one sent after ``after``; return when it arrived."""
                    while True:
                        data = (await next_push(client))["data"]
                        seen.add(data["seq"])
                        if data["t"] >= after:
                            return time.time()

                # The stream flows to every client.
                await asyncio.gather(
                    *(until(x, s, 0) for x, s in zip(clients, received, strict=True))
                )
                redis_up.kill()
                await asyncio.sleep(OUTAGE)
                redis_up.restart()
                back = time.time()
                arrived = await asyncio.gather(
                    *(until(x, s, back) for x, s in zip(clients, received, strict=True))
                )
            finally:
                stop.touch()
                pusher.wait(WAIT)
            out.seek(0)
            lines = [json.loads(line) for line in out if line.startswith("[")]
        # Every push sent after the stream stopped reaches everyone: nothing is held back.
        for user_id in ids:
            await asyncio.to_thread(push, env, user_id, "SYSTEM_NOTIFICATION", {"end": 1})
        for client, seen in zip(clients, received, strict=True):
            while (frame := await client.recv())["type"] != "SYSTEM_NOTIFICATION":
                if frame["type"] == "MESSAGE_CREATED":
                    seen.add(frame["data"]["seq"])
        # No connection was closed by the server.
        assert [client.ws.close_code for client in clients] == [None, None, None]
        # Presence wrote the users back after the restart emptied Redis.
        deadline = time.monotonic() + WAIT
        while not all([await is_online(redis_up, user_id) for user_id in ids]):
            assert time.monotonic() < deadline, "users not online again after the restart"
            await asyncio.sleep(0.1)  # polling Redis, which has no event to await

    pushed = {seq for seq, ok, _, _ in lines if ok}
    refused = [(seq, took) for seq, ok, _, took in lines if not ok]
    lost = [len(pushed - seen) for seen in received]
    print(
        f"redis restart: {len(lines)} pushes, {len(refused)} refused with PushError while Redis "
        f"was down (slowest {max((t for _, t in refused), default=0):.3f}s), pushed but lost per "
        f"client {lost}; first push after Redis was back arrived after "
        f"{', '.join(f'{t - back:.2f}s' for t in arrived)}"
    )


PUSH_WHILE_DOWN = """
import time
from livepush import PushError, send_ws_message_to_user
start = time.monotonic()
try:
    send_ws_message_to_user({user_id}, 'SYSTEM_NOTIFICATION', {{}})
except PushError as exc:
    cause = exc.__cause__
    print('PushError', type(cause).__module__, type(cause).__name__, time.monotonic() - start)
else:
    print('pushed')
"""


def test_a_push_while_redis_is_down_raises_push_error(redis_up, env, live_user_ids):
    redis_up.kill()
    out = manage(env, "shell", "-c", PUSH_WHILE_DOWN.format(user_id=live_user_ids["bob"]))
    kind, module, cause, took = out.split()[-4:]
    assert (kind, module.split(".")[0], cause) == ("PushError", "redis", "ConnectionError")
    print(f"redis down: a push raised PushError after {float(took):.3f}s")


async def test_a_connect_while_redis_is_down_is_refused_with_4000(
    fresh_server, redis_up, live_user_ids, token_for
):
    redis_up.kill()
    start = time.monotonic()
    async with ws_connect(fresh_server.url, token=token_for(live_user_ids["alice"])) as client:
        assert await client.closed_with() == 4000
    print(f"redis down: a connect was refused with 4000 after {time.monotonic() - start:.2f}s")


async def test_a_connect_while_redis_is_down_succeeds_when_it_comes_back_in_time(
    fresh_server, redis_up, env, live_user_ids, token_for
):
    alice = live_user_ids["alice"]
    redis_up.kill()
    connecting = asyncio.create_task(_connect_and_get_a_push(fresh_server, env, alice, token_for))
    # Redis comes back while the connect waits for it (Fanout.join_timeout, 5 s).
    await asyncio.sleep(0.5)
    redis_up.restart()
    await asyncio.wait_for(connecting, 3 * WAIT)


async def _connect_and_get_a_push(server, env, user_id: int, token_for) -> None:
    async with ws_connect(server.url, token=token_for(user_id)) as client:
        await pushes_arrive(client, env, user_id)
        assert client.ws.close_code is None


async def test_connections_open_during_an_outage_are_not_closed(
    server, redis_up, env, live_user_ids, token_for
):
    dave = live_user_ids["dave"]
    async with ws_connect(server.url, token=token_for(dave)) as client:
        await next_push(client, "PRESENCE_SNAPSHOT")
        redis_up.kill()
        # Long enough for the fan-out's receive, probe and presence refresh to fail.
        await asyncio.sleep(OUTAGE)
        assert client.ws.close_code is None
        redis_up.restart()
        await pushes_arrive(client, env, dave)
        assert client.ws.close_code is None


async def test_a_connect_while_redis_hangs_is_refused_with_4000_at_channel_layer_wait(
    hung_server, redis_up, hung_env, live_user_ids, token_for
):
    alice = live_user_ids["alice"]
    redis_up.pause()
    start = time.monotonic()
    async with ws_connect(hung_server.url, token=token_for(alice)) as client:
        # With no socket timeout, only CHANNEL_LAYER_WAIT (1 s) can end the wait for Redis.
        assert await client.closed_with() == 4000
    print(f"redis hung: a connect was refused with 4000 after {time.monotonic() - start:.2f}s")
    redis_up.resume()
    # The tries cut short did no harm: once Redis answers, a connect opens and gets pushes.
    await _connect_and_get_a_push(hung_server, hung_env, alice, token_for)


def test_a_push_while_redis_hangs_raises_push_error_at_the_socket_timeout(
    redis_up, env, live_user_ids
):
    # A socket timeout of 2 s instead of redis_channel_layer()'s 15, to keep the test short.
    hung = {**env, "LIVEPUSH_TEST_SOCKET_TIMEOUT": "2"}
    redis_up.pause()
    out = manage(hung, "shell", "-c", PUSH_WHILE_DOWN.format(user_id=live_user_ids["bob"]))
    kind, module, cause, took = out.split()[-4:]
    # The socket read timed out: redis-py's TimeoutError, not a refused connection.
    assert (kind, module.split(".")[0], cause) == ("PushError", "redis", "TimeoutError")
    print(f"redis hung: a push raised PushError after {float(took):.3f}s (socket_timeout 2 s)")
