"""Real services for the tests: a redis-server, a Redis Sentinel and daphne, each on a free port
of its own.

Nothing here uses a fixed port or the machine's own Redis on 6379.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 30.0
#: The channel layers the real-socket suite runs over (LIVEPUSH_TEST_LAYER, see
#: tests/project/settings.py): livepush.layers.RedisChannelLayer and RedisPubSubChannelLayer.
LIVE_LAYERS = ("core", "pubsub")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) process ``pid`` has used so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_until(ready, proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    """Poll ``ready()`` until it is true; fail with the process's log if it dies or hangs."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        if ready():
            return
        time.sleep(0.05)  # polling a port that is not open yet; there is no event to await
    proc.kill()
    raise RuntimeError(
        f"{what} did not start within {STARTUP_TIMEOUT}s:\n{log.read_text()[-4000:]}"
    )


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def redis_binary() -> str:
    """Return the redis-server path, or skip (fail under LIVEPUSH_REQUIRE_REDIS=1).

    Outside pytest (the benchmarks use these servers too, without pytest installed) a missing
    redis-server is a RuntimeError.
    """
    path = shutil.which("redis-server")
    if path is None:
        reason = "redis-server is not installed (apt-get install redis-server)"
        if "pytest" not in sys.modules:
            raise RuntimeError(reason)
        import pytest

        if os.environ.get("LIVEPUSH_REQUIRE_REDIS") == "1":
            pytest.fail(f"LIVEPUSH_REQUIRE_REDIS=1 but {reason}")
        pytest.skip(reason)
    return path


class RedisServer:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.log = workdir / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                redis_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--logfile",
                str(self.log),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        self.log.touch()
        _wait_until(self.ping, self.proc, "redis-server", self.log)

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def command(self, *args: str) -> bytes:
        """Send one inline command and return the raw reply (for FLUSHALL and the like)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall((" ".join(args) + "\r\n").encode())
            return sock.recv(65536)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def kill(self) -> None:
        """SIGKILL redis-server, as a crash or the OOM killer would; its data is gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def pause(self) -> None:
        """SIGSTOP redis-server: it still accepts connections (the kernel completes them) but
        never replies, as a hung Redis does."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT redis-server after :meth:`pause`."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        """Start redis-server again on the same port (after :meth:`kill` or :meth:`stop`)."""
        self.kill()
        self.start()


class RedisSentinel:
    """A Redis Sentinel (``redis-server --sentinel``) monitoring ``master`` as ``master_name``.

    It rewrites its config file, so the file lives in ``workdir``. A quorum of 1: this one
    sentinel is enough to agree on the master.
    """

    def __init__(self, workdir: Path, master: RedisServer, master_name: str = "mymaster") -> None:
        self.workdir = workdir
        self.master = master
        self.master_name = master_name
        self.port = free_port()
        self.config = workdir / "sentinel.conf"
        self.log = workdir / "sentinel.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """``host:port``, as LIVEPUSH_TEST_SENTINEL takes it."""
        return f"127.0.0.1:{self.port}"

    @property
    def host(self) -> dict[str, Any]:
        """The channels-redis host dict that reaches the master through this sentinel."""
        return {"sentinels": [("127.0.0.1", self.port)], "master_name": self.master_name}

    def start(self) -> None:
        self.config.write_text(
            f"port {self.port}\n"
            "bind 127.0.0.1\n"
            f"dir {self.workdir}\n"
            f"logfile {self.log}\n"
            f"sentinel monitor {self.master_name} 127.0.0.1 {self.master.port} 1\n"
        )
        self.proc = subprocess.Popen(
            [redis_binary(), str(self.config), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        self.log.touch()
        _wait_until(self.knows_master, self.proc, "redis-server --sentinel", self.log)

    def command(self, *args: str) -> bytes:
        """Send one inline command and return the raw reply."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall((" ".join(args) + "\r\n").encode())
            return sock.recv(65536)

    def knows_master(self) -> bool:
        """Whether the sentinel answers with the master's address."""
        try:
            reply = self.command("SENTINEL", "get-master-addr-by-name", self.master_name)
        except OSError:
            return False
        return str(self.master.port).encode() in reply

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def django_env(extra: Mapping[str, str], *, cwd: Path = ROOT) -> dict[str, str]:
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "tests.project.settings"
    paths = [str(cwd), str(ROOT), env.get("PYTHONPATH")]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, dict.fromkeys(paths)))
    env.update(extra)
    return env


def manage(
    env: Mapping[str, str],
    *args: str,
    settings: str = "tests.project.settings",
    cwd: Path = ROOT,
) -> str:
    """Run ``django-admin`` in a new OS process (as ``manage.py`` would) and return stdout."""
    result = subprocess.run(
        [sys.executable, "-m", "django", *args],
        env=django_env({"DJANGO_SETTINGS_MODULE": settings, **env}, cwd=cwd),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"django-admin {args[0]} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def create_users(path: Path, count: int) -> list[int]:
    """Migrate a SQLite file and create ``count`` active users in one query; return their ids."""
    env = {"LIVEPUSH_TEST_DB": str(path)}
    manage(env, "migrate", "--verbosity", "0")
    script = (
        "import json; from django.contrib.auth import get_user_model; U = get_user_model(); "
        f"U.objects.bulk_create(U(username=f'user{{i}}') for i in range({count})); "
        "print(json.dumps(list(U.objects.order_by('pk').values_list('pk', flat=True))))"
    )
    return list(json.loads(manage(env, "shell", "-c", script).strip().splitlines()[-1]))


def create_database(path: Path) -> dict[str, int]:
    """Migrate a SQLite file and create the test users; return their ids by username."""
    env = {"LIVEPUSH_TEST_DB": str(path)}
    manage(env, "migrate", "--verbosity", "0")
    script = (
        "import json; from django.contrib.auth import get_user_model; U = get_user_model(); "
        "ids = {n: U.objects.create_user(n, password='pw', is_active=(n != 'carol')).pk "
        "for n in ('alice', 'bob', 'carol', 'dave')}; print(json.dumps(ids))"
    )
    return dict(json.loads(manage(env, "shell", "-c", script).strip().splitlines()[-1]))


class AsgiServer:
    """A Django project under a real ASGI server (daphne by default, or uvicorn).

    The test project unless ``app``, ``settings`` and ``cwd`` name another one.
    """

    def __init__(
        self,
        workdir: Path,
        env: Mapping[str, str],
        *,
        server: str = "daphne",
        max_message_size: int = 65536,
        backlog: int | None = None,
        app: str = "tests.project.asgi:application",
        settings: str = "tests.project.settings",
        cwd: Path = ROOT,
    ) -> None:
        self.port = free_port()
        self.env = {"DJANGO_SETTINGS_MODULE": settings, **env}
        self.server = server
        self.max_message_size = max_message_size
        #: The listening socket's accept queue; the servers' defaults (Twisted's 50 for daphne)
        #: drop connects in a storm before the application sees them.
        self.backlog = backlog
        self.app = app
        self.cwd = cwd
        self.log = workdir / f"{server}-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/"

    def command(self) -> list[str]:
        app = self.app
        if self.server == "uvicorn":
            return [
                sys.executable,
                "-m",
                "uvicorn",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--ws",
                "websockets-sansio",
                "--ws-max-size",
                str(self.max_message_size),
                "--lifespan",
                "off",
                *(["--backlog", str(self.backlog)] if self.backlog else []),
                app,
            ]
        if self.backlog:
            endpoint = ["-e", f"tcp:port={self.port}:interface=127.0.0.1:backlog={self.backlog}"]
        else:
            endpoint = ["-b", "127.0.0.1", "-p", str(self.port)]
        return [
            sys.executable,
            "-m",
            "daphne",
            *endpoint,
            "--websocket-max-message-size",
            str(self.max_message_size),
            app,
        ]

    def start(self) -> None:
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                self.command(),
                env=django_env(self.env, cwd=self.cwd),
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        _wait_until(lambda: _port_open(self.port), self.proc, self.server, self.log)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
