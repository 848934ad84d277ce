"""Server CPU per 1,000 broadcast deliveries: django-livepush against a hand-written consumer.

Usage, from the repository root with ``redis-server`` installed::

    python -m benchmarks.push_fanout [--clients 500] [--messages 20] [--server uvicorn]
        [--recovery]

Starts its own redis-server and one daphne (or uvicorn) process on free ports, connects the
clients to the baseline route (``ws/seed/``, a consumer written the way the seed system is) and to
``ws/`` (LivePushConsumer) in turn, pushes ``--messages`` broadcasts from this process through
Redis, and reads the server process's CPU time (utime + stime from /proc) around the deliveries.
Results are ratios against the baseline measured in the same run.

With ``--recovery`` the server runs with ``LIVEPUSH["RECOVERY"]`` on, and django-livepush's round
runs twice, its pushes published with recovery off and then on (each appended to the broadcast
stream's history in Redis, with its position on the frame): the ratio of the two is recovery's
cost. Each round also reports each broadcast's time from the push to its last delivery (median
and the slowest, which with 40 broadcasts stands for p99); the clients share the machine's two
cores with the server, so compare these within a run only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import AsgiServer, RedisServer, cpu_seconds, create_database  # noqa: E402


async def run_round(
    url: str, token: str, clients: int, messages: int, push, pid: int, *, greeted: bool = False
) -> tuple[float, list[float]]:
    """Server CPU per 1,000 deliveries, and each broadcast's time to its last delivery (s).

    ``greeted``: the server sends each connection one frame first (``RECOVERY``), read before the
    rounds start.
    """
    from websockets.asyncio.client import connect

    sockets = []
    for start in range(0, clients, 100):
        batch = [
            connect(url, subprotocols=["livepush", f"livepush.token.{token}"], max_size=None)
            for _ in range(start, min(clients, start + 100))
        ]
        sockets += await asyncio.gather(*batch)
    latencies = []
    try:
        if greeted:
            await asyncio.gather(*(ws.recv() for ws in sockets))
        for _ in range(2):  # warm-up
            await push()
            await asyncio.gather(*(ws.recv() for ws in sockets))
        before = cpu_seconds(pid)
        for _ in range(messages):
            started = time.monotonic()
            await push()
            await asyncio.gather(*(ws.recv() for ws in sockets))
            latencies.append(time.monotonic() - started)
        used = cpu_seconds(pid) - before
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))
    return used / (clients * messages) * 1_000_000, latencies  # ms per 1,000 deliveries


def timing(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    return f"median {1000 * ordered[len(ordered) // 2]:.0f} ms, slowest {1000 * ordered[-1]:.0f} ms"


async def main(clients: int, messages: int, server_name: str, recovery: bool) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="livepush-bench-"))
    redis = RedisServer(workdir)
    redis.start()
    db = workdir / "bench.sqlite3"
    users = create_database(db)
    env = {"LIVEPUSH_TEST_DB": str(db), "LIVEPUSH_TEST_REDIS_URL": redis.url}
    if recovery:
        env["LIVEPUSH_TEST_RECOVERY"] = "1000"
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.project.settings")
    import django

    django.setup()
    from channels.layers import get_channel_layer
    from django.conf import settings
    from django.test import override_settings

    from livepush import asend_ws_message_to_all
    from livepush.tokens import issue_access_token

    server = AsgiServer(
        workdir,
        env,
        server=server_name,
        max_message_size=1 << 20,
        app="benchmarks.asgi:application",
    )
    server.start()
    try:
        assert server.proc is not None
        pid = server.proc.pid
        token = issue_access_token(users["alice"], lifetime=3600)
        layer = get_channel_layer()
        payload = {"id": 1, "album_id": 2, "title": "A photo", "url": "/media/p/1.jpg"}

        async def seed_push() -> None:
            await layer.group_send(
                "seed_broadcast",
                {"type": "send.message", "event_type": "PHOTO_UPLOADED", "data": payload},
            )

        async def livepush_push() -> None:
            await asend_ws_message_to_all("PHOTO_UPLOADED", payload)

        base = f"ws://127.0.0.1:{server.port}"
        started = time.monotonic()
        seed, seed_t = await run_round(f"{base}/ws/seed/", token, clients, messages, seed_push, pid)
        with override_settings(LIVEPUSH={**settings.LIVEPUSH, "RECOVERY": False}):
            ours, ours_t = await run_round(
                f"{base}/ws/", token, clients, messages, livepush_push, pid, greeted=recovery
            )
        print(
            f"server={server_name} clients={clients} messages={messages} "
            f"deliveries/round={clients * messages}"
        )
        print(f"baseline (hand-written consumer): {seed:.1f} ms server CPU per 1,000 deliveries")
        print(f"django-livepush:                  {ours:.1f} ms server CPU per 1,000 deliveries")
        print(f"ratio livepush/baseline: {ours / seed:.2f}  ({time.monotonic() - started:.0f}s)")
        print(f"broadcast to last delivery: baseline {timing(seed_t)}; livepush {timing(ours_t)}")
        if recovery:
            with override_settings(LIVEPUSH={**settings.LIVEPUSH, "RECOVERY": True}):
                rec, rec_t = await run_round(
                    f"{base}/ws/", token, clients, messages, livepush_push, pid, greeted=True
                )
            print(f"django-livepush, recovery on:     {rec:.1f} ms server CPU per 1,000 deliveries")
            print(f"ratio recovery on/off: {rec / ours:.2f}; recovery on: {timing(rec_t)}")
    finally:
        server.stop()
        redis.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne")
    parser.add_argument("--recovery", action="store_true", help="also measure recovery's cost")
    args = parser.parse_args()
    asyncio.run(main(args.clients, args.messages, args.server, args.recovery))
