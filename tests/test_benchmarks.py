"""The benchmark harness runs end to end: ``python -m benchmarks.run --quick`` on a subset.

A subprocess, as a user would run it, with its own redis-server and servers on free ports; the
records it writes name every requested system and scenario, and at the quick run's light load
every push is delivered.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from benchmarks.results import read_records

from .servers import ROOT, django_env, redis_binary

pytestmark = [pytest.mark.live, pytest.mark.redis]

SYSTEMS = ("raw-websockets", "channels", "livepush", "livepush-presence")
SCENARIOS = ("fanout", "many_users", "storm", "idle")


def test_quick_run_writes_a_record_per_system_and_scenario(tmp_path):
    redis_binary()
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.run",
            "--quick",
            "--rounds",
            "1",
            "--servers",
            "uvicorn",
            "--systems",
            ",".join(SYSTEMS),
            "--scenarios",
            ",".join(SCENARIOS),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=django_env({}),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "  ! " not in result.stdout, result.stdout
    records = list(read_records(out))
    seen = {(r["system"], r["scenario"]) for r in records}
    assert seen == {(system, scenario) for system in SYSTEMS for scenario in SCENARIOS}
    for record in records:
        server = "websockets" if record["system"] == "raw-websockets" else "uvicorn"
        assert record["server"] == server
        if record["scenario"] in ("fanout", "many_users"):
            assert record["deliveries"] > 0, record
            assert record["lost"] == 0, record
            assert record["latency_ms"]["p50"] > 0, record
        elif record["scenario"] == "storm":
            assert record["refused"] == 0, record
            assert record["connect_s"] > 0, record
        else:
            assert record["rss_kib_per_conn"] > 0, record
    meta = json.loads((out / "meta.json").read_text())
    assert meta["cpu_count"], meta
    assert meta["websockets"], meta


def test_the_harness_needs_no_pytest():
    """``pip install -e ".[bench]"`` has no pytest: nothing the harness imports may need it."""
    code = (
        "import sys; sys.modules['pytest'] = None\n"
        "import benchmarks.run, benchmarks.report, benchmarks.clients, benchmarks.raw_asgi\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=django_env({}),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_a_run_refuses_a_folder_that_holds_results(tmp_path, capsys):
    """The report takes medians over a folder's records: a second run must not mix into it."""
    from benchmarks import run

    (tmp_path / "results.jsonl").write_text("{}\n")
    with pytest.raises(SystemExit):
        run.parse_args(["--out", str(tmp_path)])
    assert "give each run a new --out folder" in capsys.readouterr().err
    assert run.parse_args(["--out", str(tmp_path / "new")]).out == tmp_path / "new"
