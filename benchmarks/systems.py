"""The systems under test: how to start each one's server processes and how to push to it.

A :class:`Deployment` is one system on one server in ``processes`` server processes (each on a
free port of its own, all sharing the run's one redis-server). Connection ``j`` is user
``users[j]`` and goes to process ``j % processes``.

* ``raw-websockets``: ``benchmarks.raw_websockets`` (server ``websockets``); ``raw-asgi``:
  ``benchmarks.raw_asgi:app`` under uvicorn or daphne. Pushes are one PUBLISH of the JSON frame
  (encoded by the pusher, as any application would) to ``PREFIX.all``, ``PREFIX.user``
  (``"ID|frame"``) or ``PREFIX.many`` (``"ID,ID,...|frame"``: one PUBLISH for a list of users,
  fanned out by id in the server). Each deployment has its own prefix, so idle servers of other
  systems get nothing.
* ``channels``: ``SeedConsumer`` at ``ws/seed/`` of ``benchmarks.asgi:application``; pushes are
  the bench process's ``group_send`` to ``seed_broadcast`` / ``seed_user_{id}`` (a list of users:
  one ``group_send`` per user, concurrently).
* ``livepush``, ``livepush-presence``, ``livepush-recovery``: ``LivePushConsumer`` at ``ws/``
  of the same app, the server started with ``LIVEPUSH_TEST_PRESENCE`` / ``LIVEPUSH_TEST_RECOVERY``
  as the system needs; pushes with ``asend_ws_message_to_all``, ``asend_ws_message_to_user`` and
  ``abroadcast_ws_message`` under the matching ``LIVEPUSH`` settings in the bench process.

Every push's payload carries ``seq`` and ``sent_at`` (``time.time()`` at the push).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.servers import AsgiServer, cpu_seconds

SETTINGS = "benchmarks.settings"
BACKLOG = 8192
MAX_MESSAGE = 1 << 20
PRESENCE = "45,3,2"  # ttl, grace, sweep seconds (tests/project/settings.py)
RECOVERY = "1000"  # history size
DJANGO_SYSTEMS = ("channels", "livepush", "livepush-presence", "livepush-recovery")
PRESENCE_SYSTEMS = ("livepush-presence", "livepush-recovery")

Push = Callable[[int], Awaitable[None]]


def payload(seq: int) -> dict[str, Any]:
    return {
        "id": seq,
        "album_id": 2,
        "title": "A photo",
        "url": "/media/p/1.jpg",
        "seq": seq,
        "sent_at": time.time(),
    }


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class _RawWebsocketsServer(AsgiServer):
    """``benchmarks.raw_websockets`` in a subprocess: AsgiServer's start and stop, its command."""

    def __init__(self, workdir: Path, redis_url: str, prefix: str) -> None:
        super().__init__(workdir, {}, server="websockets", settings=SETTINGS)
        self.redis_url, self.prefix = redis_url, prefix

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "benchmarks.raw_websockets",
            "--port",
            str(self.port),
            "--redis",
            self.redis_url,
            "--prefix",
            self.prefix,
            "--backlog",
            str(BACKLOG),
        ]


class Deployment:
    _serial = 0

    def __init__(
        self,
        system: str,
        server: str,
        workdir: Path,
        redis_url: str,
        db: Path,
        processes: int = 1,
    ) -> None:
        Deployment._serial += 1
        self.system, self.server, self.processes = system, server, processes
        self.prefix = f"bench{Deployment._serial}"
        self.servers: list[Any] = []
        for _ in range(processes):
            if system == "raw-websockets":
                self.servers.append(_RawWebsocketsServer(workdir, redis_url, self.prefix))
                continue
            if system == "raw-asgi":
                env = {"BENCH_REDIS_URL": redis_url, "BENCH_PREFIX": self.prefix}
                app = "benchmarks.raw_asgi:app"
            else:
                env = {"LIVEPUSH_TEST_DB": str(db), "LIVEPUSH_TEST_REDIS_URL": redis_url}
                if system in PRESENCE_SYSTEMS:
                    env["LIVEPUSH_TEST_PRESENCE"] = PRESENCE
                if system == "livepush-recovery":
                    env["LIVEPUSH_TEST_RECOVERY"] = RECOVERY
                app = "benchmarks.asgi:application"
            self.servers.append(
                AsgiServer(
                    workdir,
                    env,
                    server=server,
                    max_message_size=MAX_MESSAGE,
                    backlog=BACKLOG,
                    app=app,
                    settings=SETTINGS,
                )
            )

    @property
    def pids(self) -> list[int]:
        return [s.proc.pid for s in self.servers if s.proc is not None]

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)

    def rss(self) -> int:
        return sum(rss_kib(pid) for pid in self.pids)

    def conn(self, j: int, user: int, token: Callable[[int], str]) -> tuple[str, list[str]]:
        port = self.servers[j % self.processes].port
        if self.system.startswith("raw-"):
            return f"ws://127.0.0.1:{port}/?user={user}", []
        path = "ws/seed/" if self.system == "channels" else "ws/"
        return f"ws://127.0.0.1:{port}/{path}", ["livepush", f"livepush.token.{token(user)}"]

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def start_all(deployments: list[Deployment]) -> None:
    """Start every process of every deployment, all at once (Django's imports in parallel)."""
    servers = [s for d in deployments for s in d.servers]
    with ThreadPoolExecutor(max(1, len(servers))) as pool:
        list(pool.map(lambda s: s.start(), servers))


class Pusher:
    """The bench process's pushes for one system: ``all(seq)``, ``user(uid, seq)``,
    ``many(uids, seq)``; use inside :meth:`settings`."""

    def __init__(self, deployment: Deployment, redis: Any) -> None:
        self.system = deployment.system
        self.prefix = deployment.prefix
        self.redis = redis

    @contextlib.contextmanager
    def settings(self) -> Iterator[None]:
        if not self.system.startswith("livepush"):
            yield
            return
        from django.conf import settings
        from django.test import override_settings

        with override_settings(
            LIVEPUSH={
                **settings.LIVEPUSH,
                "PRESENCE": self.system in PRESENCE_SYSTEMS,
                "RECOVERY": self.system == "livepush-recovery",
            }
        ):
            yield

    async def all(self, seq: int) -> None:
        if self.system.startswith("raw-"):
            frame = json.dumps({"type": "PHOTO_UPLOADED", "data": payload(seq)})
            await self.redis.publish(f"{self.prefix}.all", frame)
        elif self.system == "channels":
            await self._group("seed_broadcast", seq)
        else:
            from livepush import asend_ws_message_to_all

            await asend_ws_message_to_all("PHOTO_UPLOADED", payload(seq))

    async def user(self, uid: int, seq: int) -> None:
        if self.system.startswith("raw-"):
            frame = json.dumps({"type": "PHOTO_UPLOADED", "data": payload(seq)})
            await self.redis.publish(f"{self.prefix}.user", f"{uid}|{frame}")
        elif self.system == "channels":
            await self._group(f"seed_user_{uid}", seq)
        else:
            from livepush import asend_ws_message_to_user

            await asend_ws_message_to_user(uid, "PHOTO_UPLOADED", payload(seq))

    async def many(self, uids: list[int], seq: int) -> None:
        if self.system.startswith("raw-"):
            frame = json.dumps({"type": "PHOTO_UPLOADED", "data": payload(seq)})
            ids = ",".join(map(str, uids))
            await self.redis.publish(f"{self.prefix}.many", f"{ids}|{frame}")
        elif self.system == "channels":
            import asyncio

            from channels.layers import get_channel_layer

            layer = get_channel_layer()
            data = payload(seq)
            event = {"type": "send.message", "event_type": "PHOTO_UPLOADED", "data": data}
            await asyncio.gather(*(layer.group_send(f"seed_user_{u}", event) for u in uids))
        else:
            from livepush import abroadcast_ws_message

            await abroadcast_ws_message(uids, "PHOTO_UPLOADED", payload(seq))

    async def _group(self, group: str, seq: int) -> None:
        from channels.layers import get_channel_layer

        event = {"type": "send.message", "event_type": "PHOTO_UPLOADED", "data": payload(seq)}
        await get_channel_layer().group_send(group, event)
