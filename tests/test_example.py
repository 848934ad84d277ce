"""The demo in example_project/, run as a user would: daphne, a session login, a live push."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.parse
import urllib.request

import pytest

from .conftest import ws_connect
from .servers import ROOT, AsgiServer, manage

pytestmark = pytest.mark.live
EXAMPLE = ROOT / "example_project"


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo")
    env = {"DEMO_DB": str(workdir / "demo.sqlite3")}
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
        return self.opener.open(self.base + path, timeout=15).read().decode()

    def post(self, path: str, form: dict[str, str], page: str) -> str:
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert csrf, "no CSRF token on the page"
        data = urllib.parse.urlencode({**form, "csrfmiddlewaretoken": csrf.group(1)}).encode()
        request = urllib.request.Request(
            self.base + path, data=data, headers={"Referer": self.base + path}
        )
        return self.opener.open(request, timeout=15).read().decode()

    def log_in(self, username: str, password: str) -> str:
        page = self.post(
            "/login/", {"username": username, "password": password}, self.get("/login/")
        )
        assert f"Logged in as <b>{username}</b>" in page
        return page

    def token(self) -> str:
        import json

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
        alice.post("/notify/", {"text": "hello from alice", "to": ""}, alice_page)
        expected = {
            "type": "SYSTEM_NOTIFICATION",
            "data": {"text": "hello from alice", "from": "alice"},
        }
        # Presence frames (the demo has presence on) may come first.
        assert (await bob_ws.recv_until("SYSTEM_NOTIFICATION"))[-1] == expected
        assert (await alice_ws.recv_until("SYSTEM_NOTIFICATION"))[-1] == expected


def test_demo_page_needs_a_login(demo_server):
    page = Browser(demo_server).get("/")  # redirected to the login form
    assert 'name="password"' in page
