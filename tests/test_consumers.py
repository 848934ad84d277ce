"""The consumer in process: Channels' WebsocketCommunicator and the in-memory channel layer.

test_live.py runs the same protocol over daphne and Redis; these tests look inside: the groups a
connection joins and leaves, the heartbeat task, and every ERROR code and close code.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import override_settings
from django.urls import path

from livepush import (
    asend_ws_message_to_all,
    asend_ws_message_to_group,
    asend_ws_message_to_user,
)
from livepush.auth import JWTAuthMiddlewareStack
from livepush.heartbeat import HeartbeatMixin
from livepush.protocol import PROCESSES_GROUP
from livepush.routing import websocket_application, websocket_urlpatterns
from livepush.tokens import issue_access_token

from .helpers import ORIGIN_HEADERS, WAIT, communicator_for, connected, received

HEARTBEAT_TASK_PREFIX = "livepush-heartbeat-"

# Every test may touch the database: the middleware looks db_users up, and Channels' consumers call
# close_old_connections() in the worker thread whose connection earlier tests opened.
# A fresh in-memory channel layer (conftest's layer fixture) for every test, and its loop.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("layer")]

CLOSE_4000 = {"type": "websocket.close", "code": 4000}


async def assert_refused(communicator: WebsocketCommunicator, reason: str) -> None:
    """An ERROR frame with the reason, then a close with 4001 and the reason (the refusal)."""
    first = await communicator.receive_output(timeout=WAIT)
    assert first["type"] == "websocket.send"
    error = json.loads(first["text"])
    assert error["type"] == "ERROR"
    assert error["data"]["code"] == "unauthenticated"
    assert error["data"]["reason"] == reason
    assert await communicator.receive_output(timeout=WAIT) == {
        "type": "websocket.close",
        "code": 4001,
        "reason": reason,
    }


CLOSE_4002 = {"type": "websocket.close", "code": 4002}
CLOSE_4009 = {"type": "websocket.close", "code": 4009}


def livepush(**changes: Any) -> override_settings:
    """override_settings for LIVEPUSH keys, keeping the test project's other keys."""
    return override_settings(LIVEPUSH={**settings.LIVEPUSH, **changes})


def heartbeat_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith(HEARTBEAT_TASK_PREFIX)]


def livepush_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("livepush-")]


async def assert_tasks_end(tasks: list[asyncio.Task[Any]]) -> None:
    """Every task in ``tasks`` ends, and no livepush task is left running."""
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=WAIT)
        assert not pending
    assert livepush_tasks() == []


async def recv(communicator: WebsocketCommunicator) -> Any:
    return await communicator.receive_json_from(timeout=WAIT)


async def recv_error(communicator: WebsocketCommunicator) -> dict[str, Any]:
    frame = await recv(communicator)
    assert frame["type"] == "ERROR"
    assert set(frame["data"]) == {"code", "detail"}
    assert frame["data"]["detail"]
    return frame["data"]


async def assert_still_open(communicator: WebsocketCommunicator) -> None:
    """An ECHO round trip: the connection is open and the consumer still dispatches."""
    await communicator.send_json_to({"type": "ECHO", "data": {"still": "open"}})
    assert await recv(communicator) == {"type": "ECHO", "data": {"still": "open"}}


# Connecting ---------------------------------------------------------------------------------


async def test_valid_token_connects_and_selects_livepush(db_users):
    communicator = communicator_for(issue_access_token(db_users["alice"]))
    try:
        assert await communicator.connect(timeout=WAIT) == (True, "livepush")
        await communicator.send_json_to({"type": "PING"})
        assert await recv(communicator) == {"type": "PONG"}
    finally:
        await communicator.disconnect(timeout=WAIT)


async def test_no_subprotocol_is_selected_when_livepush_is_not_offered(db_users):
    token = issue_access_token(db_users["alice"])
    communicator = WebsocketCommunicator(
        websocket_application(), f"/ws/?accessToken={token}", headers=ORIGIN_HEADERS
    )
    try:
        assert await communicator.connect(timeout=WAIT) == (True, None)
        await assert_still_open(communicator)
    finally:
        await communicator.disconnect(timeout=WAIT)


async def test_token_subprotocol_is_never_selected(db_users):
    communicator = communicator_for(issue_access_token(db_users["alice"]), subprotocols=["other"])
    try:
        assert await communicator.connect(timeout=WAIT) == (True, None)
        await assert_still_open(communicator)
    finally:
        await communicator.disconnect(timeout=WAIT)


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        pytest.param(None, "missing_token", id="missing"),
        pytest.param("not-a-jwt", "malformed_token", id="malformed"),
        pytest.param(issue_access_token(999_999, lifetime=3600), "unknown_user", id="unknown-user"),
    ],
)
async def test_refused_connection_is_accepted_then_closed_with_4001(
    db_users, token, reason, caplog
):
    communicator = communicator_for(token)
    try:
        with caplog.at_level(logging.INFO, "livepush.auth"):
            assert await communicator.connect(timeout=WAIT) == (True, "livepush")
            await assert_refused(communicator, reason)
        # Logged at INFO with the reason and the client's address, never the token.
        (line,) = [r for r in caplog.records if r.levelno == logging.INFO]
        assert line.getMessage().startswith("Refused a WebSocket connection from ")
        assert line.getMessage().endswith(f"to /ws/: {reason}")
        if token:
            assert token not in caplog.text
        # A refused connection never starts a heartbeat.
        assert heartbeat_tasks() == []
    finally:
        await communicator.disconnect(timeout=WAIT)


async def test_frames_from_a_refused_connection_reach_no_handler(db_users):
    communicator = communicator_for("not-a-jwt")
    try:
        assert await communicator.connect(timeout=WAIT) == (True, "livepush")
        await assert_refused(communicator, "malformed_token")
        # Sent before the client saw the close: the ECHO handler would answer if it ran.
        await communicator.send_json_to({"type": "ECHO", "data": "sneaky"})
        await communicator.send_json_to({"type": "PING"})
        assert await communicator.receive_nothing(timeout=0.5)
    finally:
        await communicator.disconnect(timeout=WAIT)


async def test_inactive_user_is_closed_with_4001(db_users, layer):
    alice = db_users["alice"]
    token = issue_access_token(alice)
    alice.is_active = False
    await alice.asave(update_fields=["is_active"])
    communicator = communicator_for(token)
    try:
        assert await communicator.connect(timeout=WAIT) == (True, "livepush")
        await assert_refused(communicator, "inactive_user")
        assert layer.groups == {}  # refused before joining any group
    finally:
        await communicator.disconnect(timeout=WAIT)


async def test_route_without_the_middleware_closes_with_4000(caplog):
    communicator = communicator_for(None, app=URLRouter(websocket_urlpatterns))
    try:
        assert await communicator.connect(timeout=WAIT) == (True, "livepush")
        assert await communicator.receive_output(timeout=WAIT) == CLOSE_4000
    finally:
        await communicator.disconnect(timeout=WAIT)
    assert "JWTAuthMiddlewareStack" in caplog.text


async def test_cross_origin_connection_is_denied():
    communicator = WebsocketCommunicator(
        websocket_application(), "/ws/", headers=[(b"origin", b"http://evil.example")]
    )
    connected_, _ = await communicator.connect(timeout=WAIT)
    assert connected_ is False
    await communicator.disconnect(timeout=WAIT)


async def test_middleware_stack_over_url_router_is_enough(db_users):
    app = JWTAuthMiddlewareStack(URLRouter(websocket_urlpatterns))
    async with connected(issue_access_token(db_users["bob"]), app=app) as communicator:
        await assert_still_open(communicator)


# Groups and pushes --------------------------------------------------------------------------


def channels_in(layer: Any, group: str) -> set[str]:
    return set(layer.groups.get(group, {}))


def app_groups(layer: Any) -> set[str]:
    """The layer's groups but the fan-out's own: its probe, and the group of every process."""
    return {g for g in layer.groups if not g.startswith("livepush.probe.")} - {PROCESSES_GROUP}


async def test_connection_joins_user_broadcast_and_extra_groups(db_users, layer):
    alice = db_users["alice"]
    async with connected(issue_access_token(alice)):
        [channel] = channels_in(layer, f"user_{alice.pk}")
        assert app_groups(layer) == {f"user_{alice.pk}", "broadcast", "testers"}
        assert channels_in(layer, "broadcast") == {channel}
        assert channels_in(layer, "testers") == {channel}


async def test_push_to_user_reaches_that_user_only(db_users):
    alice, bob = db_users["alice"], db_users["bob"]
    async with (
        connected(issue_access_token(alice)) as alice_ws,
        connected(issue_access_token(bob)) as bob_ws,
    ):
        await asend_ws_message_to_user(alice.pk, "PHOTO_UPLOADED", {"id": 7})
        await asend_ws_message_to_user(bob.pk, "SYSTEM_NOTIFICATION", {"marker": "end"})
        assert await recv(alice_ws) == {"type": "PHOTO_UPLOADED", "data": {"id": 7}}
        # Bob's first frame is the marker sent after Alice's push: hers never reached him.
        assert await recv(bob_ws) == {"type": "SYSTEM_NOTIFICATION", "data": {"marker": "end"}}


async def test_every_connection_of_a_user_gets_the_push(db_users):
    alice = db_users["alice"]
    async with (
        connected(issue_access_token(alice)) as tab1,
        connected(issue_access_token(alice)) as tab2,
    ):
        await asend_ws_message_to_user(alice.pk, "MESSAGE_CREATED", {"id": 1})
        expected = {"type": "MESSAGE_CREATED", "data": {"id": 1}}
        assert await recv(tab1) == expected
        assert await recv(tab2) == expected


async def test_push_to_all_and_to_a_group_reach_everyone(db_users):
    async with (
        connected(issue_access_token(db_users["alice"])) as alice_ws,
        connected(issue_access_token(db_users["bob"])) as bob_ws,
    ):
        await asend_ws_message_to_all("SYSTEM_NOTIFICATION", {"text": "maintenance"})
        await asend_ws_message_to_group("testers", "ALBUM_CREATED", {"id": 3})
        for ws in (alice_ws, bob_ws):
            assert await recv(ws) == {
                "type": "SYSTEM_NOTIFICATION",
                "data": {"text": "maintenance"},
            }
            assert await recv(ws) == {"type": "ALBUM_CREATED", "data": {"id": 3}}


async def test_push_is_forwarded_as_the_exact_encoded_text(db_users):
    alice = db_users["alice"]
    async with connected(issue_access_token(alice)) as ws:
        await asend_ws_message_to_user(alice.pk, "CHAT_MESSAGE", {"room": "r", "text": "é"})
        assert await ws.receive_from(timeout=WAIT) == (
            '{"type":"CHAT_MESSAGE","data":{"room":"r","text":"\\u00e9"}}'
        )


async def test_disconnect_leaves_every_group_and_stops_the_heartbeat(db_users, layer):
    alice = db_users["alice"]
    communicator = communicator_for(issue_access_token(alice))
    assert await communicator.connect(timeout=WAIT) == (True, "livepush")
    [channel] = channels_in(layer, f"user_{alice.pk}")
    [heartbeat] = heartbeat_tasks()
    assert not heartbeat.done()
    tasks = livepush_tasks()

    await communicator.disconnect(timeout=WAIT)

    assert layer.groups == {}
    await asend_ws_message_to_user(alice.pk, "PHOTO_UPLOADED", {"id": 1})
    await asend_ws_message_to_all("SYSTEM_NOTIFICATION", {"text": "after"})
    # The heartbeat (and any other task of the connection's) ends with it.
    await assert_tasks_end(tasks)
    assert heartbeat.cancelled()
    # No channel is a member of any group any more, so nothing was queued on the one channel
    # that was (the fan-out's), which nothing reads now.
    assert await received(layer, channel) == []


async def test_disconnect_of_one_tab_keeps_the_other_in_its_groups(db_users, layer):
    alice = db_users["alice"]
    async with connected(issue_access_token(alice)) as tab2:
        tab1 = communicator_for(issue_access_token(alice))
        assert (await tab1.connect(timeout=WAIT))[0] is True
        await tab1.disconnect(timeout=WAIT)
        assert channels_in(layer, f"user_{alice.pk}")
        await asend_ws_message_to_user(alice.pk, "PHOTO_UPLOADED", {"id": 2})
        assert await recv(tab2) == {"type": "PHOTO_UPLOADED", "data": {"id": 2}}
    assert layer.groups == {}


# Client frames ------------------------------------------------------------------------------


@pytest.fixture
async def ws(db_users) -> AsyncIterator[WebsocketCommunicator]:
    async with connected(issue_access_token(db_users["alice"])) as communicator:
        yield communicator


async def test_client_ping_gets_pong(ws):
    await ws.send_json_to({"type": "PING"})
    assert await recv(ws) == {"type": "PONG"}


async def test_client_pong_without_ping_is_ignored(ws):
    await ws.send_json_to({"type": "PONG"})
    await assert_still_open(ws)


async def test_echo_and_valid_chat_message_reach_their_handler(ws):
    await assert_still_open(ws)
    chat = {"room": "lobby", "text": "hi", "mentions": [1, 2]}
    await ws.send_json_to({"type": "CHAT_MESSAGE", "data": chat})
    assert await recv(ws) == {"type": "ECHO", "data": chat}


async def test_malformed_json_gets_an_error(ws):
    await ws.send_to(text_data="{not json")
    assert (await recv_error(ws))["code"] == "malformed_json"
    await assert_still_open(ws)


async def test_empty_text_frame_is_malformed_json(ws):
    await ws.send_input({"type": "websocket.receive", "text": ""})
    assert (await recv_error(ws))["code"] == "malformed_json"
    await assert_still_open(ws)


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param("[1, 2]", id="list"),
        pytest.param('"PING"', id="string"),
        pytest.param("null", id="null"),
        pytest.param("{}", id="no-type"),
        pytest.param('{"type": 5}', id="type-not-a-string"),
    ],
)
async def test_frame_that_is_not_an_object_with_a_type_is_invalid(ws, frame):
    await ws.send_to(text_data=frame)
    assert (await recv_error(ws))["code"] == "invalid_frame"
    await assert_still_open(ws)


async def test_unknown_type_gets_an_error_with_a_suggestion(ws):
    await ws.send_json_to({"type": "ECHOO", "data": {}})
    error = await recv_error(ws)
    assert error["code"] == "unknown_type"
    assert "'ECHOO'" in error["detail"]
    assert "Did you mean" in error["detail"]
    assert "'ECHO'" in error["detail"]
    await assert_still_open(ws)


async def test_registered_type_without_handler_is_not_allowed(ws):
    await ws.send_json_to({"type": "PHOTO_UPLOADED", "data": {"id": 1}})
    error = await recv_error(ws)
    assert error["code"] == "type_not_allowed"
    assert "'PHOTO_UPLOADED'" in error["detail"]
    await assert_still_open(ws)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        pytest.param({"room": "lobby"}, "'text'", id="missing-key"),
        pytest.param({"room": "lobby", "text": 1}, "must be str", id="wrong-type"),
        pytest.param({"room": "a", "text": "b", "extra": 1}, "'extra'", id="unexpected-key"),
        pytest.param({"room": "a", "text": "b", "mentions": ["x"]}, "must be int", id="list-item"),
        pytest.param(None, "must be an object", id="no-data"),
    ],
)
async def test_chat_message_not_matching_its_schema_is_invalid_payload(ws, data, problem):
    await ws.send_json_to({"type": "CHAT_MESSAGE", "data": data})
    error = await recv_error(ws)
    assert error["code"] == "invalid_payload"
    assert "ChatMessage" in error["detail"]
    assert problem in error["detail"]
    await assert_still_open(ws)


async def test_failing_handler_gets_handler_error_and_the_connection_stays_open(ws, caplog):
    await ws.send_json_to({"type": "FAIL", "data": None})
    error = await recv_error(ws)
    assert error["code"] == "handler_error"
    assert "'FAIL'" in error["detail"]
    assert "on purpose" not in error["detail"]  # details stay in the server log
    assert "handler failed on purpose" in caplog.text
    await assert_still_open(ws)


async def test_binary_frame_is_not_supported(ws):
    await ws.send_to(bytes_data=b'{"type":"PING"}')
    assert (await recv_error(ws))["code"] == "binary_not_supported"
    await assert_still_open(ws)


# Frame size ---------------------------------------------------------------------------------

LIMIT = 64
ECHO_OVERHEAD = len('{"type":"ECHO","data":""}')


def echo_frame(text: str) -> str:
    return json.dumps({"type": "ECHO", "data": text}, separators=(",", ":"), ensure_ascii=False)


@pytest.fixture
async def small_ws(db_users) -> AsyncIterator[WebsocketCommunicator]:
    with livepush(MAX_MESSAGE_SIZE=LIMIT):
        async with connected(issue_access_token(db_users["alice"])) as communicator:
            yield communicator


async def test_frame_at_max_message_size_is_handled(small_ws):
    text = "x" * (LIMIT - ECHO_OVERHEAD)
    assert len(echo_frame(text)) == LIMIT
    await small_ws.send_to(text_data=echo_frame(text))
    assert await recv(small_ws) == {"type": "ECHO", "data": text}


async def test_frame_over_max_message_size_is_closed_with_4009(small_ws):
    await small_ws.send_to(text_data=echo_frame("x" * (LIMIT - ECHO_OVERHEAD + 1)))
    assert await small_ws.receive_output(timeout=WAIT) == CLOSE_4009


async def test_size_is_counted_in_utf8_bytes(small_ws):
    frame = echo_frame("é" * (LIMIT - ECHO_OVERHEAD))  # under the limit in characters only
    assert len(frame) == LIMIT
    assert len(frame.encode()) > LIMIT
    await small_ws.send_to(text_data=frame)
    assert await small_ws.receive_output(timeout=WAIT) == CLOSE_4009


async def test_binary_frame_over_max_message_size_is_closed_with_4009(small_ws):
    await small_ws.send_to(bytes_data=b"x" * (LIMIT + 1))
    assert await small_ws.receive_output(timeout=WAIT) == CLOSE_4009


async def test_oversized_frame_is_not_dispatched_first(small_ws):
    # A PING padded over the limit is closed, not answered with PONG.
    await small_ws.send_to(text_data=json.dumps({"type": "PING", "pad": "x" * LIMIT}))
    assert await small_ws.receive_output(timeout=WAIT) == CLOSE_4009


# Heartbeat ----------------------------------------------------------------------------------

#: PINGs come quickly and a silent client is closed quickly.
FAST_HEARTBEAT = {"HEARTBEAT_INTERVAL": 0.05, "HEARTBEAT_TIMEOUT": 0.04}
#: PINGs come quickly, but a PONG has WAIT seconds to arrive: a PONG that goes through the
#: consumer's dispatch (and Channels' thread hop) is never late on a loaded machine.
KEEPALIVE_HEARTBEAT = {"HEARTBEAT_INTERVAL": 0.05, "HEARTBEAT_TIMEOUT": WAIT}


async def test_heartbeat_answered_pong_keeps_the_connection_open(db_users):
    with livepush(**KEEPALIVE_HEARTBEAT):
        async with connected(issue_access_token(db_users["alice"])) as communicator:
            for _ in range(3):
                assert await recv(communicator) == {"type": "PING"}
                await communicator.send_json_to({"type": "PONG"})
            # Answered each time: the connection is still open and dispatching (the next PING
            # may come before the echo).
            await communicator.send_json_to({"type": "ECHO", "data": "open"})
            frames = [await recv(communicator)]
            if frames[0] == {"type": "PING"}:
                frames.append(await recv(communicator))
            assert frames[-1] == {"type": "ECHO", "data": "open"}
    assert heartbeat_tasks() == []


async def test_heartbeat_silence_closes_with_4002(db_users):
    with livepush(**FAST_HEARTBEAT):
        async with connected(issue_access_token(db_users["alice"])) as communicator:
            assert await recv(communicator) == {"type": "PING"}
            # Not answered: the server closes.
            assert await communicator.receive_output(timeout=WAIT) == CLOSE_4002
    assert heartbeat_tasks() == []


async def test_pushes_and_pings_share_the_connection(db_users):
    alice = db_users["alice"]
    with livepush(**KEEPALIVE_HEARTBEAT):
        async with connected(issue_access_token(alice)) as communicator:
            assert await recv(communicator) == {"type": "PING"}
            await asend_ws_message_to_user(alice.pk, "PHOTO_UPLOADED", {"id": 5})
            await communicator.send_json_to({"type": "PONG"})
            frames = [await recv(communicator), await recv(communicator)]
            assert {"type": "PHOTO_UPLOADED", "data": {"id": 5}} in frames
            assert {"type": "PING"} in frames


# HeartbeatMixin on a plain Channels consumer ------------------------------------------------


class PlainHeartbeatConsumer(HeartbeatMixin, AsyncWebsocketConsumer):
    """A consumer that knows nothing of livepush beyond the mixin."""

    async def connect(self) -> None:
        await self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.send(text_data=f"echo:{text_data}")


class FastPlainHeartbeatConsumer(PlainHeartbeatConsumer):
    heartbeat_interval = 0.05
    heartbeat_timeout = 0.04


def plain_communicator(consumer: type[AsyncWebsocketConsumer]) -> WebsocketCommunicator:
    app = URLRouter([path("plain/", consumer.as_asgi())])
    return WebsocketCommunicator(app, "/plain/")


async def test_mixin_answers_ping_and_passes_other_frames_on():
    communicator = plain_communicator(PlainHeartbeatConsumer)
    try:
        assert await communicator.connect(timeout=WAIT) == (True, None)
        [task] = heartbeat_tasks()  # accept() started it
        await communicator.send_to(text_data='{"type":"PING"}')
        assert await communicator.receive_from(timeout=WAIT) == '{"type":"PONG"}'
        await communicator.send_to(text_data="hello")
        assert await communicator.receive_from(timeout=WAIT) == "echo:hello"
        # Not exactly a heartbeat frame: the consumer's own receive() gets it.
        frame = '{"type":"PING","data":1,"more":2}'
        await communicator.send_to(text_data=frame)
        assert await communicator.receive_from(timeout=WAIT) == f"echo:{frame}"
    finally:
        await communicator.disconnect(timeout=WAIT)
    await assert_tasks_end([task])


async def test_mixin_heartbeat_answered_pong_keeps_the_connection_open():
    with livepush(**KEEPALIVE_HEARTBEAT):
        communicator = plain_communicator(PlainHeartbeatConsumer)
        try:
            assert await communicator.connect(timeout=WAIT) == (True, None)
            for _ in range(3):
                assert await communicator.receive_from(timeout=WAIT) == '{"type":"PING"}'
                await communicator.send_to(text_data='{"type": "PONG"}')
            await communicator.send_to(text_data="still open")
            # A PING may come first; the echo follows on the same connection.
            frames = {await communicator.receive_from(timeout=WAIT) for _ in range(2)}
            assert "echo:still open" in frames
        finally:
            await communicator.disconnect(timeout=WAIT)
    assert heartbeat_tasks() == []


async def assert_a_silent_client_is_pinged_then_closed(consumer_class: type) -> None:
    communicator = plain_communicator(consumer_class)
    try:
        assert await communicator.connect(timeout=WAIT) == (True, None)
        assert await communicator.receive_from(timeout=WAIT) == '{"type":"PING"}'
        assert await communicator.receive_output(timeout=WAIT) == CLOSE_4002
    finally:
        await communicator.disconnect(timeout=WAIT)
    assert heartbeat_tasks() == []


async def test_mixin_heartbeat_silence_closes_with_4002():
    with livepush(**FAST_HEARTBEAT):
        await assert_a_silent_client_is_pinged_then_closed(PlainHeartbeatConsumer)


async def test_mixin_class_attributes_override_settings():
    # Settings say a PING every 30 s; the class says 0.05 s, so one arrives well within WAIT,
    # and the class's 0.04 s timeout closes the silent connection.
    await assert_a_silent_client_is_pinged_then_closed(FastPlainHeartbeatConsumer)


async def test_mixin_disconnect_before_the_first_ping_cancels_the_task():
    communicator = plain_communicator(PlainHeartbeatConsumer)
    assert await communicator.connect(timeout=WAIT) == (True, None)
    tasks = heartbeat_tasks()
    assert len(tasks) == 1
    await communicator.disconnect(timeout=WAIT)
    await assert_tasks_end(tasks)
