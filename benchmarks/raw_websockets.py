"""The ceiling: a bare ``websockets`` (asyncio) server fed by Redis pub/sub.

Usage (the harness starts it; see ``benchmarks.systems``)::

    python -m benchmarks.raw_websockets --port P --redis redis://127.0.0.1:N --prefix NAME

No authentication (the client's ``?user=ID`` is believed) and no protocol: one ``redis.asyncio``
pub/sub connection subscribed to three channels, whose messages are already-encoded text frames:

``NAME.all``
    the frame, sent to every connection with ``websockets.asyncio.server.broadcast``.
``NAME.user``
    ``"ID|frame"``: the frame to the connections of user ID (a dict lookup).
``NAME.many``
    ``"ID,ID,...|frame"``: one PUBLISH for a list of users, fanned out by id here (the cheapest
    way a hand-written server would do ``broadcast_ws_message(user_ids, ...)``).

Several processes may share one prefix (the ``processes`` scenario): each gets every message and
sends it to its own connections.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import redis.asyncio as aioredis
from websockets.asyncio.server import ServerConnection, broadcast, serve


async def subscribe(redis_url: str, prefix: str) -> Any:
    """A pub/sub connection subscribed to ``NAME.all``, ``NAME.user`` and ``NAME.many``."""
    pubsub = aioredis.from_url(redis_url).pubsub()
    await pubsub.subscribe(*(f"{prefix}.{name}" for name in ("all", "user", "many")))
    return pubsub


async def frames(pubsub: Any, prefix: str) -> AsyncIterator[tuple[list[str] | None, str]]:
    """Each message as ``(user ids, frame)``; the ids are ``None`` for a frame to everyone."""
    all_ch = f"{prefix}.all".encode()
    async for message in pubsub.listen():
        if message["type"] != "message":
            continue
        data = message["data"].decode()
        if message["channel"] == all_ch:
            yield None, data
        else:
            ids, _, frame = data.partition("|")
            yield ids.split(","), frame


async def main(port: int, redis_url: str, prefix: str, backlog: int) -> None:
    everyone: set[ServerConnection] = set()
    by_user: defaultdict[str, set[ServerConnection]] = defaultdict(set)

    async def handler(ws: ServerConnection) -> None:
        query = parse_qs(urlsplit(ws.request.path if ws.request else "/").query)
        user = query.get("user", ["0"])[0]
        everyone.add(ws)
        by_user[user].add(ws)
        try:
            await ws.wait_closed()
        finally:
            everyone.discard(ws)
            by_user[user].discard(ws)
            if not by_user[user]:
                del by_user[user]

    pubsub = await subscribe(redis_url, prefix)
    async with serve(
        handler,
        "127.0.0.1",
        port,
        compression=None,
        max_size=None,
        ping_interval=None,
        backlog=backlog,
    ):
        async for ids, frame in frames(pubsub, prefix):
            if ids is None:
                broadcast(everyone, frame)
                continue
            for uid in ids:
                conns = by_user.get(uid)
                if conns:
                    broadcast(conns, frame)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--prefix", default="bench")
    parser.add_argument("--backlog", type=int, default=4096)
    args = parser.parse_args()
    asyncio.run(main(args.port, args.redis, args.prefix, args.backlog))
