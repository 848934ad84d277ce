"""A minimal ASGI WebSocket app fed by Redis pub/sub: what uvicorn or daphne cost on their own.

Run by the harness as ``benchmarks.raw_asgi:app`` under uvicorn and daphne, with
``BENCH_REDIS_URL`` and ``BENCH_PREFIX`` in the environment. It accepts every WebSocket (the
``?user=ID`` query names the user; no authentication), keeps each connection's ``send``
callable, and one background task (started lazily by the first connect) reads the Redis pub/sub
channels described in ``benchmarks.raw_websockets`` (``.all``, ``.user``, ``.many``: one PUBLISH
per list of users, fanned out by id here). Per message, one
``await send({"type": "websocket.send", "text": frame})`` per connection, in turn.
"""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from benchmarks.raw_websockets import frames, subscribe

Send = Callable[[dict[str, Any]], Awaitable[None]]

EVERYONE: set[Send] = set()
BY_USER: defaultdict[str, set[Send]] = defaultdict(set)
_listener: asyncio.Task[None] | None = None


async def _send_all(conns: set[Send], frame: str) -> None:
    event = {"type": "websocket.send", "text": frame}
    for send in list(conns):
        try:
            await send(event)
        except Exception:
            conns.discard(send)


async def _listen() -> None:
    prefix = os.environ.get("BENCH_PREFIX", "bench")
    pubsub = await subscribe(os.environ["BENCH_REDIS_URL"], prefix)
    async for ids, frame in frames(pubsub, prefix):
        if ids is None:
            await _send_all(EVERYONE, frame)
            continue
        for uid in ids:
            conns = BY_USER.get(uid)
            if conns:
                await _send_all(conns, frame)


async def app(scope: dict[str, Any], receive: Any, send: Send) -> None:
    global _listener
    if scope["type"] == "http":
        await receive()
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    if scope["type"] != "websocket":
        return
    if (await receive())["type"] != "websocket.connect":
        return
    user = parse_qs(scope.get("query_string", b"").decode()).get("user", ["0"])[0]
    await send({"type": "websocket.accept"})
    if _listener is None:
        _listener = asyncio.get_running_loop().create_task(_listen())
    EVERYONE.add(send)
    BY_USER[user].add(send)
    try:
        while (await receive())["type"] != "websocket.disconnect":
            pass
    finally:
        EVERYONE.discard(send)
        BY_USER[user].discard(send)
        if not BY_USER[user]:
            del BY_USER[user]
