#!/usr/bin/env python3
"""Run the demo: ``python scripts/demo.py [ADDRESS]`` serves it on http://127.0.0.1:8000/.

Creates ``.venv`` beside this repository on first use (the same one as the tests) and installs the
package and daphne into it: again only when pyproject.toml changed since, or the venv lost them (a
stamp in the venv records what was installed). Then migrates the demo's SQLite database, creates
the demo users (printed below) and runs ``manage.py runserver``, which reloads on code changes.
Stopping this script (Ctrl-C, SIGTERM, SIGHUP) stops the server with it. Needs only Python 3.10+
and pip; set REDIS_URL (or REDIS_HOST) to push through Redis instead of the in-memory channel
layer, LIVEPUSH_VENV to use another venv.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time
import venv
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "example_project"
VENV = Path(os.environ.get("LIVEPUSH_VENV", ROOT / ".venv"))
#: What the demo installs into the venv.
INSTALL = ("--editable", ".", "daphne>=4.2.2")
#: In the venv: the stamp() of the last install, written once pip succeeded.
STAMP_NAME = ".livepush-demo-stamp"
POSIX = os.name == "posix"
STOP_SIGNALS = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGHUP] if POSIX else [])
#: Seconds the server has to stop after each signal, before the next, stronger one.
GRACE = 5.0


def run(*args: str | Path, cwd: Path = ROOT) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], cwd=cwd, check=True)


def python_of(venv_dir: Path) -> Path:
    return venv_dir / ("Scripts" if os.name == "nt" else "bin") / "python"


def stamp(venv_dir: Path) -> str:
    """What an install into ``venv_dir`` depends on: pyproject.toml, this checkout, the
    interpreter the venv runs and what is installed."""
    digest = hashlib.sha256()
    for part in (
        (ROOT / "pyproject.toml").read_bytes(),
        str(ROOT).encode(),
        os.path.realpath(python_of(venv_dir)).encode(),
        " ".join(INSTALL).encode(),
    ):
        digest.update(part + b"\0")
    return digest.hexdigest()


def up_to_date(venv_dir: Path) -> bool:
    """Whether the last install into ``venv_dir`` had today's stamp() and still imports: this
    checkout's livepush (the editable install) and daphne."""
    try:
        recorded = (venv_dir / STAMP_NAME).read_text(encoding="utf-8").strip()
    except OSError:
        return False
    if recorded != stamp(venv_dir):
        return False
    check = (
        "import pathlib, sys, daphne, livepush; "
        f"sys.exit(not pathlib.Path(livepush.__file__).resolve().is_relative_to({str(ROOT)!r}))"
    )
    try:
        imports = subprocess.run(
            [str(python_of(venv_dir)), "-c", check], cwd=ROOT, capture_output=True
        )
    except OSError:  # no python there
        return False
    return imports.returncode == 0


def install(venv_dir: Path) -> None:
    """Install the package and daphne into ``venv_dir`` (made first if need be), unless done."""
    python = python_of(venv_dir)
    if not python.exists():
        print(f"Creating the venv {venv_dir}", flush=True)
        venv.create(venv_dir, with_pip=True)
        run(python, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    if up_to_date(venv_dir):
        print(
            f"Skipping pip install: {venv_dir} has this checkout's livepush and daphne, and "
            f"pyproject.toml is as they were installed with ({STAMP_NAME}).",
            flush=True,
        )
        return
    (venv_dir / STAMP_NAME).unlink(missing_ok=True)
    run(python, "-m", "pip", "install", "--quiet", *INSTALL)
    (venv_dir / STAMP_NAME).write_text(stamp(venv_dir) + "\n", encoding="utf-8")


def serve(python: Path, address: str) -> int:
    """Run ``manage.py runserver`` until it exits, or until this script is told to stop.

    runserver's autoreloader serves from a child process of its own: runserver ends it when it
    is interrupted or terminated, but not when it is killed, and neither stops when only this
    script does. So runserver leads a process group (a session) of its own, a stop signal this
    script receives goes to the whole group, and the script returns only once the group is gone.
    On Windows, Ctrl-C reaches every process of the console.
    """
    server: subprocess.Popen[bytes] | None = None
    stops: list[int] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        stops.append(signum)
        if server is not None:
            send(server, signum)

    for signum in STOP_SIGNALS:
        signal.signal(signum, forward)
    server = subprocess.Popen(
        [str(python), "manage.py", "runserver", address], cwd=EXAMPLE, start_new_session=POSIX
    )
    if stops:  # told to stop while it started
        send(server, stops[0])
    try:
        returncode = server.wait()
    finally:
        stop(server)
    if stops:
        print(f"Stopped the server ({signal.Signals(stops[0]).name}).", flush=True)
        return 0
    return returncode


def send(server: subprocess.Popen[bytes], signum: int) -> None:
    """Send ``signum`` to the server's process group (on Windows, end the server)."""
    if not POSIX:
        if server.poll() is None:
            server.terminate()
        return
    with contextlib.suppress(ProcessLookupError):  # gone already
        os.killpg(server.pid, signum)  # the session leader's pid is its group's id


def stop(server: subprocess.Popen[bytes]) -> None:
    """Wait until the server's process group is gone: a while after each signal, then the next."""
    if not POSIX:
        if server.poll() is None:
            server.terminate()
        server.wait()
        return
    for signum in (None, signal.SIGTERM, signal.SIGKILL):
        if signum is not None:
            print(f"The server is still running: sending {signum.name}.", flush=True)
            send(server, signum)
        deadline = time.monotonic() + GRACE
        while time.monotonic() < deadline:
            server.poll()  # reaped, runserver leaves its group; a zombie would stay in it
            try:
                os.killpg(server.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)  # no event says when a process of the group has gone: poll


def main(argv: list[str]) -> int:
    address = argv[0] if argv else "127.0.0.1:8000"
    os.environ["DJANGO_SETTINGS_MODULE"] = "demo.settings"  # whatever the shell has set
    install(VENV)
    python = python_of(VENV)
    run(python, "manage.py", "migrate", "--verbosity", "0", cwd=EXAMPLE)
    run(python, "manage.py", "demo_setup", cwd=EXAMPLE)
    print(f"\nOpen http://{address}/ and log in (two browsers to see pushes cross).\n", flush=True)
    return serve(python, address)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
