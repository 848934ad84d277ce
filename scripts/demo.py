#!/usr/bin/env python3
"""Run the demo: ``python scripts/demo.py`` serves it on http://127.0.0.1:8000/.

Creates ``.venv`` beside this repository on first use (the same one as the tests), installs the
package and daphne into it, migrates the demo's SQLite database, creates the demo users (printed
below) and runs ``manage.py runserver``. Needs only Python 3.10+ and pip; set REDIS_URL (or
REDIS_HOST) to push through Redis instead of the in-memory channel layer.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("LIVEPUSH_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
EXAMPLE = ROOT / "example_project"


def run(*args: str | Path, cwd: Path = ROOT) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], cwd=cwd, check=True)


def main(argv: list[str]) -> int:
    address = argv[0] if argv else "127.0.0.1:8000"
    python = BIN / "python"
    if not python.exists():
        venv.create(VENV, with_pip=True)
        run(python, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(python, "-m", "pip", "install", "--quiet", "--editable", ".", "daphne>=4.2.2")
    run(python, "manage.py", "migrate", "--verbosity", "0", cwd=EXAMPLE)
    run(python, "manage.py", "demo_setup", cwd=EXAMPLE)
    print(f"\nOpen http://{address}/ and log in (two browsers to see pushes cross).\n", flush=True)
    return subprocess.run([str(python), "manage.py", "runserver", address], cwd=EXAMPLE).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
