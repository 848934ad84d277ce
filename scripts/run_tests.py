#!/usr/bin/env python3
"""Run the test suite in a virtualenv of its own: ``python scripts/run_tests.py [pytest args]``.

Creates ``.venv`` beside this repository on first use, installs the package with its test extras
into it, then runs pytest. Needs only Python 3.10+ and pip; the Redis tests are skipped when
``redis-server`` is not installed (``LIVEPUSH_REQUIRE_REDIS=1`` makes that a failure instead).
``--lint`` also runs ruff and mypy. With npm on the machine it installs the JavaScript tests' dev
dependencies (``npm ci``); the browser tests need Debian's ``chromium``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("LIVEPUSH_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def run(*args: str | Path) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], cwd=ROOT, check=True)


def main(argv: list[str]) -> int:
    lint = "--lint" in argv
    pytest_args = [a for a in argv if a != "--lint"]
    python = BIN / "python"
    if not python.exists():
        venv.create(VENV, with_pip=True)
        run(python, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    extras = ".[test,lint,type,docs]" if lint else ".[test]"
    run(python, "-m", "pip", "install", "--quiet", "--editable", extras)
    # The JavaScript tests' dev dependencies (React, TypeScript), when npm is there; without it
    # the JavaScript tests are skipped.
    npm = shutil.which("npm")
    if npm is not None and not (ROOT / "node_modules" / ".package-lock.json").exists():
        run(npm, "ci", "--no-audit", "--no-fund")
    if lint:
        run(
            python,
            "-m",
            "ruff",
            "check",
            "src",
            "tests",
            "scripts",
            "benchmarks",
            "example_project",
        )
        run(
            python,
            "-m",
            "ruff",
            "format",
            "--check",
            "src",
            "tests",
            "scripts",
            "benchmarks",
            "example_project",
        )
        run(python, "-m", "mypy")
    return subprocess.run([str(python), "-m", "pytest", *pytest_args], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
