"""The fan-out benchmark for two revisions of the library, interleaved in one run.

Usage, from the repository root::

    python -m benchmarks.compare BEFORE [AFTER] [--rounds 3] [--server uvicorn]
        [--clients 500] [--messages 40] [--python PYTHON]

``BEFORE`` and ``AFTER`` are git revisions (``AFTER`` defaults to the working tree). Each is
checked out into a temporary worktree; then ``benchmarks/push_fanout.py`` runs for each in turn,
``--rounds`` times, alternating, so machine noise hits both alike. Each run imports the library
from its own tree (``PYTHONPATH``), with the same Python and packages. Prints every run's server
CPU per 1,000 deliveries and the medians, and the ratio AFTER / BEFORE.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULT = re.compile(r"django-livepush:\s+([\d.]+) ms")


def checkout(revision: str | None, into: Path) -> Path:
    if revision is None:
        return ROOT
    path = into / revision.replace("/", "_")
    subprocess.run(
        ["git", "worktree", "add", "--detach", "--quiet", str(path), revision],
        cwd=ROOT,
        check=True,
    )
    return path


def run(tree: Path, args: argparse.Namespace) -> float:
    command = [
        args.python,
        "benchmarks/push_fanout.py",
        "--server",
        args.server,
        "--clients",
        str(args.clients),
        "--messages",
        str(args.messages),
    ]
    env_path = str(tree / "src")
    result = subprocess.run(
        command,
        cwd=tree,
        env={**os.environ, "PYTHONPATH": env_path},
        capture_output=True,
        text=True,
        check=False,
    )
    match = RESULT.search(result.stdout)
    if match is None:
        raise RuntimeError(f"no result from {tree}:\n{result.stdout}\n{result.stderr[-3000:]}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after", nargs="?")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="uvicorn")
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--messages", type=int, default=40)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="livepush-compare-") as tmp:
        trees = {
            "before": checkout(args.before, Path(tmp)),
            "after": checkout(args.after, Path(tmp)),
        }
        try:
            results: dict[str, list[float]] = {name: [] for name in trees}
            for round_ in range(1, args.rounds + 1):
                for name, tree in trees.items():
                    value = run(tree, args)
                    results[name].append(value)
                    print(f"round {round_} {name:6} {value:6.1f} ms server CPU / 1,000 deliveries")
        finally:
            for tree in trees.values():
                if tree != ROOT:
                    subprocess.run(
                        ["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False
                    )
    before = statistics.median(results["before"])
    after = statistics.median(results["after"])
    print(
        f"median: before {before:.1f} ms, after {after:.1f} ms, after/before {after / before:.2f} "
        f"({args.server}, {args.clients} clients x {args.messages} broadcasts, {args.python})"
    )


if __name__ == "__main__":
    main()
