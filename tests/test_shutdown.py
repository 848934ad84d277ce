"""Graceful shutdown over real sockets: SIGTERM to daphne or uvicorn with clients connected."""

from __future__ import annotations

import asyncio
import signal
from contextlib import AsyncExitStack

import pytest

from livepush.checks import check_settings
from livepush.protocol import CloseCode

from .helpers import WAIT, Client, ws_connect
from .servers import LIVE_LAYERS, AsgiServer

pytestmark = [pytest.mark.live]

#: What each server's clients see on SIGTERM: daphne lets the application close only with 1000
#: or 3000-4999, so there the library sends 4012 for 1012.
RESTART_CODES = {
    "daphne": CloseCode.SERVICE_RESTART_APP,
    "uvicorn": CloseCode.SERVICE_RESTART,
}
SERVERS = ["daphne", "uvicorn"]


async def _connect_all(stack: AsyncExitStack, url: str, tokens: list[str]) -> list[Client]:
    clients = [await stack.enter_async_context(ws_connect(url, token=t)) for t in tokens]
    # A round trip each, so every connection is through its connect path.
    for client in clients:
        await client.send({"type": "PING"})
        assert await client.recv() == {"type": "PONG"}
    return clients


def _tokens(live_user_ids, token_for) -> list[str]:
    active = [uid for name, uid in live_user_ids.items() if name != "carol"]  # carol: inactive
    return [token_for(uid) for uid in [*active, *active]]


# The in-memory layer and each Redis layer of the real-socket suite, as explicit parameters (not
# ``live_env``, which would run the in-memory case once per Redis layer); only the Redis cases
# start a redis-server.
LAYERS = ["memory", *(pytest.param(name, marks=pytest.mark.redis) for name in LIVE_LAYERS)]


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("server", SERVERS)
async def test_sigterm_closes_every_connection_with_the_restart_code_then_the_server_exits(
    server, layer, live_db, live_user_ids, token_for, tmp_path, request
):
    env = {"LIVEPUSH_TEST_DB": str(live_db[0])}
    if layer != "memory":
        env = {**request.getfixturevalue("redis_env"), "LIVEPUSH_TEST_LAYER": layer}
    asgi = AsgiServer(tmp_path, env, server=server)
    asgi.start()
    assert asgi.proc is not None
    try:
        async with AsyncExitStack() as stack:
            clients = await _connect_all(stack, asgi.url, _tokens(live_user_ids, token_for))
            asgi.proc.send_signal(signal.SIGTERM)
            codes = await asyncio.gather(*(client.closed_with() for client in clients))
            assert codes == [RESTART_CODES[server]] * len(clients)
        # With Redis too: connections keep no channel-layer receive of their own
        # (livepush._listen), so none can hold the server up.
        returncode = await asyncio.to_thread(asgi.proc.wait, WAIT)
    finally:
        asgi.stop()
    log = asgi.log.read_text()
    # The library closed them (uvicorn would send 1012 on its own, daphne would drop them) and
    # every consumer finished (its disconnect() hook ran) before the server went on stopping.
    expected = f"SIGTERM: closing {len(clients)} connection(s) with {RESTART_CODES[server]:d}"
    assert expected in log, log[-4000:]
    assert "still open after SHUTDOWN_GRACE" not in log, log[-4000:]
    # daphne exits normally; uvicorn re-raises the signal it handled once it has shut down.
    assert returncode in (0, -signal.SIGTERM), log[-4000:]


@pytest.mark.parametrize(
    ("grace", "expected"),
    [(-1, ["livepush.E034"]), (0, []), (2.5, []), (None, []), ("5", ["livepush.E003"])],
)
def test_shutdown_grace_is_checked(settings, grace, expected):
    settings.LIVEPUSH = {**settings.LIVEPUSH, "SHUTDOWN_GRACE": grace}
    settings.DEBUG = True  # no W001 for the in-memory layer
    assert [m.id for m in check_settings()] == expected
