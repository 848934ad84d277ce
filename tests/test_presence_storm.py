"""A connect storm with presence on: each client gets a bounded number of presence frames.

STORM_USERS distinct users connect at once to one daphne process (in-memory channel layer and
presence, so the storm measures presence, not the Redis pool; hence not per ``live_layer``). With
the default audience every join goes to everyone; one frame per window carries all of them, so a
client gets at most one PRESENCE_DIFF per window, however many users connect: at most
``elapsed / PRESENCE_WINDOW + 2`` frames in ``elapsed`` seconds (windows are at least
PRESENCE_WINDOW apart, +1 for the window open at the start, +1 for the timer's clock resolution).
Before, each client got one frame per other user: STORM_USERS frames.

The same storm runs with presence off; the time to all-connected and the server's CPU time of
both are printed (measured, not asserted).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from livepush.tokens import issue_access_token

from .helpers import Client, ws_connect
from .servers import AsgiServer, cpu_seconds, create_database, manage

pytestmark = pytest.mark.live

STORM_USERS = int(os.environ.get("LIVEPUSH_STORM_USERS", "400"))
WINDOW = 0.25  # PRESENCE_WINDOW's default, which the test project keeps


@pytest.fixture(scope="module")
def storm_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int]]:
    path = tmp_path_factory.mktemp("storm") / "storm.sqlite3"
    create_database(path)
    script = (
        "from django.contrib.auth import get_user_model; U = get_user_model(); "
        f"U.objects.bulk_create([U(username=f'storm{{i}}') for i in range({STORM_USERS})]); "
        "print(list(U.objects.filter(username__startswith='storm').values_list('pk', flat=True)))"
    )
    output = manage({"LIVEPUSH_TEST_DB": str(path)}, "shell", "-c", script)
    return path, json.loads(output.strip().splitlines()[-1])


async def storm(url: str, user_ids: list[int], presence: bool) -> dict[str, Any]:
    """Connect every user at once; with presence, wait until each client knows all are online."""
    tokens = [issue_access_token(pk) for pk in user_ids]
    async with AsyncExitStack() as stack:
        start = time.monotonic()
        clients: list[Client] = await asyncio.gather(
            *(stack.enter_async_context(ws_connect(url, token=t)) for t in tokens)
        )
        connected = time.monotonic() - start
        frames = []
        if presence:
            frames = await asyncio.gather(*(until_all_online(c, set(user_ids)) for c in clients))
        return {
            "connected": connected,
            "presence_complete": time.monotonic() - start,
            "frames": frames,
        }


async def until_all_online(client: Client, everyone: set[int]) -> int:
    """Read the snapshot and the diffs until ``everyone`` is online; return the diffs read."""
    online: set[int] = set()
    diffs = 0
    while online != everyone:
        frame = await client.recv()
        if frame["type"] == "PRESENCE_SNAPSHOT":
            online |= set(frame["data"]["user_ids"])
        elif frame["type"] == "PRESENCE_DIFF":
            diffs += 1
            online |= set(frame["data"]["joins"])
            online -= set(frame["data"]["leaves"])
    return diffs


def run_storm(tmp: Path, db: Path, user_ids: list[int], presence: bool) -> dict[str, Any]:
    env = {"LIVEPUSH_TEST_DB": str(db)}
    if presence:
        env["LIVEPUSH_TEST_PRESENCE"] = "45,3,2"
    server = AsgiServer(tmp, env)
    server.start()
    try:
        assert server.proc is not None
        cpu = cpu_seconds(server.proc.pid)
        result = asyncio.run(storm(server.url, user_ids, presence))
        result["cpu"] = cpu_seconds(server.proc.pid) - cpu
    finally:
        server.stop()
    return result


def test_a_storm_gives_each_client_one_presence_frame_per_window(storm_db, tmp_path):
    db, user_ids = storm_db
    assert len(user_ids) == STORM_USERS
    off = run_storm(tmp_path, db, user_ids, presence=False)
    on = run_storm(tmp_path, db, user_ids, presence=True)
    frames = on["frames"]
    bound = on["presence_complete"] / WINDOW + 2
    print(
        f"\nstorm of {STORM_USERS}: presence off: all connected in {off['connected']:.2f}s, "
        f"server CPU {off['cpu']:.2f}s; presence on: all connected in {on['connected']:.2f}s, "
        f"every client knew all online after {on['presence_complete']:.2f}s, server CPU "
        f"{on['cpu']:.2f}s; PRESENCE_DIFF frames per client: max {max(frames)}, "
        f"mean {sum(frames) / len(frames):.1f} (bound {bound:.0f}; one per user before: "
        f"{STORM_USERS})"
    )
    assert max(frames) <= bound
