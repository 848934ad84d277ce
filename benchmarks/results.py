"""The benchmark harness's results: one JSON object per line, one line per measurement.

``benchmarks.run`` appends records to ``results.jsonl`` in its output folder and
``benchmarks.report`` reads them back to build the tables and plots. A record is one system on
one server in one scenario at one load, in one round; the report takes medians over rounds.

Fields (absent or ``None`` where a scenario does not measure it):

``scenario``
    ``fanout`` (N connections, R broadcasts/s, open loop), ``users`` (N users with one
    connection each, R pushes/s to single users picked in turn), ``many_users`` (one push to a
    list of N users, as ``broadcast_ws_message(user_ids, ...)``), ``storm`` (N connects at once),
    ``idle`` (memory of N idle connections), ``processes`` (the fan-out across P server
    processes sharing Redis).
``system``
    ``raw-websockets`` (the ``websockets`` library's own server broadcasting a pre-encoded frame),
    ``raw-asgi`` (an ASGI app with one ``send`` per connection), ``channels`` (a consumer
    written the usual way, ``benchmarks.seed_consumer``), ``livepush`` (presence off),
    ``livepush-presence`` (the defaults: presence on), ``livepush-recovery`` (presence and
    recovery on).
``server``
    ``uvicorn``, ``daphne``, or ``websockets`` for the raw ``websockets`` server.
``round``, ``connections``, ``processes``
    The round (0-based), connections held, server processes.
``rate``
    Pushes per second offered (``fanout``, ``users``, ``processes``).
``duration_s``
    Seconds the load ran.
``pushes``, ``deliveries``, ``expected``, ``lost``
    Pushes made, frames received by the clients, frames that should have arrived, and
    ``expected - deliveries``.
``delivered_per_s``
    Deliveries per second over the measured window.
``server_cpu_ms_per_1k``, ``client_cpu_ms_per_1k``
    CPU (user + system, all server processes / all client processes) per 1,000 deliveries.
``latency_ms``
    ``{"p50", "p90", "p99", "max"}``: from the push (its ``sent_at``) to each delivery.
``connect_s``, ``refused``
    ``storm``: seconds until all N were open, and connects refused or closed.
``server_cpu_s``
    ``storm``: server CPU for the whole storm.
``rss_kib_per_conn``
    ``idle``: growth of the servers' resident memory per idle connection.
``redis_commands``
    Redis commands the scenario cost (``INFO commandstats`` before and after), in total.
``presence_frames``
    ``storm``: presence frames per client, mean.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: The systems in the order the report lists them.
SYSTEMS = (
    "raw-websockets",
    "raw-asgi",
    "channels",
    "livepush",
    "livepush-presence",
    "livepush-recovery",
)
SCENARIOS = ("fanout", "users", "many_users", "storm", "idle", "processes")
SERVERS = ("uvicorn", "daphne", "websockets")
RESULTS = "results.jsonl"


def write_record(folder: Path, record: dict[str, Any]) -> None:
    """Append one record to ``folder/results.jsonl``."""
    unknown = {record.get("scenario"), record.get("system"), record.get("server")} - {
        *SYSTEMS,
        *SCENARIOS,
        *SERVERS,
    }
    if unknown:
        raise ValueError(
            f"unknown scenario, system or server in record: {sorted(map(str, unknown))}"
        )
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / RESULTS).open("a", encoding="utf-8") as out:
        out.write(json.dumps(record, sort_keys=True) + "\n")


def read_records(folder: Path) -> Iterator[dict[str, Any]]:
    """The records in ``folder/results.jsonl``, in the order they were written."""
    with (folder / RESULTS).open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{folder / RESULTS}:{number}: not JSON: {exc}") from None
