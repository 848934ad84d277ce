"""The README's quick start, pasted into a new ``django-admin startproject mysite`` and run.

The files come from README.md itself: each pasteable block opens with a comment naming its file
(``# mysite/asgi.py``, ``{# templates/live.html #}``), and ``# mysite/settings.py: add at the
end`` is appended instead of replacing the file. The commands are the README's ``python
manage.py ...`` lines, in its order; the server is its ``runserver`` (daphne's), on a free port.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from .helpers import WAIT, WAIT_MS, ws_connect
from .servers import ROOT, AsgiServer

pytestmark = pytest.mark.live

README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README[README.index("## Quick start") : README.index("## Run the demo")]
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>\w*)\n(?P<body>.*?)^(?P=indent)```$", re.M | re.S)
MARKER = re.compile(r"(?:# |\{# )(?P<path>[\w/]+\.\w+)(?P<append>: add at the end)?(?: #\})?")
USERNAME, PASSWORD = "alice", "quick-start-pw-1"


class Block(NamedTuple):
    path: str
    append: bool
    code: str


def _blocks() -> list[tuple[str, str]]:
    """The section's fenced blocks as (language, code), list indentation removed."""
    blocks = []
    for match in FENCE.finditer(SECTION):
        indent = len(match["indent"])
        lines = [line[indent:] for line in match["body"].splitlines(keepends=True)]
        blocks.append((match["lang"], "".join(lines)))
    return blocks


def _files() -> list[Block]:
    files = []
    for _, code in _blocks():
        marker = MARKER.fullmatch(code.split("\n", 1)[0])
        if marker:
            files.append(Block(marker["path"], bool(marker["append"]), code))
    return files


def _commands() -> list[list[str]]:
    """The ``python manage.py ...`` lines of the section's shell blocks, in order."""
    return [
        line.split()[2:]
        for lang, code in _blocks()
        if lang == "sh"
        for line in code.splitlines()
        if line.startswith("python manage.py ")
    ]


FILES = _files()
COMMANDS = _commands()


def test_the_quick_start_names_each_file_it_changes():
    assert [(block.path, block.append) for block in FILES] == [
        ("mysite/settings.py", True),
        ("mysite/messages.py", False),
        ("mysite/asgi.py", False),
        ("mysite/urls.py", False),
        ("mysite/views.py", False),
        ("templates/live.html", False),
    ]
    assert COMMANDS == [["migrate"], ["createsuperuser"], ["check"], ["runserver"]]


def _env(**extra: str) -> dict[str, str]:
    """The environment of a shell in the new project: its manage.py picks the settings."""
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "PYTHONPATH"}}
    return {**env, **extra}


def _run(cwd: Path, *args: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


class Project(NamedTuple):
    path: Path
    check: str


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """startproject, the README's files, then its commands up to runserver."""
    workdir = tmp_path_factory.mktemp("quickstart")
    _run(workdir, "-m", "django", "startproject", "mysite")
    path = workdir / "mysite"
    for block in FILES:
        target = path / block.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if block.append:
            with target.open("a", encoding="utf-8") as file:
                file.write("\n" + block.code)
        else:
            target.write_text(block.code, encoding="utf-8")
    check = ""
    for command in COMMANDS[:-1]:
        if command == ["createsuperuser"]:  # the README's is interactive
            args = ["--noinput", "--username", USERNAME, "--email", "alice@example.com"]
            _run(path, "manage.py", *command, *args, DJANGO_SUPERUSER_PASSWORD=PASSWORD)
        elif command == ["check"]:
            check = _run(path, "manage.py", *command)
        else:
            _run(path, "manage.py", *command)
    return Project(path, check)


class RunServer(AsgiServer):
    """``python manage.py runserver``: daphne's, serving the static files too."""

    def command(self) -> list[str]:
        return [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{self.port}"]


@pytest.fixture(scope="module")
def server(project: Project) -> Iterator[str]:
    assert COMMANDS[-1] == ["runserver"]
    runserver = RunServer(project.path, {}, settings="mysite.settings", cwd=project.path)
    runserver.start()
    yield f"http://127.0.0.1:{runserver.port}"
    runserver.stop()


def test_check_finds_no_issue(project):
    assert "System check identified no issues" in project.check
    assert "livepush." not in project.check


class Session:
    """A logged-in visitor without a browser: cookies and the CSRF token."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def open(self, path: str, data: dict[str, str] | None = None) -> str:
        body = None if data is None else urllib.parse.urlencode(data).encode()
        headers = {} if data is None else {"X-CSRFToken": self.cookie("csrftoken")}
        request = urllib.request.Request(self.base + path, data=body, headers=headers)
        with self.opener.open(request, timeout=WAIT) as response:
            return str(response.read().decode())

    def cookie(self, name: str) -> str:
        return next(cookie.value or "" for cookie in self.jar if cookie.name == name)

    def log_in(self) -> str:
        """Open /live/, log in on the admin's page it redirects to, return /live/."""
        self.open("/live/")
        form = {"username": USERNAME, "password": PASSWORD, "next": "/live/"}
        return self.open("/admin/login/?next=/live/", form)


PUSHED = {"type": "PHOTO_UPLOADED", "data": {"id": 1, "title": "Harbour"}}


async def test_the_push_view_reaches_the_users_websocket(server):
    session = Session(server)
    page = session.log_in()
    assert 'id="status"' in page
    token = json.loads(session.open("/livepush/token/"))["token"]
    async with ws_connect(server.replace("http", "ws") + "/ws/", token=token, origin=server) as ws:
        assert json.loads(session.open("/push/", {})) == {"pushed": True}
        assert (await ws.recv_until("PHOTO_UPLOADED"))[-1] == PUSHED


def test_the_token_view_refuses_a_visitor_who_is_not_logged_in(server):
    with pytest.raises(urllib.error.HTTPError) as refused:
        Session(server).open("/livepush/token/")
    with refused.value:
        assert refused.value.code == 401


def test_the_health_check_and_a_plain_http_request_at_the_websocket_path(server):
    assert json.loads(Session(server).open("/livepush/health/"))["status"] == "ok"
    with pytest.raises(urllib.error.HTTPError) as plain:
        Session(server).open("/ws/")
    with plain.value:
        assert plain.value.code == 400
        assert "this is a WebSocket endpoint" in plain.value.read().decode()


def _logged_in_page(browser: Any, server: str) -> tuple[Any, Any, list[str]]:
    context = browser.new_context()
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server}/live/")  # redirected to the admin's login page
    page.fill("input[name=username]", USERNAME)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{server}/live/")
    return context, page, errors


STATUS = "document.getElementById('status').textContent"


def test_the_page_connects_and_shows_the_push(browser, server):
    context, page, errors = _logged_in_page(browser, server)
    try:
        page.wait_for_function(f"{STATUS} === 'open'")
        page.click("#push")
        page.wait_for_function("document.querySelectorAll('#events li').length > 0")
        events = page.locator("#events li").all_inner_texts()
        assert events == [f"PHOTO_UPLOADED {json.dumps(PUSHED['data'], separators=(',', ':'))}"]
        assert errors == []
    finally:
        context.close()


def test_the_page_stops_without_a_token(browser, server):
    """A 401 from the token view (the session is gone): no socket, the status says why."""
    context, page, errors = _logged_in_page(browser, server)
    try:
        page.close()
        page = context.new_page()
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.route(
            "**/livepush/token/",
            lambda route: route.fulfill(status=401, json={"detail": "Authentication required."}),
        )
        page.goto(f"{server}/live/")
        page.wait_for_function(f"{STATUS}.startsWith('failed')")
        assert page.inner_text("#status").startswith("failed: no_token")
        assert sockets == []
        assert errors == []
    finally:
        context.close()
