"""Tests over real sockets: daphne in its own process, a real redis-server, websockets clients.

Every test here runs once per channel layer (``live_layer`` in conftest.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import jwt
import pytest

from .helpers import raw_websocket, read_text_frame, ws_connect
from .project.settings import SECRET_KEY
from .servers import AsgiServer

pytestmark = [pytest.mark.live, pytest.mark.redis]


def _token(claims: dict, key: str = SECRET_KEY, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def _exp(seconds: int = 300) -> dt.datetime:
    return dt.datetime.now(tz=dt.timezone.utc) + dt.timedelta(seconds=seconds)


# Authentication -----------------------------------------------------------------------------


async def test_valid_token_in_subprotocol_connects_and_selects_livepush(
    daphne_server, live_user_ids, token_for
):
    async with ws_connect(daphne_server.url, token=token_for(live_user_ids["alice"])) as client:
        assert client.ws.subprotocol == "livepush"
        await client.send({"type": "PING"})
        assert await client.recv() == {"type": "PONG"}


async def test_valid_token_in_query_string_connects(daphne_server, live_user_ids, token_for):
    async with ws_connect(daphne_server.url, query_token=token_for(live_user_ids["bob"])) as client:
        await client.send({"type": "PING"})
        assert await client.recv() == {"type": "PONG"}


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda u: None, id="missing"),
        pytest.param(lambda u: "not-a-jwt", id="malformed"),
        pytest.param(lambda u: _token({"user_id": u["alice"], "exp": _exp(-60)}), id="expired"),
        pytest.param(
            lambda u: _token({"user_id": u["alice"], "exp": _exp()}, key="x" * 64),
            id="bad-signature",
        ),
        pytest.param(lambda u: _token({"user_id": u["alice"]}), id="no-exp"),
        pytest.param(
            lambda u: _token({"user_id": u["alice"], "exp": _exp(), "token_type": "refresh"}),
            id="refresh-token",
        ),
        pytest.param(
            lambda u: _token({"user_id": u["alice"], "exp": _exp()}, algorithm="HS512"),
            id="algorithm-not-allowed",
        ),
        pytest.param(
            lambda u: jwt.encode({"user_id": u["alice"], "exp": _exp()}, None, algorithm="none"),
            id="alg-none",
        ),
        pytest.param(lambda u: _token({"user_id": 999999, "exp": _exp()}), id="unknown-user"),
        pytest.param(lambda u: _token({"user_id": "abc", "exp": _exp()}), id="bad-user-id"),
        pytest.param(lambda u: _token({"user_id": u["carol"], "exp": _exp()}), id="inactive-user"),
        pytest.param(lambda u: _token({"sub": str(u["alice"]), "exp": _exp()}), id="no-user-claim"),
    ],
)
async def test_bad_tokens_are_accepted_then_closed_with_4001(
    daphne_server, live_user_ids, make_token
):
    from livepush.auth import AuthError

    token = make_token(live_user_ids)
    kwargs = {"token": token} if token is not None else {}
    async with ws_connect(daphne_server.url, **kwargs) as client:
        error = await client.recv()  # why, before the close (daphne drops a close's reason)
        assert error["type"] == "ERROR"
        assert error["data"]["code"] == "unauthenticated"
        assert error["data"]["reason"] in {e.value for e in AuthError} - {"server_error"}
        assert token is None or token not in error["data"]["detail"]
        assert await client.closed_with() == 4001


async def test_uvicorn_gives_a_refusal_its_reason_in_the_close_frame(uvicorn_server):
    async with ws_connect(uvicorn_server.url, token="not-a-jwt") as client:
        assert (await client.recv())["data"]["reason"] == "malformed_token"
        assert await client.closed_with() == 4001
        assert client.ws.close_reason == "malformed_token"


async def test_cross_origin_connection_is_refused(daphne_server, live_user_ids, token_for):
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as info:
        async with ws_connect(
            daphne_server.url, token=token_for(live_user_ids["alice"]), origin="http://evil.example"
        ):
            pass
    assert info.value.response.status_code == 403


# Pushes -------------------------------------------------------------------------------------


async def test_push_from_another_process_reaches_every_connection_of_that_user_only(
    daphne_server, live_user_ids, token_for, push_from_other_process
):
    alice, bob = live_user_ids["alice"], live_user_ids["bob"]
    async with (
        ws_connect(daphne_server.url, token=token_for(alice)) as tab1,
        ws_connect(daphne_server.url, query_token=token_for(alice)) as tab2,
        ws_connect(daphne_server.url, token=token_for(bob)) as other,
    ):
        push_from_other_process(
            "from livepush import send_ws_message_to_user, WebSocketMessageType as T; "
            f"send_ws_message_to_user({alice}, T.PHOTO_UPLOADED, {{'id': 7, 'album_id': 3}}); "
            f"send_ws_message_to_user({bob}, 'SYSTEM_NOTIFICATION', {{'marker': 'end'}})"
        )
        expected = {"type": "PHOTO_UPLOADED", "data": {"id": 7, "album_id": 3}}
        assert await tab1.recv() == expected
        assert await tab2.recv() == expected
        # Bob's first frame is the marker sent after Alice's push: Alice's never reached him.
        assert await other.recv() == {"type": "SYSTEM_NOTIFICATION", "data": {"marker": "end"}}


async def test_broadcast_to_users_and_push_to_all(
    daphne_server, live_user_ids, token_for, push_from_other_process
):
    ids = live_user_ids
    async with (
        ws_connect(daphne_server.url, token=token_for(ids["alice"])) as alice,
        ws_connect(daphne_server.url, token=token_for(ids["bob"])) as bob,
        ws_connect(daphne_server.url, token=token_for(ids["dave"])) as dave,
    ):
        push_from_other_process(
            "from livepush import broadcast_ws_message, send_ws_message_to_all; "
            f"broadcast_ws_message([{ids['alice']}, {ids['bob']}, {ids['alice']}], "
            "'BUCKETPOINT_CREATED', {'id': 1}); "
            "send_ws_message_to_all('SYSTEM_NOTIFICATION', {'text': 'maintenance'})"
        )
        everyone = {"type": "SYSTEM_NOTIFICATION", "data": {"text": "maintenance"}}
        for client in (alice, bob):
            assert await client.recv_until("SYSTEM_NOTIFICATION") == [
                {"type": "BUCKETPOINT_CREATED", "data": {"id": 1}},
                everyone,
            ]
        # Dave got the broadcast to all and nothing before it.
        assert await dave.recv() == everyone


async def test_rolled_back_transaction_sends_nothing(
    daphne_server, live_user_ids, token_for, push_from_other_process
):
    alice = live_user_ids["alice"]
    async with ws_connect(daphne_server.url, token=token_for(alice)) as client:
        push_from_other_process(
            "from django.db import transaction\n"
            "from livepush import send_ws_message_to_user\n"
            "try:\n"
            "    with transaction.atomic():\n"
            f"        send_ws_message_to_user({alice}, 'ALBUM_DELETED', {{'id': 'rolled-back'}})\n"
            "        raise RuntimeError\n"
            "except RuntimeError:\n"
            "    pass\n"
            "with transaction.atomic():\n"
            f"    send_ws_message_to_user({alice}, 'ALBUM_DELETED', {{'id': 'committed'}})\n"
        )
        assert await client.recv() == {"type": "ALBUM_DELETED", "data": {"id": "committed"}}


async def test_push_after_connection_idle_longer_than_redis_socket_timeout(
    daphne_server, live_user_ids, token_for, push_from_other_process
):
    # channels_redis#422: with redis-py 8 an idle receive loop died after 5 s. The idle time is
    # the point of this test, so it is waited out rather than awaited as an event.
    async with ws_connect(daphne_server.url, token=token_for(live_user_ids["dave"])) as client:
        await asyncio.sleep(6.5)
        push_from_other_process(
            f"from livepush import send_ws_message_to_user; "
            f"send_ws_message_to_user({live_user_ids['dave']}, 'MESSAGE_CREATED', {{'after': 'idle'}})"
        )
        assert await client.recv() == {"type": "MESSAGE_CREATED", "data": {"after": "idle"}}


async def test_a_connect_after_the_last_connection_left_gets_pushes(
    daphne_server, live_user_ids, token_for, push_from_other_process
):
    # The process's fan-out stops when its last connection leaves and starts again on the next
    # connect; RedisPubSubChannelLayer used to refuse every connect after that (it forgets a
    # channel whose receive was cancelled).
    alice, bob = live_user_ids["alice"], live_user_ids["bob"]
    async with ws_connect(daphne_server.url, token=token_for(alice)):
        pass
    async with (
        ws_connect(daphne_server.url, token=token_for(alice)) as for_alice,
        ws_connect(daphne_server.url, token=token_for(bob)) as for_bob,
    ):
        push_from_other_process(
            "from livepush import send_ws_message_to_user; "
            f"send_ws_message_to_user({bob}, 'MESSAGE_CREATED', {{'to': 'bob'}}); "
            f"send_ws_message_to_user({alice}, 'MESSAGE_CREATED', {{'to': 'alice'}})"
        )
        assert await for_alice.recv() == {"type": "MESSAGE_CREATED", "data": {"to": "alice"}}
        assert await for_bob.recv() == {"type": "MESSAGE_CREATED", "data": {"to": "bob"}}


# Client frames ------------------------------------------------------------------------------


async def test_malformed_json_gets_error_and_connection_keeps_working(
    daphne_server, live_user_ids, token_for
):
    async with ws_connect(daphne_server.url, token=token_for(live_user_ids["alice"])) as client:
        await client.send("{not json")
        error = await client.recv()
        assert error["type"] == "ERROR"
        assert error["data"]["code"] == "malformed_json"
        assert error["data"]["detail"]
        await client.send({"type": "ECHO", "data": {"still": "open"}})
        assert await client.recv() == {"type": "ECHO", "data": {"still": "open"}}


async def test_unknown_and_forbidden_types_get_errors(daphne_server, live_user_ids, token_for):
    async with ws_connect(daphne_server.url, token=token_for(live_user_ids["alice"])) as client:
        await client.send({"type": "ECHOO"})
        error = await client.recv()
        assert error["data"]["code"] == "unknown_type"
        assert "'ECHO'" in error["data"]["detail"]
        await client.send({"type": "PHOTO_UPLOADED", "data": {}})
        assert (await client.recv())["data"]["code"] == "type_not_allowed"


@pytest.fixture(scope="module")
def uvicorn_server(live_env, tmp_path_factory):
    server = AsgiServer(tmp_path_factory.mktemp("uvicorn"), live_env, server="uvicorn")
    server.start()
    yield server
    server.stop()


async def test_frame_over_the_servers_limit_is_closed_with_1009(
    uvicorn_server, live_user_ids, token_for
):
    async with ws_connect(uvicorn_server.url, token=token_for(live_user_ids["alice"])) as client:
        await client.send({"type": "PING"})
        assert await client.recv() == {"type": "PONG"}
        await client.send(json.dumps({"type": "ECHO", "data": "x" * 70_000}))
        assert await client.closed_with() == 1009


async def test_a_client_that_stops_reading_holds_up_no_one_and_loses_nothing(
    uvicorn_server, live_user_ids, token_for, push_from_other_process
):
    dave = live_user_ids["dave"]
    token = token_for(dave)
    # The slow client reads nothing until the end: the socket buffers fill and uvicorn's send()
    # for it has to wait for the transport to drain.
    slow, slow_writer = await raw_websocket(uvicorn_server.port, token)
    async with ws_connect(uvicorn_server.url, token=token) as fast:
        count, size = 150, 60_000
        push_from_other_process(
            "from livepush import send_ws_message_to_user\n"
            f"for i in range({count}):\n"
            f"    send_ws_message_to_user({dave}, 'MESSAGE_CREATED', {{'i': i, 'pad': 'x' * {size}}})\n"
        )
        # The fast client gets every push while the slow one is not reading...
        for i in range(count):
            assert (await fast.recv())["data"]["i"] == i
        # ...and the slow one gets them all too, in order, once it reads.
        received = []
        while len(received) < count:
            frame = json.loads(await read_text_frame(slow))
            if frame["type"] != "PING":
                received.append(frame["data"]["i"])
        assert received == list(range(count))
    slow_writer.close()
    await slow_writer.wait_closed()


@pytest.fixture(scope="module")
def roomy_daphne(live_env, tmp_path_factory):
    # daphne's own limit above MAX_MESSAGE_SIZE: the application's check answers instead.
    server = AsgiServer(tmp_path_factory.mktemp("daphne-roomy"), live_env, max_message_size=1 << 20)
    server.start()
    yield server
    server.stop()


async def test_frame_over_max_message_size_under_the_servers_limit_is_closed_with_4009(
    roomy_daphne, live_user_ids, token_for
):
    async with ws_connect(roomy_daphne.url, token=token_for(live_user_ids["alice"])) as client:
        await client.send(json.dumps({"type": "ECHO", "data": "x" * 70_000}))
        assert await client.closed_with() == 4009


async def test_frame_just_under_max_message_size_is_handled(roomy_daphne, live_user_ids, token_for):
    async with ws_connect(roomy_daphne.url, token=token_for(live_user_ids["alice"])) as client:
        payload = "x" * (65536 - len('{"type":"ECHO","data":""}'))
        await client.send(json.dumps({"type": "ECHO", "data": payload}, separators=(",", ":")))
        assert (await client.recv())["data"] == payload


# Heartbeat ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def heartbeat_server(live_env, tmp_path_factory):
    server = AsgiServer(
        tmp_path_factory.mktemp("daphne-hb"), {**live_env, "LIVEPUSH_TEST_HEARTBEAT": "0.5,0.4"}
    )
    server.start()
    yield server
    server.stop()


async def test_server_pings_and_closes_a_silent_client_with_4002(
    heartbeat_server, live_user_ids, token_for
):
    token = token_for(live_user_ids["alice"])
    async with ws_connect(heartbeat_server.url, token=token, answer_pings=False) as client:
        assert await client.recv() == {"type": "PING"}
        await client.send({"type": "PONG"})
        # Answered: the next PING comes on the same, still open connection.
        assert await client.recv() == {"type": "PING"}
        # Not answered: the server closes.
        assert await client.closed_with() == 4002
