"""livepush.js in a real browser: headless Chromium (Debian's) driven by Playwright for Python.

The page comes from a real daphne server; the server is stopped and started again under the
page, which must reconnect and deliver what it queued meanwhile.
"""

from __future__ import annotations

import pytest

from .helpers import WAIT_MS
from .servers import AsgiServer, manage

pytestmark = [pytest.mark.live, pytest.mark.redis]


@pytest.fixture
def restartable_server(live_env, tmp_path_factory):
    server = AsgiServer(tmp_path_factory.mktemp("browser"), live_env)
    server.start()
    yield server
    server.stop()


def test_page_receives_pushes_survives_a_server_restart_and_flushes_its_queue(
    browser, restartable_server, live_user_ids, token_for, push_from_other_process, tmp_path_factory
):
    dave = live_user_ids["dave"]
    page = browser.new_page()
    base = f"http://127.0.0.1:{restartable_server.port}"
    page.goto(f"{base}/client/?token={token_for(dave, lifetime=600)}")
    page.wait_for_function(
        "document.getElementById('status').textContent === 'open'", timeout=WAIT_MS
    )

    push_from_other_process(
        f"from livepush import send_ws_message_to_user; "
        f"send_ws_message_to_user({dave}, 'PHOTO_UPLOADED', {{'id': 1}})"
    )
    page.wait_for_function(
        "window.frames_.some(f => f.type === 'PHOTO_UPLOADED' && f.data.id === 1)", timeout=WAIT_MS
    )

    restartable_server.stop()
    page.wait_for_function("window.client.status === 'reconnecting'", timeout=WAIT_MS)
    page.evaluate("window.client.send('ECHO', {n: 1}); window.client.send('ECHO', {n: 2})")
    assert page.evaluate("window.client.queued") == 2

    restartable_server.start()  # same port
    page.wait_for_function(
        "window.frames_.filter(f => f.type === 'ECHO').length === 2", timeout=WAIT_MS
    )
    echoes = page.evaluate("window.frames_.filter(f => f.type === 'ECHO').map(f => f.data.n)")
    assert echoes == [1, 2]
    statuses = page.evaluate("window.statuses")
    assert statuses[statuses.index("reconnecting") :][-1] == "open"
    assert page.evaluate("window.client.queued") == 0
    shot = tmp_path_factory.getbasetemp() / "browser-after-restart.png"
    page.screenshot(path=str(shot))
    page.close()


@pytest.fixture
def recovery_server(live_env, tmp_path_factory):
    server = AsgiServer(
        tmp_path_factory.mktemp("browser-recovery"), {**live_env, "LIVEPUSH_TEST_RECOVERY": "1000"}
    )
    server.start()
    yield server
    server.stop()


def test_a_page_cut_off_for_a_while_gets_the_pushes_made_meanwhile_without_a_reload(
    browser, recovery_server, live_user_ids, token_for
):
    # Chromium's offline emulation leaves open WebSockets alone, so the page is cut off by
    # stopping its server: the pushes made meanwhile go to the history in Redis only.
    alice = live_user_ids["alice"]
    page = browser.new_page()
    token = token_for(alice, lifetime=600)
    page.goto(f"http://127.0.0.1:{recovery_server.port}/client/?token={token}")
    page.wait_for_function("window.frames_.some(f => f.type === 'RECOVERY')", timeout=WAIT_MS)

    recovery_server.stop()
    page.wait_for_function("window.client.status === 'reconnecting'", timeout=WAIT_MS)
    manage(  # another process, with the same settings (recovery on)
        recovery_server.env,
        "shell",
        "-c",
        "from livepush import send_ws_message_to_user\n"
        "for n in range(5):\n"
        f"    send_ws_message_to_user({alice}, 'PHOTO_UPLOADED', {{'id': n}})\n",
    )
    recovery_server.start()  # same port
    page.wait_for_function(
        "window.frames_.filter(f => f.type === 'RECOVERY').length === 2", timeout=WAIT_MS
    )
    photos = "window.frames_.filter(f => f.type === 'PHOTO_UPLOADED').map(f => f.data.id)"
    assert page.evaluate(photos) == [0, 1, 2, 3, 4]
    assert page.evaluate("window.client.statusInfo.recovered") is True
    assert page.evaluate("window.resyncs") == []
    page.close()


def test_a_push_made_while_the_first_fetch_is_held_open_appears_exactly_once(
    browser, restartable_server, live_user_ids, token_for, push_from_other_process
):
    import json
    import urllib.request

    dave = live_user_ids["dave"]
    base = f"http://127.0.0.1:{restartable_server.port}"
    page = browser.new_page()
    page.goto(f"{base}/collection/?token={token_for(dave, lifetime=600)}")
    page.evaluate("window.opened")  # connected, while /held-list/ is still held
    assert page.evaluate("window.collection.getSnapshot().isLoading") is True
    # One push the held fetch will also list (it happened before the list is read), one it won't.
    push_from_other_process(
        "from livepush import send_ws_message_to_user\n"
        f"send_ws_message_to_user({dave}, 'PHOTO_UPLOADED', {{'id': 1, 'title': 'in both'}})\n"
        f"send_ws_message_to_user({dave}, 'PHOTO_UPLOADED', {{'id': 2, 'title': 'pushed only'}})\n"
    )
    # Both pushes reached the page (kept until the fetch answers), then the list is released.
    page.wait_for_function("window.arrived === 2", timeout=WAIT_MS)
    assert page.evaluate("window.snapshots.length") == 0
    listed = [{"id": 1, "title": "in both"}, {"id": 0, "title": "listed only"}]
    request = urllib.request.Request(
        f"{base}/held-list/release/", data=json.dumps(listed).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=WAIT_MS / 1000) as response:
        assert response.status == 200
    page.wait_for_function("!window.collection.getSnapshot().isLoading", timeout=WAIT_MS)
    titles = page.evaluate("[...document.querySelectorAll('#items li')].map(li => li.textContent)")
    assert titles == ["in both", "listed only", "pushed only"]
    page.close()
