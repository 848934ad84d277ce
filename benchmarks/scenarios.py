"""The scenarios: each measures one deployment and writes its records.

Method common to all: the clients live in their own processes (``benchmarks.clients``); every
push carries ``seq`` and ``sent_at``; a measurement arms the clients with the seq range and the
deliveries each client process should see, makes the pushes open loop (push ``i`` at
``start + i / rate``, each in its own task, never waiting for the previous one), and waits for
each client's "got all expected" or its timeout (the scheduled duration plus ``grace``), after
which the missing deliveries are ``lost``. CPU (utime + stime from /proc) of the server pids and
of the client pids is read after arming and after the last client answered. Latency is receive
time minus ``sent_at`` per delivery (``many_users``: per push, to its last delivery).
``redis_commands`` is the difference of the ``INFO commandstats`` call totals, for the whole
Redis: it also counts what other servers do meanwhile, notably a presence server's clean-up of
the previous measurement's 1,000 users after their grace period, and presence's periodic
refresh (a few thousand commands when either falls in the window; compare medians over rounds).

* ``fanout``: broadcasts at each rate after a warm-up at that rate. ``channels`` only runs the
  rates up to ``CHANNELS_MAX`` deliveries/s (it saturates at about 2,000/s, and its backlog
  would spill into the next measurement).
* ``users``: one connection per user, pushes to single users in turn.
* ``many_users``: one push addressed to all N users, repeated.
* ``storm``: N connects at once to a fresh server.
* ``idle``: a fresh server's RSS before and after N idle connections (one connection opened
  first, so the first connect's imports are not counted; "after" is after a ping round trip).
* ``processes``: the fan-out at one rate over P server processes sharing Redis, N connections
  per process (N x P in all): P processes should deliver P times one process's deliveries/s.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.clients import ClientPool
from benchmarks.results import write_record
from benchmarks.systems import PRESENCE_SYSTEMS, Deployment, Pusher, cpu_seconds

CHANNELS_MAX = 2000  # deliveries/s the channels system is offered at most


@dataclass
class Config:
    connections: int = 1000
    fanout_rates: tuple[float, ...] = (2, 5, 10)
    duration: float = 5.0
    warmup: float = 1.0
    users_rate: float = 200
    many_pushes: int = 10
    many_rate: float = 1.0
    processes: tuple[int, ...] = (1, 3)
    processes_rate: float = 10
    grace: float = 5.0
    big: int = 0  # connections of the extra --big fan-out (0: none)
    big_rate: float = 1.0


QUICK = Config(
    connections=50,
    fanout_rates=(2, 10),
    duration=1.0,
    warmup=0.3,
    users_rate=100,
    many_pushes=4,
    many_rate=4,
    grace=2.0,
)


@dataclass
class Bench:
    cfg: Config
    pool: ClientPool
    redis: Any
    users: list[int]
    token: Callable[[int], str]
    out: Path
    round: int = 0
    seq: int = 0
    records: list[dict[str, Any]] = field(default_factory=list)

    def client_cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pool.pids)

    async def redis_calls(self) -> int:
        stats = await self.redis.info("commandstats")
        return sum(int(v["calls"]) for v in stats.values())

    def record(self, dep: Deployment, scenario: str, **fields: Any) -> None:
        rec = {
            "scenario": scenario,
            "system": dep.system,
            "server": dep.server,
            "round": self.round,
            "processes": dep.processes,
            **fields,
        }
        write_record(self.out, rec)
        self.records.append(rec)
        print(summary(rec), flush=True)

    async def connect(self, dep: Deployment, n: int, *, batch: int = 100, first: int = 0) -> Any:
        conns = [dep.conn(j, self.users[j], self.token) for j in range(first, first + n)]
        opened = await self.pool.open(conns, batch)
        pong = await self.pool.ping()
        return opened, pong


def summary(rec: dict[str, Any]) -> str:
    head = f"{rec['scenario']:<10} {rec['system']:<17} {rec['server']:<10} r{rec['round']}"
    head += f" n={rec.get('connections')} P={rec['processes']}"
    parts = []
    for key, fmt in (
        ("rate", "rate={:g}/s"),
        ("delivered_per_s", "deliv/s={:.0f}"),
        ("lost", "lost={}"),
        ("server_cpu_ms_per_1k", "srv={:.1f}ms/1k"),
        ("client_cpu_ms_per_1k", "cli={:.1f}ms/1k"),
        ("connect_s", "connect={:.2f}s"),
        ("refused", "refused={}"),
        ("server_cpu_s", "srv_cpu={:.2f}s"),
        ("rss_kib_per_conn", "rss={:.1f}KiB/conn"),
        ("presence_frames", "presence={:.1f}/client"),
        ("redis_commands", "redis={}"),
    ):
        if rec.get(key) is not None:
            parts.append(fmt.format(rec[key]))
    lat = rec.get("latency_ms")
    if lat:
        parts.append(f"p50={lat['p50']:.1f} p99={lat['p99']:.1f} max={lat['max']:.1f}ms")
    return head + " " + " ".join(parts)


def percentiles(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": ordered[-1]}


async def load(
    bench: Bench,
    dep: Deployment,
    n: int,
    count: int,
    rate: float,
    push: Callable[[int, int], Awaitable[None]],
    targets: Callable[[int], list[int] | None],
    *,
    per_push: bool = False,
) -> dict[str, Any]:
    """``count`` pushes at ``rate``/s (``push(seq, i)``, reaching ``targets(i)``: connection
    indices, ``None`` for all ``n``); the record's measured fields."""
    pool = bench.pool
    lo = bench.seq
    bench.seq += count
    share = [len(range(c, n, pool.count)) for c in range(pool.count)]
    expect = [0] * pool.count
    for i in range(count):
        reached = targets(i)
        if reached is None:
            expect = [e + s for e, s in zip(expect, share, strict=True)]
        else:
            for j in reached:
                expect[pool.owner(j)] += 1
    await pool.arm(lo, lo + count, expect, count / rate + bench.cfg.grace)
    calls = await bench.redis_calls()
    server_cpu, client_cpu = dep.cpu(), bench.client_cpu()
    loop = asyncio.get_running_loop()
    wall, start = time.time(), loop.time()
    tasks = []
    for i in range(count):
        delay = start + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)  # the open-loop schedule
        tasks.append(asyncio.ensure_future(push(lo + i, i)))
    errors = [r for r in await asyncio.gather(*tasks, return_exceptions=True) if r is not None]
    if errors:
        print(f"  ! {len(errors)} pushes failed: {errors[0]!r}", flush=True)
    results = await pool.results()
    server_cpu, client_cpu = dep.cpu() - server_cpu, bench.client_cpu() - client_cpu
    calls = await bench.redis_calls() - calls
    deliveries = sum(r["deliveries"] for r in results)
    # From the first push to the last delivery, and at least the scheduled duration.
    last = max([r["last"] for r in results if r["last"]] or [time.time()])
    window = max(last - wall, count / rate)
    if per_push:
        slowest: dict[str, float] = {}
        for r in results:
            for k, v in r["slowest"].items():
                slowest[k] = max(v, slowest.get(k, v))
        latency = percentiles(list(slowest.values()))
    else:
        latency = percentiles([x for r in results for x in r["latencies"]])
    per_1k = 1_000_000 / deliveries if deliveries else None
    return {
        "connections": n,
        "rate": rate,
        "duration_s": round(window, 3),
        "pushes": count,
        "deliveries": deliveries,
        "expected": sum(expect),
        "lost": sum(expect) - deliveries,
        "delivered_per_s": deliveries / window if window > 0 else None,
        "server_cpu_ms_per_1k": server_cpu * per_1k if per_1k else None,
        "client_cpu_ms_per_1k": client_cpu * per_1k if per_1k else None,
        "latency_ms": latency,
        "redis_commands": calls,
    }


async def _warm_then_measure(
    bench: Bench,
    dep: Deployment,
    n: int,
    rate: float,
    push: Callable[[int, int], Awaitable[None]],
    targets: Callable[[int], list[int] | None],
    *,
    warm: int | None = None,
    count: int | None = None,
    per_push: bool = False,
) -> dict[str, Any]:
    """A warm-up at ``rate`` (``cfg.warmup`` seconds' worth of pushes unless ``warm``), then the
    :func:`load` that is measured (``cfg.duration`` seconds' worth unless ``count``)."""
    warm = max(1, round(rate * bench.cfg.warmup)) if warm is None else warm
    count = max(1, round(rate * bench.cfg.duration)) if count is None else count
    await load(bench, dep, n, warm, rate, push, targets)
    return await load(bench, dep, n, count, rate, push, targets, per_push=per_push)


@contextlib.asynccontextmanager
async def _connected(bench: Bench, dep: Deployment, n: int) -> AsyncIterator[None]:
    """``n`` connections open to ``dep`` for the block's measurements, closed after it."""
    await bench.connect(dep, n)
    try:
        yield
    finally:
        await bench.pool.close()


async def _fanout_at(bench: Bench, dep: Deployment, n: int, rate: float, scenario: str) -> None:
    pusher = Pusher(dep, bench.redis)
    with pusher.settings():
        fields = await _warm_then_measure(
            bench, dep, n, rate, lambda s, i: pusher.all(s), lambda i: None
        )
    bench.record(dep, scenario, **fields)


async def fanout(bench: Bench, dep: Deployment, n: int | None = None) -> None:
    n = n or bench.cfg.connections
    rates = bench.cfg.fanout_rates if n == bench.cfg.connections else (bench.cfg.big_rate,)
    if dep.system == "channels":
        rates = tuple(r for r in rates if r * n <= CHANNELS_MAX) or rates[:1]
    async with _connected(bench, dep, n):
        for rate in rates:
            await _fanout_at(bench, dep, n, rate, "fanout")


async def users(bench: Bench, dep: Deployment) -> None:
    n, rate = bench.cfg.connections, bench.cfg.users_rate
    pusher = Pusher(dep, bench.redis)

    def push(seq: int, i: int) -> Awaitable[None]:
        return pusher.user(bench.users[i % n], seq)

    def target(i: int) -> list[int]:
        return [i % n]

    async with _connected(bench, dep, n):
        with pusher.settings():
            fields = await _warm_then_measure(bench, dep, n, rate, push, target)
        bench.record(dep, "users", **fields)


async def many_users(bench: Bench, dep: Deployment) -> None:
    n, rate = bench.cfg.connections, bench.cfg.many_rate
    pusher = Pusher(dep, bench.redis)
    ids = bench.users[:n]
    async with _connected(bench, dep, n):
        with pusher.settings():
            fields = await _warm_then_measure(
                bench,
                dep,
                n,
                rate,
                lambda s, i: pusher.many(ids, s),
                lambda i: None,
                warm=1,
                count=bench.cfg.many_pushes,
                per_push=True,
            )
        bench.record(dep, "many_users", **fields)


async def storm(bench: Bench, dep: Deployment) -> None:
    n = bench.cfg.connections
    calls, cpu = await bench.redis_calls(), dep.cpu()
    try:
        opened, pong = await bench.connect(dep, n, batch=0)
        cpu = dep.cpu() - cpu
        calls = await bench.redis_calls() - calls
        presence = pong["other"] / max(1, opened["opened"])
        bench.record(
            dep,
            "storm",
            connections=n,
            connect_s=round(opened["seconds"], 3),
            refused=opened["refused"],
            server_cpu_s=round(cpu, 3),
            redis_commands=calls,
            presence_frames=presence if dep.system in PRESENCE_SYSTEMS else None,
        )
    finally:
        await bench.pool.close()


async def idle(bench: Bench, dep: Deployment) -> None:
    n = bench.cfg.connections
    try:
        await bench.connect(dep, 1, first=n)  # the first connect's lazy imports, not counted
        before = dep.rss()
        opened, _ = await bench.connect(dep, n)
        after = dep.rss()
        bench.record(
            dep,
            "idle",
            connections=n,
            refused=opened["refused"],
            rss_kib_per_conn=(after - before) / max(1, opened["opened"]),
        )
    finally:
        await bench.pool.close()


async def processes(bench: Bench, dep: Deployment) -> None:
    # N connections per process, so P processes are offered P times one process's deliveries/s.
    n, rate = bench.cfg.connections * dep.processes, bench.cfg.processes_rate
    async with _connected(bench, dep, n):
        await _fanout_at(bench, dep, n, rate, "processes")


SCENARIOS: dict[str, Callable[..., Awaitable[None]]] = {
    "fanout": fanout,
    "users": users,
    "many_users": many_users,
    "storm": storm,
    "idle": idle,
    "processes": processes,
}
#: Scenarios that need servers that never held a connection (the rest share long-lived ones).
FRESH = ("storm", "idle", "processes")
