"""Token lifetime on open connections: close with 4003 at expiry, in-band REFRESH_TOKEN.

In process first (Channels' WebsocketCommunicator), then over real sockets against daphne. Tokens
expire about a second after the test makes them; the tests await the close, and compare the time
it came with the token's ``exp`` claim (the close never comes before it), never with a speed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jwt
import pytest
from channels.testing import WebsocketCommunicator

from livepush.protocol import CloseCode
from livepush.tokens import issue_access_token

from .helpers import WAIT, connected, ws_connect

CLOSE_4003 = {"type": "websocket.close", "code": int(CloseCode.TOKEN_EXPIRED)}
#: How long the short tokens of these tests live, in seconds: long enough for a connect and a
#: refresh on a loaded machine, short enough to wait for.
SHORT = 3.0


def short_token(user: Any, seconds: float = SHORT) -> str:
    """An access token for ``user`` that expires ``seconds`` from now (a float ``exp``)."""
    return issue_access_token(user, exp=time.time() + seconds)


def exp_of(token: str) -> float:
    return float(jwt.decode(token, options={"verify_signature": False})["exp"])


def expiry_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("livepush-token-expiry-")]


# In process ---------------------------------------------------------------------------------


async def recv(communicator: WebsocketCommunicator) -> Any:
    return await communicator.receive_json_from(timeout=WAIT)


async def refresh(communicator: WebsocketCommunicator, data: Any) -> None:
    await communicator.send_json_to({"type": "REFRESH_TOKEN", "data": data})


async def assert_still_open(communicator: WebsocketCommunicator) -> None:
    """An ECHO round trip: open, and every frame sent before it was handled."""
    await communicator.send_json_to({"type": "ECHO", "data": "open"})
    assert await recv(communicator) == {"type": "ECHO", "data": "open"}


async def test_expired_token_closes_the_connection_with_4003(db_users, layer):
    token = short_token(db_users["alice"])
    async with connected(token) as communicator:
        assert await communicator.receive_output(timeout=WAIT) == CLOSE_4003
        assert time.time() >= exp_of(token)
    assert expiry_tasks() == []


async def test_leeway_delays_the_close(db_users, layer, settings):
    settings.LIVEPUSH = {**settings.LIVEPUSH, "JWT_LEEWAY": 1}
    token = short_token(db_users["alice"], 1.0)
    async with connected(token) as communicator:
        assert await communicator.receive_output(timeout=WAIT) == CLOSE_4003
        assert time.time() >= exp_of(token) + 1


async def test_a_refresh_moves_the_close_to_the_new_expiry(db_users, layer):
    alice = db_users["alice"]
    old = short_token(alice)
    async with connected(old) as refreshed, connected(old) as witness:
        await refresh(refreshed, {"token": issue_access_token(alice)})
        await assert_still_open(refreshed)  # the refresh was handled, and got no answer
        # The witness shares the old token: its close proves the old expiry has passed.
        assert await witness.receive_output(timeout=WAIT) == CLOSE_4003
        assert time.time() >= exp_of(old)
        await assert_still_open(refreshed)
        # The last token wins, even when it expires sooner.
        sooner = short_token(alice, SHORT / 2)
        await refresh(refreshed, {"token": sooner})
        assert await refreshed.receive_output(timeout=WAIT) == CLOSE_4003
        assert time.time() >= exp_of(sooner)
    assert expiry_tasks() == []


async def test_a_refresh_for_another_user_is_refused_and_the_old_expiry_stands(db_users, layer):
    token = short_token(db_users["alice"])
    async with connected(token) as communicator:
        await refresh(communicator, {"token": issue_access_token(db_users["bob"])})
        error = await recv(communicator)
        assert error["type"] == "ERROR"
        assert error["data"]["code"] == "token_refused"
        assert "4003" in error["data"]["detail"]
        assert await communicator.receive_output(timeout=WAIT) == CLOSE_4003
        assert time.time() >= exp_of(token)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (None, "invalid_payload"),
        ("a-token", "invalid_payload"),
        ({}, "invalid_payload"),
        ({"token": 5}, "invalid_payload"),
        ({"token": "x", "more": 1}, "invalid_payload"),
        ({"token": ""}, "token_refused"),
        ({"token": "not.a.jwt"}, "token_refused"),
    ],
)
async def test_a_malformed_refresh_gets_an_error_and_changes_nothing(db_users, layer, data, code):
    async with connected(issue_access_token(db_users["alice"])) as communicator:
        await refresh(communicator, data)
        error = await recv(communicator)
        assert error["type"] == "ERROR"
        assert error["data"]["code"] == code
        await assert_still_open(communicator)


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": 1},  # expired
        {"token_type": "refresh"},  # not an access token
    ],
)
async def test_a_refresh_is_verified_like_a_connect_token(db_users, layer, claims):
    alice = db_users["alice"]
    async with connected(issue_access_token(alice)) as communicator:
        await refresh(communicator, {"token": issue_access_token(alice, **claims)})
        assert (await recv(communicator))["data"]["code"] == "token_refused"
        await assert_still_open(communicator)


async def test_a_refresh_for_an_inactive_user_is_refused(db_users, layer):
    alice = db_users["alice"]
    async with connected(issue_access_token(alice)) as communicator:
        alice.is_active = False
        await alice.asave(update_fields=["is_active"])
        await refresh(communicator, {"token": issue_access_token(alice)})
        assert (await recv(communicator))["data"]["code"] == "token_refused"


async def test_the_middleware_puts_the_exp_in_the_scope(db_users):
    from livepush.auth import JWTAuthMiddleware

    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scope)

    token = issue_access_token(db_users["alice"], exp=1_999_999_999.5)
    await JWTAuthMiddleware(app)(
        {"type": "websocket", "subprotocols": [f"livepush.token.{token}"]}, None, None
    )
    assert seen["livepush_token_exp"] == 1_999_999_999.5
    await JWTAuthMiddleware(app)({"type": "websocket"}, None, None)
    assert seen["livepush_token_exp"] is None


# Over real sockets (daphne, Redis) ----------------------------------------------------------


@pytest.mark.live
@pytest.mark.redis
async def test_live_expired_token_closes_with_4003(daphne_server, live_user_ids):
    token = short_token(live_user_ids["alice"])
    async with ws_connect(daphne_server.url, token=token) as client:
        assert await client.closed_with() == CloseCode.TOKEN_EXPIRED
        assert time.time() >= exp_of(token)


@pytest.mark.live
@pytest.mark.redis
async def test_live_refreshed_connection_outlives_its_first_token_and_gets_pushes(
    daphne_server, live_user_ids, push_from_other_process
):
    alice = live_user_ids["alice"]
    old = short_token(alice)
    async with (
        ws_connect(daphne_server.url, token=old) as client,
        ws_connect(daphne_server.url, token=old) as witness,
    ):
        await client.send({"type": "REFRESH_TOKEN", "data": {"token": issue_access_token(alice)}})
        # Frames are handled in order: the echo means the refresh was, and it had no answer.
        await client.send({"type": "ECHO", "data": "refreshed"})
        assert await client.recv() == {"type": "ECHO", "data": "refreshed"}
        # The witness shares the old token: its close proves the old expiry has passed.
        assert await witness.closed_with() == CloseCode.TOKEN_EXPIRED
        assert time.time() >= exp_of(old)
        push_from_other_process(
            "from livepush import send_ws_message_to_user; "
            f"send_ws_message_to_user({alice}, 'SYSTEM_NOTIFICATION', {{'after': 'expiry'}})"
        )
        assert await client.recv() == {"type": "SYSTEM_NOTIFICATION", "data": {"after": "expiry"}}
        assert client.ws.close_code is None


@pytest.mark.live
@pytest.mark.redis
async def test_live_refresh_for_another_user_is_refused_and_closes_at_the_old_expiry(
    daphne_server, live_user_ids
):
    token = short_token(live_user_ids["alice"])
    async with ws_connect(daphne_server.url, token=token) as client:
        bobs = issue_access_token(live_user_ids["bob"])
        await client.send({"type": "REFRESH_TOKEN", "data": {"token": bobs}})
        error = await client.recv()
        assert (error["type"], error["data"]["code"]) == ("ERROR", "token_refused")
        assert await client.closed_with() == CloseCode.TOKEN_EXPIRED
        assert time.time() >= exp_of(token)


@pytest.mark.live
@pytest.mark.redis
async def test_live_malformed_refreshes_get_errors_and_the_connection_stays(
    daphne_server, live_user_ids
):
    async with ws_connect(daphne_server.url, token=issue_access_token(live_user_ids["alice"])) as c:
        for frame in (
            '{"type":"REFRESH_TOKEN"}',
            '{"type":"REFRESH_TOKEN","data":{"token":["x"]}}',
            '{"type":"REFRESH_TOKEN","data":{"token":"eyJ.garbage.x"}}',
        ):
            await c.send(frame)
            assert (await c.recv())["type"] == "ERROR"
        await c.send({"type": "ECHO", "data": "still open"})
        assert await c.recv() == {"type": "ECHO", "data": "still open"}
