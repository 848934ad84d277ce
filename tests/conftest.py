from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from livepush.tokens import issue_access_token

from .servers import AsgiServer, RedisServer, create_database, manage

ORIGIN = "http://127.0.0.1"
#: Upper bound for anything a test awaits; never a timing assertion.
WAIT = 15.0


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def live_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    path = tmp_path_factory.mktemp("db") / "live.sqlite3"
    return path, create_database(path)


@pytest.fixture(scope="session")
def users(live_db: tuple[Path, dict[str, int]]) -> dict[str, int]:
    return live_db[1]


@pytest.fixture(scope="session")
def live_env(redis_server: RedisServer, live_db: tuple[Path, dict[str, int]]) -> dict[str, str]:
    """Environment for every process of the live project: same database, same Redis."""
    return {"LIVEPUSH_TEST_DB": str(live_db[0]), "LIVEPUSH_TEST_REDIS_URL": redis_server.url}


@pytest.fixture(scope="session")
def daphne_server(
    live_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AsgiServer]:
    server = AsgiServer(tmp_path_factory.mktemp("daphne"), live_env)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def push_from_other_process(live_env: dict[str, str]):
    """Run Python code in a new ``django-admin shell`` process of the live project."""

    def run(code: str) -> str:
        return manage(live_env, "shell", "-c", code)

    return run


class Client:
    """A real WebSocket client that decodes JSON frames."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def recv(self, *, skip_ping: bool = True) -> dict[str, Any]:
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), WAIT))
            if not (skip_ping and frame.get("type") == "PING"):
                return frame

    async def send(self, frame: Any) -> None:
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def closed_with(self) -> int | None:
        """Wait for the server to close the connection; return its close code."""
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), WAIT)
        except ConnectionClosed:
            pass
        return self.ws.close_code

    async def recv_until(self, type_: str) -> list[dict[str, Any]]:
        """Receive frames up to and including the first of ``type_``; return them all."""
        frames = []
        while True:
            frame = await self.recv()
            frames.append(frame)
            if frame["type"] == type_:
                return frames


@asynccontextmanager
async def ws_connect(
    url: str,
    *,
    token: str | None = None,
    query_token: str | None = None,
    origin: str | None = ORIGIN,
    subprotocols: list[str] | None = None,
) -> AsyncIterator[Client]:
    protocols = list(subprotocols or [])
    if token is not None:
        protocols = ["livepush", f"livepush.token.{token}"]
    if query_token is not None:
        url = f"{url}?accessToken={query_token}"
    async with connect(
        url,
        origin=origin,  # type: ignore[arg-type]
        subprotocols=protocols or None,  # type: ignore[arg-type]
        open_timeout=WAIT,
        max_size=None,
    ) as ws:
        yield Client(ws)


@pytest.fixture
def token_for():
    def make(user_id: int, **kwargs: Any) -> str:
        return issue_access_token(user_id, **kwargs)

    return make


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "playwright is not installed (pip install playwright)"
    if reason is None and not os.path.exists(CHROMIUM):
        reason = "chromium is not installed (apt-get install chromium)"
    if reason is not None:
        if os.environ.get("LIVEPUSH_REQUIRE_BROWSER") == "1":
            pytest.fail(f"LIVEPUSH_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        yield browser
        browser.close()
