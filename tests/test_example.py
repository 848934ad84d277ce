"""The demo in example_project/, run as a user would: daphne, a session login, a live push.

With the demo's own settings (the in-memory layer, as ``scripts/demo.py`` runs it), not per
``live_layer``: the test project's layers are covered by the rest of the real-socket suite.
"""

from __future__ import annotations

import http.cookiejar
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from types import ModuleType

import pytest

from .helpers import WAIT, WAIT_MS, ws_connect
from .servers import ROOT, AsgiServer, free_port, manage

pytestmark = pytest.mark.live
EXAMPLE = ROOT / "example_project"


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo")
    env = {
        "DEMO_DB": str(workdir / "demo.sqlite3"),
        "DEMO_MEDIA_ROOT": str(workdir / "media"),
        "DEMO_PRESENCE_GRACE": "0.3",
    }
    django = {"settings": "demo.settings", "cwd": EXAMPLE}
    manage(env, "migrate", "-v0", **django)
    assert "alice / alice-demo" in manage(env, "demo_setup", **django)
    server = AsgiServer(workdir, env, app="demo.asgi:application", **django)
    server.start()
    yield f"127.0.0.1:{server.port}"
    server.stop()


class Browser:
    """Just enough of a browser: cookies, CSRF tokens, form posts."""

    def __init__(self, host: str) -> None:
        self.base = f"http://{host}"
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str) -> str:
        return self.opener.open(self.base + path, timeout=WAIT).read().decode()

    def post(self, path: str, form: dict[str, str], page: str) -> str:
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert csrf, "no CSRF token on the page"
        data = urllib.parse.urlencode({**form, "csrfmiddlewaretoken": csrf.group(1)}).encode()
        request = urllib.request.Request(
            self.base + path, data=data, headers={"Referer": self.base + path}
        )
        return self.opener.open(request, timeout=WAIT).read().decode()

    def log_in(self, username: str, password: str) -> str:
        page = self.post(
            "/login/", {"username": username, "password": password}, self.get("/login/")
        )
        assert f"<h1>Hello, {username}</h1>" in page
        return page

    def token(self) -> str:
        return json.loads(self.get("/livepush/token/"))["token"]


async def test_demo_pushes_a_notification_from_one_user_to_another(demo_server):
    alice, bob = Browser(demo_server), Browser(demo_server)
    alice_page = alice.log_in("alice", "alice-demo")
    bob.log_in("bob", "bob-demo")
    origin = f"http://{demo_server}"
    url = f"ws://{demo_server}/ws/"
    async with (
        ws_connect(url, token=alice.token(), origin=origin) as alice_ws,
        ws_connect(url, token=bob.token(), origin=origin) as bob_ws,
    ):
        before = time.time()
        alice.post("/notify/", {"text": "hello from alice", "to": ""}, alice_page)
        expected = {
            "type": "SYSTEM_NOTIFICATION",
            "data": {"text": "hello from alice", "from": "alice"},
        }
        # Presence frames (the demo has presence on) may come first.
        for ws in (bob_ws, alice_ws):
            frame = (await ws.recv_until("SYSTEM_NOTIFICATION"))[-1]
            # When the server sent it (demo/wire.py), for the wire panel's latency.
            assert before <= frame["data"].pop("sent_at") <= time.time()
            assert frame == expected


async def test_a_list_page_loads_what_its_pushes_carry(demo_server):
    """points.json (what the bucket list's live collection fetches) and the push of a save carry
    the same item, version included: the collection compares them key for key. Each says when
    the server sent it (``sent_at``, for the wire panel), which the collection does not read."""
    bob = Browser(demo_server)
    index = bob.log_in("bob", "bob-demo")
    list_url = re.search(r'href="(/lists/\d+/)"', index)
    assert list_url, "no bucket list on the index page"
    page = bob.get(list_url.group(1))
    points = json.loads(bob.get(list_url.group(1) + "points.json"))["points"]
    point = next(point for point in points if point["title"] == "Run a marathon")  # done
    async with ws_connect(
        f"ws://{demo_server}/ws/", token=bob.token(), origin=f"http://{demo_server}"
    ) as ws:
        # Saved as it is (the other tests see no change), so only the version moves.
        bob.post(f"/points/{point['id']}/", {"title": point["title"], "done": "on"}, page)
        pushed = (await ws.recv_until("BUCKETPOINT_UPDATED"))[-1]["data"]
    listed = json.loads(bob.get(list_url.group(1) + "points.json"))["points"]
    for item in [pushed, point, *listed]:
        assert isinstance(item.pop("sent_at"), float)
    assert pushed in listed
    assert isinstance(pushed["version"], int)
    assert pushed["version"] > point["version"]
    assert {**pushed, "version": point["version"]} == point


def test_demo_page_needs_a_login(demo_server):
    page = Browser(demo_server).get("/")  # redirected to the login form
    assert 'name="password"' in page


def _picture() -> bytes:
    """A landscape PNG made as the demo makes its photos (example_project/demo/pictures.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("demo_pictures", EXAMPLE / "demo" / "pictures.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.png((250, 170, 110), (70, 110, 150))


PNG = _picture()


def _log_in(browser, base: str, username: str):
    context = browser.new_context(viewport={"width": 1100, "height": 760})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", f"{username}-demo")
    page.click("button[type=submit]")
    page.wait_for_function(
        "document.getElementById('status').textContent === 'open'", timeout=WAIT_MS
    )
    return context, page


# Page queries: the list items, their titles (edited in place, so an input's value) and the item
# with a given title.
PHOTOS = "[...document.querySelectorAll('#photos figure')]"
POINTS = "[...document.querySelectorAll('#points li')]"
TITLE = "((e) => e.querySelector('input[name=title]').value)"
PHOTO = f"((t) => {PHOTOS}.find((e) => {TITLE}(e) === t))"
POINT = f"((t) => {POINTS}.find((e) => {TITLE}(e) === t))"
# The wire panel's newest row for a frame type.
WIRE = "((t) => [...document.querySelectorAll('#wire tbody tr')].find((r) => r.dataset.type === t))"


def _online(page) -> str:
    return page.inner_text("#online")


def test_two_browsers_see_each_others_photos_bucketpoints_and_presence(
    browser, demo_server, tmp_path_factory
):
    base = f"http://{demo_server}"
    alice_context, alice = _log_in(browser, base, "alice")
    bob_context, bob = _log_in(browser, base, "bob")
    try:
        # Presence: both online, as seen from bob's page.
        bob.wait_for_function(
            "['alice', 'bob'].every(n => document.getElementById('online').textContent.includes(n))",
            timeout=WAIT_MS,
        )

        # Both on the shared album; alice uploads a real image file, bob sees it without reload.
        for page in (alice, bob):
            page.click("text=Lisbon, spring")
            page.wait_for_function(
                "document.getElementById('status').textContent === 'open'", timeout=WAIT_MS
            )
        alice.set_input_files(
            "#upload input[type=file]",
            files=[{"name": "harbour.png", "mimeType": "image/png", "buffer": PNG}],
        )
        alice.fill("#upload input[name=title]", "Harbour")
        alice.click("#upload button")
        bob.wait_for_function(f"{PHOTO}('Harbour')?.querySelector('.by').textContent === 'alice'")
        src = bob.evaluate(f"{PHOTO}('Harbour').querySelector('img').getAttribute('src')")
        assert src.startswith("/media/photos/harbour")
        assert bob.request.get(base + src).body() == PNG
        # Bob's wire panel shows the push: its type, its size and its latency (from the sent_at
        # the server put in it); the presence snapshot has no sent_at.
        bob.wait_for_function(f"{WIRE}('PHOTO_UPLOADED') !== undefined")
        frame = bob.evaluate(
            f"Object.fromEntries([...{WIRE}('PHOTO_UPLOADED').cells]"
            ".map((c) => [c.className, c.textContent]))"
        )
        assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", frame["received"])
        assert frame["type"] == "PHOTO_UPLOADED"
        assert json.loads(frame["data"])["title"] == "Harbour"
        assert int(frame["bytes"]) > len(frame["data"])
        assert re.fullmatch(r"\d+(\.\d)? ms|\d+\.\d s", frame["latency"]), frame
        assert (
            bob.evaluate(f"{WIRE}('PRESENCE_SNAPSHOT').querySelector('.latency').textContent")
            == "—"
        )
        assert bob.evaluate("document.getElementById('wire').open")
        # Alice's own page shows it once (the fetch() upload, then the push), form emptied.
        alice.wait_for_function(f"{PHOTO}('Harbour') !== undefined")
        assert alice.evaluate(f"{PHOTOS}.filter(f => {TITLE}(f) === 'Harbour').length") == 1
        assert alice.input_value("#upload input[name=title]") == ""
        screenshots = Path(os.environ.get("LIVEPUSH_SCREENSHOTS", tmp_path_factory.getbasetemp()))
        bob.screenshot(path=str(screenshots / "demo-album.png"))

        # Both on the shared bucket list. Alice edits a title in place (Enter saves it) and ticks
        # the point (a tick saves at once): bob sees both, with no Save button anywhere.
        for page in (alice, bob):
            page.goto(f"{base}/")
            page.click("text=Before we turn 40")
            page.wait_for_function(
                "document.getElementById('status').textContent === 'open'", timeout=WAIT_MS
            )
        assert alice.locator("ul.points button", has_text="Save").count() == 0
        point = alice.locator(
            "ul.points li", has=alice.locator("input[value='See the northern lights']")
        )
        title = point.locator("input[name=title]")
        title.fill("See the northern lights in Tromsø")
        title.press("Enter")
        bob.wait_for_function(f"{POINT}('See the northern lights in Tromsø') !== undefined")
        point.locator("input[name=done]").check()
        bob.wait_for_function(
            f"{POINT}('See the northern lights in Tromsø')?.classList.contains('done')"
        )
        assert bob.is_checked("ul.points li.done input[name=done]")

        # Bob adds a point and deletes another; alice sees both, each point once.
        bob.fill("#add input[name=title]", "Swim in the Atlantic")
        bob.click("#add button")
        alice.wait_for_function(f"{POINT}('Swim in the Atlantic') !== undefined")
        bob.evaluate(f"{POINT}('Run a marathon').querySelector('form.delete button').click()")
        alice.wait_for_function(f"{POINT}('Run a marathon') === undefined")
        titles = alice.evaluate(f"{POINTS}.map({TITLE})")
        assert titles == ["See the northern lights in Tromsø", "Swim in the Atlantic"]
        alice.wait_for_function(f"{WIRE}('BUCKETPOINT_DELETED') !== undefined")

        bob.screenshot(path=str(screenshots / "demo-bucketlist.png"))

        # Alice leaves: bob's page shows her offline.
        alice_context.close()
        bob.wait_for_function(
            "!document.getElementById('online').textContent.includes('alice')", timeout=WAIT_MS
        )
        assert "bob" in _online(bob)
    finally:
        bob_context.close()


# scripts/demo.py, run as a user runs it: in a process of its own, stopped with a signal.
DEMO = ROOT / "scripts" / "demo.py"
#: How long scripts/demo.py may take to serve: it migrates and sets up the demo first.
DEMO_START = 120.0


def _demo_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo_script", DEMO)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory):
    """The environment scripts/demo.py runs in: the tests' own venv, a database of its own.

    The tests' venv is what scripts/demo.py would install (this checkout's livepush, editable,
    and daphne), so it gets the stamp scripts/demo.py leaves after an install, if it has none:
    the script then starts without pip, as on a second run.
    """
    import livepush

    venv_dir = Path(sys.prefix)
    if sys.prefix == sys.base_prefix:
        pytest.skip("scripts/demo.py runs in a venv; the tests do not")
    if not Path(livepush.__file__).resolve().is_relative_to(ROOT):
        pytest.skip("scripts/demo.py runs this checkout's livepush; the tests run an installed one")
    script = _demo_script()
    if not script.up_to_date(venv_dir):
        (venv_dir / script.STAMP_NAME).write_text(script.stamp(venv_dir) + "\n")
    workdir = tmp_path_factory.mktemp("demo-script")
    return {
        **os.environ,
        "LIVEPUSH_VENV": str(venv_dir),
        "DEMO_DB": str(workdir / "demo.sqlite3"),
        "DEMO_MEDIA_ROOT": str(workdir / "media"),
    }


def _serves_login(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=1) as response:
            return 'name="password"' in response.read().decode()
    except OSError:
        return False


def _processes_on(port: int) -> list[int]:
    """The processes whose command line names 127.0.0.1:port (Linux: /proc), this one aside."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if f"127.0.0.1:{port}".encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            pass  # gone meanwhile
    return [pid for pid in found if pid != os.getpid()]


def _run_demo(env: dict[str, str], log: Path, stop: signal.Signals = signal.SIGTERM) -> str:
    """Start scripts/demo.py on a free port, wait until it serves the login page, send it
    ``stop``, and return its output once it has exited, checking that its server went with it."""
    port = free_port()
    with log.open("wb") as out:
        demo = subprocess.Popen(
            [sys.executable, str(DEMO), f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + DEMO_START
        while not _serves_login(port):
            assert demo.poll() is None, f"scripts/demo.py exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, (
                f"no login page after {DEMO_START}s:\n{log.read_text()}"
            )
            time.sleep(0.1)  # a port that is not open yet sends no event: poll it
        demo.send_signal(stop)
        returncode = demo.wait(WAIT)
        # scripts/demo.py returns once its server's processes are gone: nothing listens any more.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        assert _processes_on(port) == [], log.read_text()
        assert returncode == 0, log.read_text()
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        for pid in _processes_on(port):  # what a failure left running
            os.kill(pid, signal.SIGKILL)
    return log.read_text()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_demo_script_stops_its_server_when_it_is_stopped(demo_env, tmp_path, stop):
    output = _run_demo(demo_env, tmp_path / "demo.log", stop)
    assert "Watching for file changes" in output  # runserver's autoreloader, and its child
    assert f"Stopped the server ({stop.name})." in output


def test_demo_script_skips_pip_when_nothing_changed(demo_env, tmp_path):
    output = _run_demo(demo_env, tmp_path / "demo.log")
    assert "Skipping pip install" in output
    assert "pip install" not in output.replace("Skipping pip install", "")


def test_demo_script_stamp_follows_pyproject(tmp_path, monkeypatch):
    """The stamp that lets scripts/demo.py skip pip changes with pyproject.toml, and a venv
    whose stamp differs is not up to date."""
    script = _demo_script()
    venv_dir = Path(sys.prefix)
    before = script.stamp(venv_dir)
    assert script.stamp(venv_dir) == before
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    pyproject = (ROOT / "pyproject.toml").read_text()
    (checkout / "pyproject.toml").write_text(pyproject)
    monkeypatch.setattr(script, "ROOT", checkout)
    moved = script.stamp(venv_dir)
    assert moved != before  # another checkout
    (checkout / "pyproject.toml").write_text(pyproject.replace('"PyJWT>=2.8"', '"PyJWT>=2.9"'))
    assert script.stamp(venv_dir) not in (before, moved)
    fake_venv = tmp_path / "venv"
    fake_venv.mkdir()
    assert not script.up_to_date(fake_venv)  # no stamp
    (fake_venv / script.STAMP_NAME).write_text(moved + "\n")
    assert not script.up_to_date(fake_venv)  # another stamp
    (fake_venv / script.STAMP_NAME).write_text(script.stamp(fake_venv) + "\n")
    assert not script.up_to_date(fake_venv)  # its stamp, but no python to import livepush
