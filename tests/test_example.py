"""The demo in example_project/, run as a user would: daphne, a session login, a live push.

With the demo's own settings (the in-memory layer, as ``scripts/demo.py`` runs it), not per
``live_layer``: the test project's layers are covered by the rest of the real-socket suite.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from .helpers import WAIT, WAIT_MS, ws_connect
from .servers import ROOT, AsgiServer, manage

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
