"""The published benchmarks (issue 12): every system, server and scenario, in one run.

Usage, from the repository root with ``redis-server`` installed::

    python -m benchmarks.run [--quick | --big] [--out DIR] [--servers uvicorn,daphne]
        [--systems a,b] [--scenarios a,b] [--rounds N]

Starts its own redis-server and every server process on free ports (never 6379), creates the
users in a SQLite file the servers share, starts the client processes (``benchmarks.clients``),
and runs the scenarios (``benchmarks.scenarios``) interleaved: for each round, for each
scenario, for each server, for each system, so that the machine's noise hits all alike.
``raw-websockets`` is its own server (``websockets``) and runs once per scenario. The
``processes`` scenario runs on uvicorn only. ``fanout``, ``users`` and ``many_users`` use one
long-lived deployment per system and server, started at the beginning; ``storm``, ``idle`` and
``processes`` start fresh ones (all systems of a server at once, in parallel) and stop each after
its measurement.

Writes one record per measurement to ``DIR/results.jsonl`` (``benchmarks.results``), prints one
summary line per record, and writes ``DIR/meta.json`` (versions, machine, command line, the
scenario sizes, the duration) and the servers' logs to ``DIR/logs/``. ``DIR`` defaults to
``benchmarks/out/<timestamp>/``.

``--quick``: 50 connections, about a second per measurement. ``--big``: adds a 10,000-connection
fan-out on one uvicorn process for ``livepush`` (presence off and on) and
``raw-websockets``. ``--out`` must be a new folder (or one without ``results.jsonl``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import RedisServer, create_users  # noqa: E402

from benchmarks.clients import ClientPool  # noqa: E402
from benchmarks.results import RESULTS, SCENARIOS, SERVERS, SYSTEMS  # noqa: E402
from benchmarks.scenarios import FRESH, QUICK, Bench, Config  # noqa: E402
from benchmarks.scenarios import SCENARIOS as RUNNERS  # noqa: E402
from benchmarks.systems import SETTINGS, Deployment, start_all  # noqa: E402

BIG_SYSTEMS = ("livepush", "livepush-presence", "raw-websockets")
PROCESS_SYSTEMS = ("raw-websockets", "raw-asgi", "livepush", "livepush-presence")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="50 connections, ~1 s each")
    size.add_argument("--big", action="store_true", help="add a 10,000-connection fan-out")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--servers", default="uvicorn,daphne")
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument(
        "--client",
        choices=["light", "websockets"],
        default="light",
        help="the WebSocket client: benchmarks.light_client or the websockets library's",
    )
    args = parser.parse_args(argv)
    for name, known in (("servers", SERVERS), ("systems", SYSTEMS), ("scenarios", SCENARIOS)):
        chosen = [x for x in getattr(args, name).split(",") if x]
        unknown = set(chosen) - set(known)
        if unknown:
            parser.error(f"unknown {name}: {', '.join(sorted(unknown))}")
        setattr(args, name, chosen)
    args.servers = [s for s in args.servers if s != "websockets"]
    if args.out is not None and (args.out / RESULTS).exists():
        # The report takes medians over every record in the folder: two runs would mix.
        parser.error(f"{args.out / RESULTS} exists: give each run a new --out folder")
    return args


def meta(args: argparse.Namespace, argv: list[str]) -> dict[str, object]:
    versions = {}
    for dist in ("django", "channels", "channels-redis", "uvicorn", "daphne", "websockets"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "python": platform.python_version(),
        **versions,
        "cpu_count": os.cpu_count(),
        "uname": " ".join(platform.uname()),
        "command": [sys.executable, "-m", "benchmarks.run", *argv],
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": args.quick,
        "big": args.big,
        "rounds": args.rounds,
        "client": args.client,
    }


def plan(args: argparse.Namespace, scenario: str) -> list[tuple[str, list[tuple[str, int]]]]:
    """For one scenario: per server, the (system, processes) to measure, in order."""
    steps = []
    for index, server in enumerate(args.servers):
        todo: list[tuple[str, int]] = []
        for system in args.systems:
            if system == "raw-websockets" and index > 0:
                continue  # its own server; once per scenario
            if scenario == "processes":
                if server != "uvicorn" or system not in PROCESS_SYSTEMS:
                    continue
                todo += [(system, p) for p in args.cfg.processes]
            else:
                todo.append((system, 1))
        steps.append((server, todo))
    return steps


def keep_logs(workdir: Path, out: Path) -> None:
    """Copy the servers' and Redis's logs to ``out/logs`` and remove the scratch folder."""
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    for log in workdir.glob("*.log"):
        shutil.copy(log, logs / log.name)
    shutil.rmtree(workdir, ignore_errors=True)


def server_of(system: str, server: str) -> str:
    return "websockets" if system == "raw-websockets" else server


async def main(args: argparse.Namespace, argv: list[str]) -> None:
    started = time.monotonic()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    out = args.out or ROOT / "benchmarks" / "out" / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    cfg: Config = args.cfg
    workdir = Path(tempfile.mkdtemp(prefix="livepush-bench-"))
    redis_server = RedisServer(workdir)
    redis_server.start()
    info = meta(args, argv)
    reply = redis_server.command("INFO", "server").decode(errors="replace")
    info["redis"] = next(
        (line.split(":", 1)[1].strip() for line in reply.splitlines() if "redis_version" in line),
        None,
    )
    info["config"] = asdict(cfg)
    (out / "meta.json").write_text(json.dumps(info, indent=2) + "\n")
    db = workdir / "bench.sqlite3"
    user_ids = create_users(db, max(cfg.connections * max(cfg.processes), cfg.big) + 1)
    os.environ.update(
        {
            "LIVEPUSH_TEST_DB": str(db),
            "LIVEPUSH_TEST_REDIS_URL": redis_server.url,
            "DJANGO_SETTINGS_MODULE": SETTINGS,
        }
    )
    import django

    django.setup()
    import redis.asyncio as aioredis

    from livepush.tokens import issue_access_token

    tokens: dict[int, str] = {}

    def token(uid: int) -> str:
        if uid not in tokens:
            tokens[uid] = issue_access_token(uid, lifetime=3600)
        return tokens[uid]

    pool = ClientPool(args.clients, args.client)
    await pool.start()
    redis = aioredis.from_url(redis_server.url)
    bench = Bench(cfg, pool, redis, user_ids, token, out)
    shared: dict[tuple[str, str], Deployment] = {}
    live: list[Deployment] = []

    def deploy(system: str, server: str, processes: int = 1) -> Deployment:
        dep = Deployment(
            system, server_of(system, server), workdir, redis_server.url, db, processes
        )
        live.append(dep)
        return dep

    try:
        wanted = [s for s in args.scenarios if s not in FRESH]
        if wanted:
            for scenario in wanted[:1]:
                for server, todo in plan(args, scenario):
                    for system, _ in todo:
                        shared[(system, server)] = deploy(system, server)
            start_all(list(shared.values()))
            print(f"started {len(shared)} shared deployments", flush=True)
        for bench.round in range(args.rounds):
            for scenario in args.scenarios:
                for server, todo in plan(args, scenario):
                    if scenario in FRESH:
                        deps = [deploy(system, server, p) for system, p in todo]
                        start_all(deps)
                    else:
                        deps = [shared[(system, server)] for system, _ in todo]
                    for dep in deps:
                        try:
                            await RUNNERS[scenario](bench, dep)
                            if (
                                scenario == "fanout"
                                and cfg.big
                                and dep.system in BIG_SYSTEMS
                                and server_of(dep.system, "uvicorn") == dep.server
                            ):
                                await RUNNERS[scenario](bench, dep, cfg.big)
                        except Exception as exc:
                            print(f"  ! {scenario} {dep.system} {dep.server}: {exc!r}", flush=True)
                            await pool.stop()
                            pool = bench.pool = ClientPool(args.clients, args.client)
                            await pool.start()
                        if scenario in FRESH:
                            dep.stop()
                            live.remove(dep)
    finally:
        await pool.stop()
        for dep in live:
            dep.stop()
        await redis.aclose()
        redis_server.stop()
        keep_logs(workdir, out)
    info["duration_s"] = round(time.monotonic() - started, 1)
    info["records"] = len(bench.records)
    (out / "meta.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"{len(bench.records)} records in {out} ({info['duration_s']:.0f}s)", flush=True)


def cli(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    args.cfg = QUICK if args.quick else Config(big=10_000 if args.big else 0)
    asyncio.run(main(args, argv))


if __name__ == "__main__":
    cli()
