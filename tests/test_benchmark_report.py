"""benchmarks.report on synthetic results: medians over rounds, the goals' ratios, the plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from benchmarks import report
from benchmarks.results import write_record

PNG = b"\x89PNG\r\n\x1a\n"
CONNECTIONS = 1000
# At the highest fanout rate (10 broadcasts/s x 1,000 connections): (server CPU ms/1k, p99 ms).
FANOUT = {
    ("websockets", "raw-websockets"): (10.0, 20.0),
    ("uvicorn", "raw-asgi"): (8.0, 18.0),
    ("uvicorn", "channels"): (30.0, 60.0),
    ("uvicorn", "livepush"): (12.0, 22.0),
    ("uvicorn", "livepush-presence"): (14.0, 25.0),  # 1.4 and 1.25 of raw: met; 14/12 = 1.17
    ("uvicorn", "livepush-recovery"): (16.0, 28.0),
    ("daphne", "raw-asgi"): (12.0, 30.0),
    ("daphne", "channels"): (40.0, 80.0),
    ("daphne", "livepush"): (16.0, 35.0),
    ("daphne", "livepush-presence"): (20.0, 40.0),  # 2.0 and 2.0: not met; 20/16 = 1.25
}
STORM = {"uvicorn": (2.0, 2.2), "daphne": (2.0, 3.0)}  # livepush, livepush-presence server_cpu_s
IDLE = {"uvicorn": (40.0, 36.0), "daphne": (40.0, 48.0)}  # channels, livepush-presence KiB/conn
PROCESSES = {  # delivered/s at P=1 and P=3
    ("uvicorn", "livepush"): (5000.0, 15000.0),  # 1.0
    ("uvicorn", "livepush-presence"): (5000.0, 14000.0),  # 0.93
    ("daphne", "livepush-presence"): (5000.0, 12000.0),  # 0.8
}


def spread(record: dict[str, Any], round_: int) -> dict[str, Any]:
    """Round 0 has every number 20% low and round 1 20% high: the median is the number given."""
    factor = (0.8, 1.2)[round_]

    def scale(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: scale(v) for k, v in value.items()}
        return value * factor if isinstance(value, float) else value

    return {**scale(record), "round": round_}


def records() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for (server, system), (cpu, p99) in FANOUT.items():
        for rate, worse in ((1, 3.0), (10, 1.0)):  # the lower rate would fail every goal
            out.append({
                "scenario": "fanout", "server": server, "system": system, "rate": rate,
                "connections": CONNECTIONS, "processes": 1, "duration_s": 10.0,
                "delivered_per_s": rate * CONNECTIONS * 1.0, "lost": 0,
                "server_cpu_ms_per_1k": cpu * worse, "client_cpu_ms_per_1k": 5.0,
                "latency_ms": {"p50": p99 / 4 * worse, "p90": p99 / 2, "p99": p99 * worse,
                               "max": p99 * 2},
            })  # fmt: skip
    for server in ("uvicorn", "daphne"):
        base = {"server": server, "connections": CONNECTIONS, "processes": 1}
        for system, cpu_s in zip(("livepush", "livepush-presence"), STORM[server], strict=True):
            out.append({**base, "scenario": "storm", "system": system, "connect_s": 1.5,
                        "refused": 0, "server_cpu_s": cpu_s, "redis_commands": 3000,
                        "presence_frames": 2.0})  # fmt: skip
        for system, kib in zip(("channels", "livepush-presence"), IDLE[server], strict=True):
            out.append({**base, "scenario": "idle", "system": system, "rss_kib_per_conn": kib})
        out.append({**base, "scenario": "users", "system": "livepush", "rate": 100,
                    "delivered_per_s": 100.0, "server_cpu_ms_per_1k": 90.0,
                    "latency_ms": {"p50": 2.0, "p99": 9.0}, "lost": 0})  # fmt: skip
        out.append({**base, "scenario": "many_users", "system": "livepush", "rate": None,
                    "deliveries": 1000, "server_cpu_ms_per_1k": 40.0, "redis_commands": 12,
                    "latency_ms": {"p50": 20.0, "p99": 45.0}, "lost": 0})  # fmt: skip
    for (server, system), delivered in PROCESSES.items():
        for processes, value in zip((1, 3), delivered, strict=True):
            out.append({"scenario": "processes", "server": server, "system": system,
                        "connections": CONNECTIONS * processes, "rate": 10, "processes": processes,
                        "delivered_per_s": value, "server_cpu_ms_per_1k": 10.0 * processes ** 0.5,
                        "lost": 0})  # fmt: skip
    return out


def write(folder: Path, chosen: list[dict[str, Any]]) -> None:
    for round_ in (0, 1):
        for record in chosen:
            write_record(folder, spread(record, round_))
    meta = {"versions": {"livepush": "0.9", "uvicorn": "0.30"}, "cpu_count": 8,
            "uname": "Linux test 6.1 x86_64", "command": ["python", "-m", "benchmarks.run"]}  # fmt: skip
    (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")


def goal_rows(markdown: str) -> dict[tuple[str, str, str], tuple[str, str]]:
    """(goal up to its colon, server, system) -> (ratio, result), from report.md's goals table."""
    section = markdown.split("## Goals\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("| ").split(" | ") for line in section.splitlines() if line.startswith("|")]
    return {(r[0].split(":")[0], r[1], r[2]): (r[3], r[5]) for r in rows[2:]}


def test_the_report_of_every_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run, docs = tmp_path / "run", tmp_path / "docs" / "img"
    write(run, records())

    assert report.main([str(run), "--plots", str(docs)]) == 0

    markdown = (run / "report.md").read_text(encoding="utf-8")
    goals = goal_rows(markdown)
    lp = "livepush-presence"
    assert goals[("CPU per 1k, fanout", "uvicorn", lp)] == ("1.40", "met")
    assert goals[("CPU per 1k, fanout", "daphne", lp)] == ("2.00", "not met")
    assert goals[("p99 latency, fanout", "uvicorn", lp)] == ("1.25", "met")
    assert goals[("p99 latency, fanout", "daphne", lp)] == ("2.00", "not met")
    fanout_cost, storm_cost = "presence cost, fanout server_cpu_ms_per_1k", "presence cost, storm server_cpu_s"  # fmt: skip
    assert goals[(fanout_cost, "uvicorn", lp)] == ("1.17", "met")
    assert goals[(fanout_cost, "daphne", lp)] == ("1.25", "not met")
    assert goals[(storm_cost, "uvicorn", lp)] == ("1.10", "met")
    assert goals[(storm_cost, "daphne", lp)] == ("1.50", "not met")
    assert goals[("idle KiB per connection", "uvicorn", lp)] == ("0.90", "met")
    assert goals[("idle KiB per connection", "daphne", lp)] == ("1.20", "not met")
    assert goals[("scaling", "uvicorn", "livepush")] == ("1.00", "met")
    assert goals[("scaling", "uvicorn", lp)] == ("0.93", "met")
    assert goals[("scaling", "daphne", lp)] == ("0.80", "not met")
    assert "÷ raw-asgi on uvicorn: 1.75" in markdown  # the context: 14 / 8
    assert "CPU/1k P=3 ÷ P=1: 1.73" in markdown
    assert (
        "| daphne | livepush-presence | 3,000 | 10 | 3 | 5,000 | 12,000 | 10 | 17.3 | 0.80 |"
        in markdown
    )

    for heading in (
        "## fanout",
        "## users",
        "## many_users",
        "## storm",
        "## idle",
        "## processes",
    ):
        assert heading in markdown
    assert "### 1,000 connections, 10 broadcasts/s (10,000 deliveries/s offered)" in markdown
    assert "| uvicorn | livepush-presence | 35.2 |" not in markdown  # KiB first, then MiB
    assert "| uvicorn | livepush-presence | 36 | 35.2 |" in markdown
    assert '"cpu_count"' not in markdown
    assert "- cpu_count: `8`" in markdown

    printed = capsys.readouterr().out
    assert "| CPU per 1k, fanout: ÷ raw-websockets | daphne | livepush-presence | 2.00 |" in printed

    names = ["latency_vs_rate_uvicorn.png", "latency_vs_rate_daphne.png", "cpu_per_1k.png",
             "memory_per_1k.png", "processes.png"]  # fmt: skip
    for folder in (run, docs):
        for name in names:
            data = (folder / name).read_bytes()
            assert data.startswith(PNG), name
            assert len(data) > 5000, name
    assert not (run / "latency_vs_rate_websockets.png").exists()
    for name in names:
        assert f"]({name})" in markdown


def test_one_scenario_leaves_the_other_goals_not_measured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, [r for r in records() if r["scenario"] == "idle"])

    assert report.main([str(tmp_path)]) == 0

    goals = goal_rows((tmp_path / "report.md").read_text(encoding="utf-8"))
    assert goals[("idle KiB per connection", "uvicorn", "livepush-presence")] == ("0.90", "met")
    others = {key: value for key, value in goals.items() if not key[0].startswith("idle")}
    assert others
    assert set(others.values()) == {("-", "not measured")}
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["memory_per_1k.png"]
    assert "skipping" in capsys.readouterr().out


def test_an_empty_results_file_gives_a_report(tmp_path: Path) -> None:
    (tmp_path / "results.jsonl").write_text("", encoding="utf-8")
    assert report.main([str(tmp_path)]) == 0
    assert "No meta.json." in (tmp_path / "report.md").read_text(encoding="utf-8")


def test_the_median_over_rounds(tmp_path: Path) -> None:
    base = {"scenario": "idle", "server": "uvicorn", "system": "channels", "connections": 10}
    for round_, kib in enumerate((30.0, 31.0, 90.0)):
        write_record(tmp_path, {**base, "round": round_, "rss_kib_per_conn": kib})
    [(key, fields)] = report.aggregate(tmp_path).items()
    assert key == report.Key("idle", "uvicorn", "channels", 10, 0.0, 1)
    assert fields["rss_kib_per_conn"] == 31.0


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", r"results\.jsonl:2: not JSON"),
        ('{"scenario": "idle", "server": "uvicorn"}', r"record 2: not a benchmark record"),
        ('["idle"]', r"record 2: not a benchmark record"),
        ('{"scenario": "idle", "server": "uvicorn", "system": "nope"}', r"unknown scenario"),
        ('{"scenario": "fanout", "server": "uvicorn", "system": "livepush", "latency_ms": '
         '{"p99": "slow"}}', r"record 2: latency_p99 is not a number"),
        ('{"scenario": "idle", "server": "uvicorn", "system": "livepush", "connections": "x"}',
         r"record 2: not a benchmark record"),
    ],
)  # fmt: skip
def test_a_malformed_line_is_a_clear_error(tmp_path: Path, line: str, message: str) -> None:
    write(tmp_path, [r for r in records() if r["scenario"] == "storm"][:1])
    with (tmp_path / "results.jsonl").open("r+", encoding="utf-8") as results:
        first = results.readline()
        results.seek(0)
        results.truncate()
        results.write(first + line + "\n")
    with pytest.raises(ValueError, match=message):
        report.main([str(tmp_path)])
