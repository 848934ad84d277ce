"""The benchmark report: tables, goals and plots from a harness run's ``results.jsonl``.

Usage, from the repository root::

    python -m benchmarks.report DIR [--plots docs/img/benchmarks]

Reads ``DIR/results.jsonl`` (see ``benchmarks.results``) and ``DIR/meta.json``, takes the median
over rounds of every field per (scenario, server, system, connections, rate, processes), writes
``DIR/report.md`` and the PNG plots into ``DIR`` (and copies the plots into ``--plots``), and
prints the goals table. A goal whose data is missing says "not measured".
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import matplotlib

matplotlib.use("Agg")
from matplotlib import pyplot as plt

from benchmarks.results import RESULTS, SCENARIOS, SERVERS, SYSTEMS, read_records

RAW, DEFAULTS, ASGI = (
    "raw-websockets",
    "livepush-presence",
    [s for s in SERVERS if s != "websockets"],
)
CPU = "server_cpu_ms_per_1k"
COLORS = {system: plt.get_cmap("tab10")(i) for i, system in enumerate(SYSTEMS)}
LOADED = (
    "delivered/s=delivered_per_s;server CPU ms/1k=server_cpu_ms_per_1k;client CPU ms/1k="
    "client_cpu_ms_per_1k;p50 ms=latency_p50;p99 ms=latency_p99;lost=lost;Redis commands="
    "redis_commands"
)
COLUMNS = {
    "fanout": LOADED,
    "users": LOADED,
    "many_users": LOADED,
    "processes": LOADED,
    "storm": "connect s=connect_s;refused=refused;server CPU s=server_cpu_s;Redis commands="
    "redis_commands;presence frames/client=presence_frames",
    "idle": "KiB/connection=rss_kib_per_conn;MiB per 1,000=mib_per_1k",
}
GOAL_HEADER = ["goal", "server", "system", "ratio", "target", "result", "measured at", "context"]
SPECS = {s: [c.split("=") for c in spec.split(";")] for s, spec in COLUMNS.items()}
NUMERIC = {field for spec in SPECS.values() for _, field in spec} | {"deliveries", "expected"}
Load = tuple[int, float, int]
Fields = dict[str, float]


class Key(NamedTuple):
    scenario: str
    server: str
    system: str
    connections: int
    rate: float
    processes: int

    @property
    def load(self) -> Load:
        return (self.connections, self.rate, self.processes)


Results = dict[Key, Fields]


def weight(load: Load) -> tuple[float, int, float, int]:
    """Heavier loads sort later: offered deliveries/s, then connections, rate, processes."""
    return (load[0] * load[1], *load)


def order(key: Key) -> tuple[Any, ...]:
    return (SERVERS.index(key.server), SYSTEMS.index(key.system), weight(key.load))


def aggregate(folder: Path) -> Results:
    """The median over rounds of every numeric field, per :class:`Key`."""
    samples: dict[Key, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for index, record in enumerate(read_records(folder), 1):
        where = f"{folder / RESULTS}: record {index}"
        try:
            names = [record[f] for f in ("scenario", "server", "system")]
            load = (
                record.get("connections") or 0,
                record.get("rate") or 0,
                record.get("processes"),
            )
            key = Key(*names, int(load[0]), float(load[1]), int(load[2] or 1))
            latency = {f"latency_{name}": v for name, v in (record.get("latency_ms") or {}).items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(
                f"{where}: not a benchmark record ({exc!r}): {record!r:.200}"
            ) from None
        if key.scenario not in SCENARIOS or key.server not in SERVERS or key.system not in SYSTEMS:
            raise ValueError(f"{where}: unknown scenario, server or system: {names}")
        for name, value in {**record, **latency}.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if name not in Key._fields and name != "round":
                    samples[key][name].append(float(value))
            elif value is not None and (name in NUMERIC or name in latency):
                raise ValueError(f"{where}: {name} is not a number: {value!r}")
    results = {k: {n: statistics.median(v) for n, v in f.items()} for k, f in samples.items()}
    for fields in results.values():
        if "rss_kib_per_conn" in fields:
            fields["mib_per_1k"] = fields["rss_kib_per_conn"] * 1000 / 1024
    return results


def number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(row) + " |" for row in lines) + "\n"


def load_title(scenario: str, load: Load) -> str:
    connections, rate, _ = load
    if scenario in ("fanout", "processes"):
        offered = f"{connections * rate:,.0f} deliveries/s offered"
        return f"{connections:,} connections, {rate:g} broadcasts/s ({offered})"
    if scenario == "users":
        return f"{connections:,} users, {rate:g} pushes/s"
    noun = {"storm": "connects at once", "many_users": "users in one push"}
    return f"{connections:,} {noun.get(scenario, 'idle connections')}"


def scenario_tables(results: Results, scenario: str) -> str:
    keys = sorted((k for k in results if k.scenario == scenario), key=order)
    out = []
    for load in sorted({k.load for k in keys}, key=weight):
        rows = [k for k in keys if k.load == load]
        columns = [(label, f) for label, f in SPECS[scenario] if any(f in results[k] for k in rows)]
        body = [
            [k.server, k.system, *(number(results[k].get(f)) for _, f in columns)] for k in rows
        ]
        out.append(f"### {load_title(scenario, load)}\n")
        out.append(table(["server", "system", *(label for label, _ in columns)], body))
    return "\n".join(out)


class Scaling(NamedTuple):
    key: Key  # at the most processes
    one: Fields  # at P=1
    many: Fields

    @property
    def ratio(self) -> float | None:
        one, many = self.one.get("delivered_per_s"), self.many.get("delivered_per_s")
        return many / (self.key.processes * one) if one and many is not None else None


def scalings(results: Results) -> list[Scaling]:
    """Per (server, system), the processes scenario at P=1 and at the most P, heaviest load.

    P processes hold P times one process's connections (the same load per process).
    """
    found: dict[tuple[str, str], Scaling] = {}
    for key in sorted((k for k in results if k.scenario == "processes"), key=order):
        per_process = key.connections // key.processes
        one = results.get(key._replace(processes=1, connections=per_process))
        if key.processes > 1 and one is not None:
            found[(key.server, key.system)] = Scaling(key, one, results[key])
    return list(found.values())


def processes_table(results: Results) -> str:
    rows = []
    for s in scalings(results):
        values = [number(f.get(n)) for n in ("delivered_per_s", "server_cpu_ms_per_1k")
                  for f in (s.one, s.many)]  # fmt: skip
        load = [f"{s.key.connections:,}", f"{s.key.rate:g}", str(s.key.processes)]
        ratio = "-" if s.ratio is None else f"{s.ratio:.2f}"
        rows.append([s.key.server, s.key.system, *load, *values, ratio])
    header = "server,system,connections at P,broadcasts/s,P,delivered/s P=1,delivered/s at P,"
    header += "CPU ms/1k P=1,CPU ms/1k at P,delivered(P) ÷ (P x delivered(P=1))"
    return table(header.split(","), rows)


@dataclass
class Goal:
    name: str
    server: str
    system: str
    limit: float
    at_least: bool = False
    ratio: float | None = None
    where: str = ""
    context: str = ""

    @property
    def result(self) -> str:
        if self.ratio is None:
            return "not measured"
        met = self.ratio >= self.limit if self.at_least else self.ratio <= self.limit
        return "met" if met else "not met"

    def row(self) -> list[str]:
        ratio = "-" if self.ratio is None else f"{self.ratio:.2f}"
        target = f"{'>=' if self.at_least else '<='} {self.limit:g}"
        return [self.name, self.server, self.system, ratio, target, self.result, self.where,
                self.context]  # fmt: skip


def ratio(results: Results, scenario: str, field: str, top: Sequence[str], bottom: Sequence[str]
          ) -> tuple[float | None, str]:  # fmt: skip
    """``top / bottom``, each a (server, system), at the heaviest load both measured."""

    def values(pair: Sequence[str]) -> dict[Load, float]:
        wanted = (scenario, *pair)
        return {k.load: f[field] for k, f in results.items() if k[:3] == wanted and field in f}

    above, below = values(top), values(bottom)
    common = [load for load in above if below.get(load)]
    if not common:
        return None, ""
    load = max(common, key=weight)
    return above[load] / below[load], load_title(scenario, load)


def goals(results: Results) -> list[Goal]:
    servers = [s for s in ASGI if any(k.server == s for k in results)] or ASGI
    out = []
    for server in servers:
        mine = (server, DEFAULTS)
        for name, field in (("CPU per 1k", "server_cpu_ms_per_1k"), ("p99 latency", "latency_p99")):
            value, where = ratio(results, "fanout", field, mine, ("websockets", RAW))
            asgi, _ = ratio(results, "fanout", field, mine, (server, "raw-asgi"))
            context = "" if asgi is None else f"÷ raw-asgi on {server}: {asgi:.2f}"
            out.append(Goal(f"{name}, fanout: ÷ {RAW}", *mine, 1.5, False, value, where, context))
        for scenario, field in (("fanout", "server_cpu_ms_per_1k"), ("storm", "server_cpu_s")):
            value, where = ratio(results, scenario, field, mine, (server, "livepush"))
            name = f"presence cost, {scenario} {field}: ÷ livepush"
            out.append(Goal(name, *mine, 1.2, False, value, where))
        value, where = ratio(results, "idle", "rss_kib_per_conn", mine, (server, "channels"))
        out.append(Goal("idle KiB per connection: ÷ channels", *mine, 1.0, False, value, where))
        scaled = [s for s in scalings(results) if s.key.server == server]
        for s in scaled:
            p, cpu1, cpu = s.key.processes, s.one.get(CPU), s.many.get(CPU)
            context = f"CPU/1k P={p} ÷ P=1: {cpu / cpu1:.2f}" if cpu1 and cpu is not None else ""
            name, where = (
                f"scaling: delivered/s P={p} ÷ ({p} x P=1)",
                load_title("fanout", s.key.load),
            )
            out.append(Goal(name, server, s.key.system, 0.85, True, s.ratio, where, context))
        if not scaled:
            out.append(Goal("scaling: delivered/s P=3 ÷ (3 x P=1)", server, "all", 0.85, True))
    return out


def bars(ax: Any, groups: list[str], series: list[tuple[str, Any, dict[str, float]]]
         ) -> tuple[dict[tuple[str, str], float], float]:  # fmt: skip
    """Grouped bars, each group's bars side by side; returns each (series, group) bar's x."""
    most = max((sum(g in values for *_, values in series) for g in groups), default=1)
    width, spots, labelled = 0.8 / max(most, 1), {}, set()
    for n, group in enumerate(groups):
        present = [(label, color, values[group]) for label, color, values in series
                   if group in values]  # fmt: skip
        for i, (label, color, value) in enumerate(present):
            spots[(label, group)] = x = n + (i - (len(present) - 1) / 2) * width
            ax.bar(x, value, width, color=color, label=None if label in labelled else label)
            labelled.add(label)
    ax.set_xticks(range(len(groups)), groups)
    return spots, width


def save(fig: Any, ax: Any, path: Path, labels: tuple[str, str], title: str, **legend: Any) -> Path:
    ax.set(xlabel=labels[0], ylabel=labels[1], title=title)
    ax.grid(alpha=0.3)
    ax.margins(y=0.15)
    ax.legend(fontsize="small", **legend)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def latency_plot(results: Results, server: str, out: Path) -> Path:
    fanout = [k for k, f in results.items() if k.scenario == "fanout" and "latency_p99" in f]
    connections = max((k.connections for k in fanout if k.server == server), default=0)
    fig, ax = plt.subplots(figsize=(11, 5.5))
    for system in SYSTEMS:
        keys = sorted((k for k in fanout if k.system == system and k.connections == connections
                       and k.server in (server, "websockets")), key=order)  # fmt: skip
        for pct, style in (("p99", "-o"), ("p50", ":s")):
            ys = [results[k].get(f"latency_{pct}", float("nan")) for k in keys]
            if keys:
                xs = [k.rate * k.connections for k in keys]
                ax.plot(xs, ys, style, color=COLORS[system], label=f"{system} {pct}")
    ax.set_yscale("log")
    rates = [k.rate * k.connections for k in fanout if k.connections == connections and k.rate]
    if rates and max(rates) >= 10 * min(rates):
        ax.set_xscale("log")
    title = f"fanout latency on {server}, {connections:,} connections ({RAW} as the ceiling)"
    labels = ("offered deliveries/s (broadcasts/s x connections)", "latency, push to delivery (ms)")
    outside = {"loc": "upper left", "bbox_to_anchor": (1.01, 1)}
    return save(fig, ax, out / f"latency_vs_rate_{server}.png", labels, title, **outside)


def bar_plot(results: Results, scenario: str, field: str, out: Path) -> Path | None:
    """Bars per system grouped by server at the scenario's heaviest load: CPU or memory."""
    loads = [k.load for k, f in results.items() if k.scenario == scenario and field in f]
    if not loads:
        print(f"no {scenario} records with {field}: skipping its plot")
        return None
    load = max(loads, key=weight)
    keys = [
        k for k, f in results.items() if (k.scenario, k.load) == (scenario, load) and field in f
    ]
    groups = [s for s in SERVERS if any(k.server == s for k in keys)]
    values = {s: {k.server: results[k][field] for k in keys if k.system == s} for s in SYSTEMS}
    fig, ax = plt.subplots(figsize=(9, 5.5))
    spots, width = bars(ax, groups, [(s, COLORS[s], values[s]) for s in SYSTEMS if values[s]])
    if scenario == "idle":
        labels = ("server", "resident memory, MiB per 1,000 idle connections")
        title = f"idle memory by server, {load[0]:,} connections"
        return save(fig, ax, out / "memory_per_1k.png", labels, title)
    label: str | None = "client CPU (lighter, stacked)"
    for k in keys:
        if (client := results[k].get("client_cpu_ms_per_1k")) is not None:
            x, bottom, color = spots[(k.system, k.server)], results[k][field], COLORS[k.system]
            ax.bar(x, client, width, bottom=bottom, color=color, alpha=0.3, hatch="//", label=label)
            label = None
    labels = ("server", "CPU ms per 1,000 deliveries (server, then client)")
    title = f"fanout CPU by server: {load_title(scenario, load)}"
    return save(fig, ax, out / "cpu_per_1k.png", labels, title)


def processes_plot(results: Results, out: Path) -> Path | None:
    scaled = scalings(results)
    if not scaled:
        print("no processes records at P=1 and P>1: skipping processes.png")
        return None
    n = max(s.key.processes for s in scaled)
    groups = [f"{s.key.system}\n({s.key.server})" for s in scaled]
    one = {g: s.one.get("delivered_per_s", 0.0) for g, s in zip(groups, scaled, strict=True)}
    many = {g: s.many.get("delivered_per_s", 0.0) for g, s in zip(groups, scaled, strict=True)}
    fig, ax = plt.subplots(figsize=(max(9.0, 1.6 * len(groups)), 5.5))
    spots, width = bars(ax, groups, [("P=1", "tab:blue", one), (f"P={n}", "tab:orange", many)])
    for i, (g, s) in enumerate(zip(groups, scaled, strict=True)):
        x, label = spots[(f"P={n}", g)], f"ideal: {n} x P=1" if i == 0 else None
        ideal, ends = s.key.processes * one[g], (x - width / 2, x + width / 2)
        ax.hlines(ideal, *ends, colors="black", linestyles="--", label=label)
    each = sorted({s.key.connections // s.key.processes for s in scaled})
    title = f"fanout across server processes, {', '.join(f'{c:,}' for c in each)} connections each"
    return save(fig, ax, out / "processes.png", ("system (server)", "delivered/s"), title)


def plots(results: Results, out: Path) -> list[Path | None]:
    servers = [s for s in ASGI if any((k.scenario, k.server) == ("fanout", s) for k in results)]
    if not servers:
        print("no fanout records: skipping latency_vs_rate_*.png")
    made: list[Path | None] = [latency_plot(results, server, out) for server in servers]
    made += [bar_plot(results, "fanout", CPU, out), bar_plot(results, "idle", "mib_per_1k", out)]
    return [*made, processes_plot(results, out)]


def meta_lines(folder: Path) -> str:
    path = folder / "meta.json"
    if not path.exists():
        return "No meta.json.\n"
    meta = json.loads(path.read_text(encoding="utf-8"))
    return "".join(
        f"- {k}: `{v if isinstance(v, str) else json.dumps(v)}`\n" for k, v in meta.items()
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__)
    parser.add_argument("folder", type=Path, help="the harness's output folder")
    parser.add_argument("--plots", type=Path, help="also copy the PNGs here")
    args = parser.parse_args(argv)
    folder: Path = args.folder
    if not (folder / RESULTS).exists():
        parser.error(f"no {RESULTS} in {folder}")
    results = aggregate(folder)
    goal_table = table(GOAL_HEADER, [g.row() for g in goals(results)])
    made = [path for path in plots(results, folder) if path is not None]
    parts = ["# Benchmark report\n", meta_lines(folder), "Medians over rounds.\n", "## Goals\n"]
    parts.append(goal_table)
    for scenario in SCENARIOS:
        if scenario == "processes" and scalings(results):
            parts += ["## processes\n", processes_table(results)]
        elif any(k.scenario == scenario for k in results):
            parts += [f"## {scenario}\n", scenario_tables(results, scenario)]
    if made:
        parts += ["## Plots\n", *(f"![{path.stem}]({path.name})\n" for path in made)]
    (folder / "report.md").write_text("\n".join(parts), encoding="utf-8")
    if args.plots:
        args.plots.mkdir(parents=True, exist_ok=True)
        for path in made:
            shutil.copy2(path, args.plots / path.name)
    print(goal_table, end="")
    print(f"wrote {folder / 'report.md'} and {len(made)} plots")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ValueError as exc:
        sys.exit(f"benchmarks.report: {exc}")
