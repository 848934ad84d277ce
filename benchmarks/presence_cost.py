"""What presence costs: Redis round trips and time per connect, disconnect, refresh and sweep.

Usage, from the repository root with ``redis-server`` installed::

    python -m benchmarks.presence_cost [--connections 1000]

Starts its own redis-server on a free port. Each operation is one Lua script, so one round trip;
times are reported next to a plain ``PING`` round trip measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from redis.asyncio import Redis  # noqa: E402
from tests.servers import RedisServer  # noqa: E402

from livepush.presence import RedisPresence  # noqa: E402


async def timed(label: str, count: int, make, baseline: float | None = None) -> float:
    started = time.perf_counter()
    for i in range(count):
        await make(i)
    per_op = (time.perf_counter() - started) / count * 1e6
    ratio = f"  ({per_op / baseline:.1f}x PING)" if baseline else ""
    print(f"{label:<40} {per_op:8.1f} µs per call{ratio}")
    return per_op


async def main(connections: int) -> None:
    redis = RedisServer(Path(tempfile.mkdtemp(prefix="livepush-presence-bench-")))
    redis.start()
    client = Redis.from_url(redis.url)
    backend = RedisPresence(client, "bench", ttl=45, grace=3)
    try:
        ping = await timed("PING (baseline round trip)", 2000, lambda i: client.ping())
        await timed(
            "connect (1 script)",
            connections,
            lambda i: backend.connect(str(i % 300), f"c{i}"),
            ping,
        )
        entries = [(str(i % 300), f"c{i}") for i in range(connections)]
        refresh = await timed(
            f"refresh of {connections} connections", 20, lambda i: backend.refresh(entries), ping
        )
        print(f"{'  = per connection per refresh':<40} {refresh / connections:8.2f} µs")
        await timed("sweep (nothing due)", 1000, lambda i: backend.sweep(), ping)
        await timed(
            "disconnect (1 script)",
            connections,
            lambda i: backend.disconnect(str(i % 300), f"c{i}"),
            ping,
        )
    finally:
        await client.aclose()
        redis.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000)
    asyncio.run(main(parser.parse_args().connections))
