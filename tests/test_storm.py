"""Connect storms: every client reconnecting at once (after a deploy) is let in, none is closed.

One daphne process, a real redis-server, 2,000 users each connecting once, all at once. The
server's listen backlog is raised (Twisted's default of 50 drops connects); the connects arriving
together are authenticated in batches, share their stale-connection cleanup, and join their
groups through a pool that waits instead of failing. Then one ``broadcast_ws_message`` to 10,000
user ids (the 2,000 connected among them) reaches each connected user exactly once.

Connects are admitted first come, first served, a bounded number at a time, so the first are
accepted first and only the tail waits (before that, every connect of a 2,000 storm progressed
together and all missed daphne's 5 s handshake timeout). ``LIVEPUSH_STORM`` sets the size.

Only with livepush's RedisChannelLayer, not over ``live_layer`` like the rest of the real-socket
suite: the storm is about that layer's waiting pool, and twice the suite's heaviest test would
not pay for itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import time

import pytest
from websockets.asyncio.client import connect

from livepush.protocol import SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX
from livepush.tokens import issue_access_token

from .helpers import ORIGIN, WAIT, Client
from .servers import AsgiServer, cpu_seconds, create_users, manage

pytestmark = [pytest.mark.live, pytest.mark.redis]

STORM = int(os.environ.get("LIVEPUSH_STORM", "2000"))


@pytest.fixture(scope="module")
def storm_env(redis_server, tmp_path_factory):
    path = tmp_path_factory.mktemp("storm") / "storm.sqlite3"
    ids = create_users(path, STORM)
    env = {"LIVEPUSH_TEST_DB": str(path), "LIVEPUSH_TEST_REDIS_URL": redis_server.url}
    return env, ids


#: Clients per storm with presence off and on (``LIVEPUSH_STORM``, ``LIVEPUSH_STORM_PRESENCE``).
#: With presence on, each connect also records itself in Redis (the connects arriving together in
#: one script call) and gets a snapshot of everyone online (the connects waiting together share
#: one query, read as one JSON reply, and one encoding).
#: With recovery on as well, each connect also reads its streams' positions (the connects
#: arriving together in one script call) and gets a RECOVERY frame.
SIZES = {
    "presence-off": STORM,
    "presence-on": min(STORM, int(os.environ.get("LIVEPUSH_STORM_PRESENCE", str(STORM)))),
    "presence-and-recovery-on": min(
        STORM, int(os.environ.get("LIVEPUSH_STORM_PRESENCE", str(STORM)))
    ),
}


@pytest.fixture(scope="module", params=list(SIZES))
def storm_server(request, storm_env, tmp_path_factory):
    env, _ = storm_env
    if request.param != "presence-off":  # the defaults: 45 s TTL, 3 s grace, 2 s sweep
        env = {**env, "LIVEPUSH_TEST_PRESENCE": "45,3,2"}
    if request.param == "presence-and-recovery-on":
        env = {**env, "LIVEPUSH_TEST_RECOVERY": "1000"}
    server = AsgiServer(tmp_path_factory.mktemp("storm-daphne"), env, backlog=4096)
    server.size = SIZES[request.param]
    server.start()
    yield server
    server.stop()


async def test_a_storm_of_connects_refuses_and_closes_no_one(storm_server, storm_env):
    _, all_ids = storm_env
    env = storm_server.env  # the pushing processes have the server's settings
    ids = all_ids[: storm_server.size]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < STORM + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4 * STORM), hard))
    tokens = [issue_access_token(uid, lifetime=600) for uid in ids]
    assert storm_server.proc is not None
    cpu_before = cpu_seconds(storm_server.proc.pid)
    started = time.monotonic()

    async def one(token: str) -> Client:
        ws = await connect(
            storm_server.url,
            subprotocols=[SUBPROTOCOL, f"{TOKEN_SUBPROTOCOL_PREFIX}{token}"],
            origin=ORIGIN,
            open_timeout=4 * WAIT,
        )
        return Client(ws)

    results = await asyncio.gather(*(one(t) for t in tokens), return_exceptions=True)
    refused = [r for r in results if isinstance(r, BaseException)]
    clients = [r for r in results if isinstance(r, Client)]
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(storm_server.proc.pid) - cpu_before
    try:
        assert refused == [], f"{len(refused)} refused, first: {refused[:1]!r}"
        # None was closed after the handshake (a 4000 for a failed join would be): a push to
        # everyone reaches every one of them.
        manage(
            env,
            "shell",
            "-c",
            "from livepush import send_ws_message_to_all; "
            "send_ws_message_to_all('SYSTEM_NOTIFICATION', {'storm': 'over'})",
        )

        async def notified(client: Client) -> tuple[dict, int]:
            presence_frames = 0
            while True:
                frame = await client.recv()
                if frame["type"] == "SYSTEM_NOTIFICATION":
                    return frame["data"], presence_frames
                presence_frames += frame["type"] in ("PRESENCE_SNAPSHOT", "PRESENCE_DIFF")

        got = await asyncio.gather(*(notified(c) for c in clients), return_exceptions=True)
        assert [g for g in got if not isinstance(g, tuple) or g[0] != {"storm": "over"}] == []
        # With presence on, joins come as one PRESENCE_DIFF per PRESENCE_WINDOW (0.25 s) for
        # everyone, not one frame per other user: a storm of some seconds gives each client a few
        # dozen frames at most, where one per other user would be len(ids).
        presence_frames = [count for _, count in got]  # type: ignore[misc]
        assert max(presence_frames) < len(ids) // 10

        # Many users, one publish: every connected user of 10,000 ids (the others have no
        # connection) gets the push exactly once; a push to everyone marks the end.
        manage(
            env,
            "shell",
            "-c",
            "from livepush import broadcast_ws_message, send_ws_message_to_all; "
            f"ids = {ids!r} + list(range(10**7, 10**7 + {10_000 - len(ids)})); "
            "broadcast_ws_message(ids, 'SYSTEM_NOTIFICATION', {'to': 'many'}); "
            "send_ws_message_to_all('SYSTEM_NOTIFICATION', {'end': True})",
        )

        async def until_end(client: Client) -> list[dict]:
            frames = []
            while (frame := await client.recv())["data"] != {"end": True}:
                if frame["type"] == "SYSTEM_NOTIFICATION":  # not a late presence diff
                    frames.append(frame["data"])
            return frames

        got = await asyncio.gather(*(until_end(c) for c in clients), return_exceptions=True)
        assert [g for g in got if g != [{"to": "many"}]] == []
    finally:
        await asyncio.gather(*(c.ws.close() for c in clients), return_exceptions=True)
    # Figures for the record (pytest -s shows them); never asserted.
    figures = {"clients": len(ids), "all_connected_s": round(elapsed, 2), "server_cpu_s": cpu}
    figures["presence_frames_per_client_max"] = max(presence_frames)
    figures["presence_frames_per_client_mean"] = sum(presence_frames) / len(presence_frames)
    print(json.dumps(figures))
