"""The benchmark's WebSocket clients: separate processes, driven by the runner over pipes.

``python -m benchmarks.clients`` reads one JSON command per line on stdin and answers one JSON
line per command on stdout; :class:`ClientPool` (runner side) spawns a few of them and splits the
connections between them, so the clients' CPU is measured apart from the servers' and from the
pushing process (the runner reads every pid's utime + stime from /proc).

Commands:

``open`` ``{"conns": [[url, [subprotocol, ...]], ...], "batch": B}``
    Connect (``websockets`` asyncio client, ``compression=None``, ``max_size=None``, no
    keepalive pings), ``B`` at a time (0: all at once, a storm). Answer ``opened``/``refused``.
``ping``
    One ping round trip on every open connection: an event that everything sent before has been
    read. Answers the frames counted so far that were not pushes (presence, RECOVERY, ...).
``measure`` ``{"lo": L, "hi": H, "expect": E, "timeout": T}``
    Count pushes whose ``seq`` is in ``[L, H)`` and, per delivery, ``time.time() - sent_at``.
    Answers ``armed`` at once and ``done`` when ``E`` arrived or ``T`` seconds passed (the
    missing ones are then lost), with the latencies (ms), each push's slowest delivery, and the
    wall-clock time of the last delivery.
``close``
    Close every connection and exit.

A push is any text frame with a ``"sent_at"`` in its ``data``; the cheap substring test keeps
other frames (presence, RECOVERY, PING) out of the JSON decoder's way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: livepush's heartbeat (livepush.protocol.PING_FRAME, PONG_FRAME): answered as a browser's
#: client would, or the server closes the connection after HEARTBEAT_INTERVAL + TIMEOUT.
PING, PONG = '{"type":"PING"}', '{"type":"PONG"}'


class _Counter:
    def __init__(self) -> None:
        self.other = 0
        self.lo = self.hi = 0
        self.expect = 0
        self.latencies: list[float] = []
        self.slowest: dict[str, float] = {}
        self.last = 0.0
        self.done = asyncio.Event()

    def arm(self, lo: int, hi: int, expect: int) -> None:
        self.lo, self.hi, self.expect = lo, hi, expect
        self.latencies, self.slowest, self.last = [], {}, 0.0
        self.done = asyncio.Event()
        if expect <= 0:
            self.done.set()

    def frame(self, text: str | bytes) -> None:
        now = time.time()
        if isinstance(text, bytes) or '"sent_at"' not in text:
            self.other += 1
            return
        data = json.loads(text)["data"]
        seq = data["seq"]
        if not self.lo <= seq < self.hi:
            return
        latency = (now - data["sent_at"]) * 1000
        self.latencies.append(latency)
        key = str(seq)
        if latency > self.slowest.get(key, -1.0):
            self.slowest[key] = latency
        self.last = now
        if len(self.latencies) >= self.expect:
            self.done.set()


async def _client_main() -> None:
    from websockets.asyncio.client import connect

    from benchmarks.light_client import connect as light_connect

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    counter = _Counter()
    sockets: list[Any] = []
    readers: list[asyncio.Task[None]] = []

    def reply(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    async def read(ws: Any) -> None:
        try:
            async for message in ws:
                if message == PING:
                    await ws.send(PONG)
                counter.frame(message)
        except Exception:
            pass

    def on_light(client: Any, text: str) -> None:
        if text == PING:
            client.send_text(PONG)
        counter.frame(text)

    async def one(url: str, protocols: list[str], kind: str) -> Any:
        if kind == "light":
            client = await light_connect(url, protocols, on_light)
            sockets.append(client)
            return client
        ws = await connect(
            url,
            subprotocols=protocols or None,
            compression=None,
            max_size=None,
            ping_interval=None,
            open_timeout=60,
            close_timeout=2,
        )
        sockets.append(ws)
        readers.append(loop.create_task(read(ws)))
        return ws

    while line := await reader.readline():
        cmd = json.loads(line)
        name = cmd["cmd"]
        if name == "open":
            conns = cmd["conns"]
            batch = cmd.get("batch") or len(conns) or 1
            kind = cmd.get("client", "light")
            refused = 0
            started = time.monotonic()
            for start in range(0, len(conns), batch):
                results = await asyncio.gather(
                    *(one(url, protos, kind) for url, protos in conns[start : start + batch]),
                    return_exceptions=True,
                )
                refused += sum(isinstance(r, BaseException) for r in results)
            reply(
                {
                    "event": "opened",
                    "opened": len(conns) - refused,
                    "refused": refused,
                    "seconds": time.monotonic() - started,
                }
            )
        elif name == "ping":
            waiters = []
            for ws in sockets:
                with contextlib.suppress(Exception):  # closed: counted as not answering
                    waiters.append(await ws.ping())
            with contextlib.suppress(asyncio.TimeoutError):  # a stuck server: reply anyway
                await asyncio.wait_for(asyncio.gather(*waiters, return_exceptions=True), 60)
            reply({"event": "pong", "other": counter.other, "conns": len(sockets)})
        elif name == "measure":
            counter.arm(cmd["lo"], cmd["hi"], cmd["expect"])
            reply({"event": "armed"})
            with contextlib.suppress(asyncio.TimeoutError):  # the missing ones are lost
                await asyncio.wait_for(counter.done.wait(), cmd["timeout"])
            reply(
                {
                    "event": "done",
                    "deliveries": len(counter.latencies),
                    "latencies": [round(x, 3) for x in counter.latencies],
                    "slowest": {k: round(v, 3) for k, v in counter.slowest.items()},
                    "last": counter.last,
                    "other": counter.other,
                }
            )
        elif name == "close":
            await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
            for task in readers:
                task.cancel()
            sockets.clear()
            readers.clear()
            counter.other = 0
            reply({"event": "closed"})
        elif name == "exit":
            return


class ClientPool:
    """Runner side: ``count`` client processes; connection ``j`` lives in process ``j % count``."""

    def __init__(self, count: int, kind: str = "light") -> None:
        self.count = count
        self.kind = kind
        self.procs: list[asyncio.subprocess.Process] = []

    async def start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        for _ in range(self.count):
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "benchmarks.clients",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                env=env,
                cwd=ROOT,
                limit=1 << 26,
            )
            self.procs.append(proc)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def owner(self, conn: int) -> int:
        return conn % self.count

    async def _send(self, index: int, obj: dict[str, Any]) -> None:
        proc = self.procs[index]
        assert proc.stdin is not None
        proc.stdin.write((json.dumps(obj) + "\n").encode())
        await proc.stdin.drain()

    async def _read(self, index: int, timeout: float = 300) -> dict[str, Any]:
        stdout = self.procs[index].stdout
        assert stdout is not None
        line = await asyncio.wait_for(stdout.readline(), timeout)
        if not line:
            raise RuntimeError(f"client process {index} exited")
        result: dict[str, Any] = json.loads(line)
        return result

    async def _all(self, objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for i, obj in enumerate(objs):
            await self._send(i, obj)
        return list(await asyncio.gather(*(self._read(i) for i in range(self.count))))

    async def open(self, conns: list[tuple[str, list[str]]], batch: int) -> dict[str, Any]:
        """Open the connections; ``{"opened", "refused", "seconds"}`` (seconds: the slowest)."""
        started = time.monotonic()
        shares = [conns[i :: self.count] for i in range(self.count)]
        replies = await self._all(
            [{"cmd": "open", "conns": s, "batch": batch, "client": self.kind} for s in shares]
        )
        return {
            "opened": sum(r["opened"] for r in replies),
            "refused": sum(r["refused"] for r in replies),
            "seconds": time.monotonic() - started,
        }

    async def ping(self) -> dict[str, Any]:
        replies = await self._all([{"cmd": "ping"}] * self.count)
        return {
            "other": sum(r["other"] for r in replies),
            "conns": sum(r["conns"] for r in replies),
        }

    async def arm(self, lo: int, hi: int, expect: list[int], timeout: float) -> None:
        """Start counting seqs ``[lo, hi)``; ``expect[i]``: deliveries process ``i`` waits for."""
        await self._all(
            [
                {"cmd": "measure", "lo": lo, "hi": hi, "expect": e, "timeout": timeout}
                for e in expect
            ]
        )

    async def results(self) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(self._read(i) for i in range(self.count))))

    async def close(self) -> None:
        await self._all([{"cmd": "close"}] * self.count)

    async def stop(self) -> None:
        for i, proc in enumerate(self.procs):
            if proc.returncode is None:
                try:
                    await self._send(i, {"cmd": "exit"})
                    await asyncio.wait_for(proc.wait(), 10)
                except (Exception, asyncio.TimeoutError):
                    proc.kill()
                    await proc.wait()


if __name__ == "__main__":
    asyncio.run(_client_main())
