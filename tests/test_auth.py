"""livepush.auth in process: token extraction, verification, user lookup and the middleware.

The same refusals over a real daphne server are in test_live.py; these tests name the exact
AuthError for each case and look at what the middleware does to the scope and to the log.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import jwt
import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test import override_settings

from livepush.auth import (
    AuthError,
    AuthResult,
    JWTAuthMiddleware,
    JWTAuthMiddlewareStack,
    WrongTokenType,
    authenticate_token,
    decode_token,
    get_token_from_scope,
)
from livepush.routing import websocket_application
from livepush.tokens import issue_access_token

from .helpers import ORIGIN_HEADERS, WAIT
from .project.settings import SECRET_KEY


def livepush(**changes: Any) -> override_settings:
    """override_settings for LIVEPUSH keys, keeping the test project's other keys."""
    return override_settings(LIVEPUSH={**settings.LIVEPUSH, **changes})


def _exp(seconds: float = 300) -> dt.datetime:
    return dt.datetime.now(tz=dt.timezone.utc) + dt.timedelta(seconds=seconds)


def _token(claims: dict[str, Any], key: str = SECRET_KEY, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def _scope(subprotocols: list[str] | None = None, query: bytes | str = b"") -> dict[str, Any]:
    return {"type": "websocket", "subprotocols": subprotocols or [], "query_string": query}


@contextmanager
def user_table_missing() -> Iterator[None]:
    """Make the user lookup fail in the database itself: the user table is renamed away."""
    table = get_user_model()._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE "{table}" RENAME TO "{table}_away"')
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'ALTER TABLE "{table}_away" RENAME TO "{table}"')


@pytest.fixture
def broken_user_table(db_users: dict[str, Any]) -> Iterator[dict[str, Any]]:
    with user_table_missing():
        yield db_users


# get_token_from_scope -----------------------------------------------------------------------


def test_token_from_subprotocol():
    scope = _scope(["livepush", "livepush.token.abc.def.ghi"])
    assert get_token_from_scope(scope) == "abc.def.ghi"


def test_token_from_query_string():
    assert get_token_from_scope(_scope(query=b"x=1&accessToken=abc.def.ghi")) == "abc.def.ghi"


def test_query_string_given_as_str_is_read_too():
    assert get_token_from_scope(_scope(query="accessToken=abc.def.ghi")) == "abc.def.ghi"


def test_subprotocol_wins_over_query_string():
    scope = _scope(["livepush", "livepush.token.from-header"], b"accessToken=from-query")
    assert get_token_from_scope(scope) == "from-header"


def test_no_token_anywhere_is_none():
    assert get_token_from_scope(_scope(["livepush"], b"other=1")) is None
    assert get_token_from_scope({"type": "websocket"}) is None


def test_empty_values_are_no_token():
    assert get_token_from_scope(_scope(["livepush", "livepush.token."])) is None
    assert get_token_from_scope(_scope(query=b"accessToken=")) is None
    assert get_token_from_scope(_scope(query=b"accessToken")) is None


def test_other_subprotocols_and_non_strings_are_ignored():
    scope = _scope(["livepush", "livepush.tokenish", None], b"accessToken=from-query")  # type: ignore[list-item]
    assert get_token_from_scope(scope) == "from-query"


def test_query_param_none_turns_the_query_form_off():
    with livepush(JWT_QUERY_PARAM=None):
        assert get_token_from_scope(_scope(query=b"accessToken=abc")) is None
        # The subprotocol form still works.
        assert get_token_from_scope(_scope(["livepush.token.abc"])) == "abc"


def test_query_param_name_is_configurable():
    with livepush(JWT_QUERY_PARAM="jwt"):
        assert get_token_from_scope(_scope(query=b"jwt=abc")) == "abc"
        assert get_token_from_scope(_scope(query=b"accessToken=abc")) is None


# decode_token -------------------------------------------------------------------------------


def test_issued_token_decodes_to_its_claims():
    claims = decode_token(issue_access_token(42, scope="chat"))
    assert claims["user_id"] == 42
    assert claims["token_type"] == "access"
    assert claims["scope"] == "chat"
    assert claims["exp"] > claims["iat"]


def test_exp_is_required():
    with pytest.raises(jwt.MissingRequiredClaimError, match="exp"):
        decode_token(_token({"user_id": 1}))


def test_user_id_claim_is_required():
    with pytest.raises(jwt.MissingRequiredClaimError, match="user_id"):
        decode_token(_token({"sub": "1", "exp": _exp()}))


def test_user_id_claim_is_configurable():
    with livepush(JWT_USER_ID_CLAIM="uid"):
        assert decode_token(_token({"uid": 7, "exp": _exp()}))["uid"] == 7
        with pytest.raises(jwt.MissingRequiredClaimError, match="uid"):
            decode_token(_token({"user_id": 7, "exp": _exp()}))


def test_issued_token_with_sub_as_user_id_claim_decodes():
    # RFC 7519 (and PyJWT >= 2.10) want "sub" as a string, so the issued id is one there.
    with livepush(JWT_USER_ID_CLAIM="sub"):
        assert decode_token(issue_access_token(42))["sub"] == "42"


def test_expired_token_is_refused():
    with pytest.raises(jwt.ExpiredSignatureError):
        decode_token(_token({"user_id": 1, "exp": _exp(-5)}))


def test_leeway_accepts_a_token_just_expired():
    token = _token({"user_id": 1, "exp": _exp(-5)})
    with livepush(JWT_LEEWAY=60):
        assert decode_token(token)["user_id"] == 1


def test_leeway_applies_to_nbf_too():
    token = _token({"user_id": 1, "exp": _exp(), "nbf": _exp(5)})
    with pytest.raises(jwt.ImmatureSignatureError):
        decode_token(token)
    with livepush(JWT_LEEWAY=60):
        assert decode_token(token)["user_id"] == 1


def test_algorithm_outside_the_allowlist_is_refused():
    token = _token({"user_id": 1, "exp": _exp()}, algorithm="HS512")
    with pytest.raises(jwt.InvalidAlgorithmError):
        decode_token(token)
    with livepush(JWT_ALGORITHMS=["HS256", "HS512"]):
        assert decode_token(token)["user_id"] == 1


def test_alg_none_is_refused_even_when_allowlisted():
    token = jwt.encode({"user_id": 1, "exp": _exp()}, None, algorithm="none")
    with livepush(JWT_ALGORITHMS=["none", "HS256"]), pytest.raises(jwt.InvalidAlgorithmError):
        decode_token(token)


def test_wrong_key_is_refused():
    with pytest.raises(jwt.InvalidSignatureError):
        decode_token(_token({"user_id": 1, "exp": _exp()}, key="k" * 64))


def test_signing_and_verifying_keys_come_from_settings():
    with livepush(JWT_SIGNING_KEY="s" * 64):
        token = issue_access_token(1)
        assert decode_token(token)["user_id"] == 1
    # Signed with the custom key, so SECRET_KEY does not verify it.
    with pytest.raises(jwt.InvalidSignatureError):
        decode_token(token)
    with livepush(JWT_SIGNING_KEY="other" * 16, JWT_VERIFYING_KEY="s" * 64):
        assert decode_token(token)["user_id"] == 1


def test_audience_is_enforced_when_set():
    with livepush(JWT_AUDIENCE="livepush-clients"):
        with pytest.raises(jwt.MissingRequiredClaimError, match="aud"):
            decode_token(_token({"user_id": 1, "exp": _exp()}))
        with pytest.raises(jwt.InvalidAudienceError):
            decode_token(_token({"user_id": 1, "exp": _exp(), "aud": "someone-else"}))
        assert decode_token(issue_access_token(1))["aud"] == "livepush-clients"


def test_issuer_is_enforced_when_set():
    with livepush(JWT_ISSUER="https://auth.example"):
        with pytest.raises(jwt.MissingRequiredClaimError, match="iss"):
            decode_token(_token({"user_id": 1, "exp": _exp()}))
        with pytest.raises(jwt.InvalidIssuerError):
            decode_token(_token({"user_id": 1, "exp": _exp(), "iss": "https://evil.example"}))
        assert decode_token(issue_access_token(1))["iss"] == "https://auth.example"


def test_missing_token_type_is_accepted():
    claims = decode_token(_token({"user_id": 1, "exp": _exp()}))
    assert "token_type" not in claims


def test_access_token_type_is_accepted():
    assert decode_token(_token({"user_id": 1, "exp": _exp(), "token_type": "access"}))


def test_refresh_token_is_refused_as_an_invalid_token():
    token = _token({"user_id": 1, "exp": _exp(), "token_type": "refresh"})
    with pytest.raises(WrongTokenType, match="token_type is 'refresh'") as info:
        decode_token(token)
    # Callers that catch PyJWT's base class catch this refusal too.
    assert isinstance(info.value, jwt.InvalidTokenError)


# authenticate_token -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_valid_token_gives_the_user_and_claims(db_users):
    alice = db_users["alice"]
    result = await authenticate_token(issue_access_token(alice))
    assert result.error is None
    assert result.user == alice
    assert result.user.is_authenticated
    assert result.claims is not None
    assert result.claims["user_id"] == alice.pk


@pytest.mark.django_db(transaction=True)
async def test_user_id_given_as_string_finds_the_user(db_users):
    bob = db_users["bob"]
    result = await authenticate_token(_token({"user_id": str(bob.pk), "exp": _exp()}))
    assert result.error is None
    assert result.user == bob


@pytest.mark.parametrize(
    ("make_token", "error"),
    [
        pytest.param(lambda u: None, AuthError.MISSING_TOKEN, id="none"),
        pytest.param(lambda u: "", AuthError.MISSING_TOKEN, id="empty"),
        pytest.param(lambda u: "not-a-jwt", AuthError.MALFORMED_TOKEN, id="malformed"),
        pytest.param(
            lambda u: _token({"user_id": u["alice"].pk, "exp": _exp(-60)}),
            AuthError.EXPIRED_TOKEN,
            id="expired",
        ),
        pytest.param(
            lambda u: _token({"user_id": u["alice"].pk, "exp": _exp()}, key="x" * 64),
            AuthError.INVALID_SIGNATURE,
            id="bad-signature",
        ),
        pytest.param(
            lambda u: _token({"user_id": u["alice"].pk, "exp": _exp()}, algorithm="HS512"),
            AuthError.INVALID_SIGNATURE,
            id="algorithm-not-allowed",
        ),
        pytest.param(
            lambda u: _token({"user_id": u["alice"].pk}), AuthError.INVALID_CLAIMS, id="no-exp"
        ),
        pytest.param(
            lambda u: _token({"sub": str(u["alice"].pk), "exp": _exp()}),
            AuthError.INVALID_CLAIMS,
            id="no-user-id-claim",
        ),
        pytest.param(
            lambda u: _token({"user_id": "abc", "exp": _exp()}),
            AuthError.INVALID_CLAIMS,
            id="user-id-not-a-pk",
        ),
        pytest.param(
            lambda u: _token({"user_id": [u["alice"].pk], "exp": _exp()}),
            AuthError.INVALID_CLAIMS,
            id="user-id-a-list",
        ),
        pytest.param(
            lambda u: _token({"user_id": u["alice"].pk, "exp": _exp(), "token_type": "refresh"}),
            AuthError.WRONG_TOKEN_TYPE,
            id="refresh-token",
        ),
        pytest.param(
            lambda u: _token({"user_id": 999_999, "exp": _exp()}),
            AuthError.UNKNOWN_USER,
            id="unknown-user",
        ),
        pytest.param(
            lambda u: issue_access_token(u["carol"]), AuthError.INACTIVE_USER, id="inactive-user"
        ),
    ],
)
@pytest.mark.django_db(transaction=True)
async def test_refusals_name_their_reason(db_users, make_token, error):
    result = await authenticate_token(make_token(db_users))
    assert result == AuthResult(result.user, None, error)
    assert isinstance(result.user, AnonymousUser)
    assert not result.user.is_authenticated


@pytest.mark.django_db(transaction=True)
async def test_sub_as_user_id_claim_finds_the_user(db_users):
    with livepush(JWT_USER_ID_CLAIM="sub"):
        result = await authenticate_token(issue_access_token(db_users["bob"]))
    assert result.error is None
    assert result.user == db_users["bob"]
    assert result.claims is not None
    assert result.claims["sub"] == str(db_users["bob"].pk)


@pytest.mark.django_db(transaction=True)
async def test_audience_mismatch_is_invalid_claims(db_users):
    token = issue_access_token(db_users["alice"])  # no aud: JWT_AUDIENCE is not set yet
    with livepush(JWT_AUDIENCE="livepush-clients"):
        assert (await authenticate_token(token)).error is AuthError.INVALID_CLAIMS
        accepted = await authenticate_token(issue_access_token(db_users["alice"]))
    assert accepted.error is None
    assert accepted.user == db_users["alice"]


@pytest.mark.django_db(transaction=True)
async def test_database_failure_is_a_server_error(broken_user_table, caplog):
    token = issue_access_token(broken_user_table["alice"])
    with caplog.at_level(logging.ERROR, logger="livepush.auth"):
        result = await authenticate_token(token)
    assert result.error is AuthError.SERVER_ERROR
    assert isinstance(result.user, AnonymousUser)
    assert result.claims is None
    # Logged with its traceback, which names the database error.
    [record] = [r for r in caplog.records if r.name == "livepush.auth"]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert "auth_user" in str(record.exc_info[1])


@pytest.mark.django_db(transaction=True)
async def test_database_failure_closes_the_connection_with_4000(broken_user_table):
    token = issue_access_token(broken_user_table["alice"])
    communicator = WebsocketCommunicator(
        websocket_application(),
        "/ws/",
        headers=ORIGIN_HEADERS,
        subprotocols=[f"livepush.token.{token}"],
    )
    try:
        assert await communicator.connect(timeout=WAIT) == (True, None)
        assert await communicator.receive_output(timeout=WAIT) == {
            "type": "websocket.close",
            "code": 4000,
        }
    finally:
        await communicator.disconnect(timeout=WAIT)


def test_user_table_comes_back_after_the_failure(db_users):
    # Guards the helper above: the tests after a database failure run on an intact database.
    authenticate = async_to_sync(authenticate_token)
    with user_table_missing():
        assert authenticate(issue_access_token(db_users["bob"])).error is AuthError.SERVER_ERROR
    result = authenticate(issue_access_token(db_users["bob"]))
    assert result.error is None
    assert result.user == db_users["bob"]


# The token never reaches the log --------------------------------------------------------------


@pytest.mark.parametrize("form", ["subprotocol", "query"])
@pytest.mark.django_db(transaction=True)
async def test_token_never_appears_in_the_log(db_users, caplog, form):
    caplog.set_level(logging.DEBUG)
    refused = _token({"user_id": db_users["alice"].pk, "exp": _exp(-60)})
    accepted = issue_access_token(db_users["alice"])

    async def connect(token: str) -> WebsocketCommunicator:
        if form == "subprotocol":
            communicator = WebsocketCommunicator(
                websocket_application(),
                "/ws/",
                headers=ORIGIN_HEADERS,
                subprotocols=["livepush", f"livepush.token.{token}"],
            )
        else:
            communicator = WebsocketCommunicator(
                websocket_application(), f"/ws/?accessToken={token}", headers=ORIGIN_HEADERS
            )
        assert (await communicator.connect(timeout=WAIT))[0] is True
        return communicator

    communicator = await connect(refused)
    assert (await communicator.receive_output(timeout=WAIT))["type"] == "websocket.send"  # ERROR
    assert await communicator.receive_output(timeout=WAIT) == {
        "type": "websocket.close",
        "code": 4001,
        "reason": "expired_token",
    }
    await communicator.disconnect(timeout=WAIT)

    communicator = await connect(accepted)
    await communicator.send_json_to({"type": "PING"})
    assert await communicator.receive_json_from(timeout=WAIT) == {"type": "PONG"}
    await communicator.disconnect(timeout=WAIT)

    # The refusal was logged, with its reason: the exception at debug level, the refusal at
    # INFO ...
    refusals = [r for r in caplog.records if r.name == "livepush.auth"]
    assert [r.levelno for r in refusals] == [logging.DEBUG, logging.INFO]
    assert all("expired_token" in r.getMessage() for r in refusals)
    # ... and neither token, nor the signature part of either, is anywhere in the log.
    for token in (refused, accepted):
        assert token not in caplog.text
        assert token.rsplit(".", 1)[1] not in caplog.text


# JWTAuthMiddleware ----------------------------------------------------------------------------


class ScopeRecorder:
    """An inner ASGI application that keeps the scope it was called with."""

    def __init__(self) -> None:
        self.scopes: list[Any] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scopes.append(scope)


async def _receive() -> dict[str, Any]:
    return {"type": "websocket.connect"}


async def _send(message: Any) -> None:
    return None


@pytest.mark.parametrize("scope_type", ["http", "lifespan"])
async def test_middleware_passes_other_scopes_through_untouched(scope_type):
    inner = ScopeRecorder()
    scope = {"type": scope_type, "query_string": b"accessToken=abc", "headers": []}
    before = dict(scope)
    await JWTAuthMiddleware(inner)(scope, _receive, _send)
    assert len(inner.scopes) == 1
    assert inner.scopes[0] is scope
    assert scope == before


async def test_middleware_copies_the_scope_and_fills_in_the_result():
    inner = ScopeRecorder()
    scope = _scope(["livepush"])
    before = dict(scope)
    await JWTAuthMiddleware(inner)(scope, _receive, _send)
    [seen] = inner.scopes
    assert seen is not scope
    assert scope == before  # the original is not mutated
    assert isinstance(seen["user"], AnonymousUser)
    assert seen["jwt_claims"] is None
    assert seen["livepush_auth_error"] is AuthError.MISSING_TOKEN
    assert {k: v for k, v in seen.items() if k in before} == before


@pytest.mark.django_db(transaction=True)
async def test_middleware_puts_the_authenticated_user_in_the_scope(db_users):
    inner = ScopeRecorder()
    alice = db_users["alice"]
    scope = _scope(["livepush", f"livepush.token.{issue_access_token(alice)}"])
    before = dict(scope)
    await JWTAuthMiddleware(inner)(scope, _receive, _send)
    [seen] = inner.scopes
    assert scope == before
    assert seen["user"] == alice
    assert seen["jwt_claims"]["user_id"] == alice.pk
    assert seen["livepush_auth_error"] is None


@pytest.mark.django_db(transaction=True)
async def test_middleware_keeps_no_state_between_connections(db_users):
    inner = ScopeRecorder()
    middleware = JWTAuthMiddleware(inner)
    await middleware(
        _scope([f"livepush.token.{issue_access_token(db_users['alice'])}"]), _receive, _send
    )
    await middleware(
        _scope([f"livepush.token.{issue_access_token(db_users['bob'])}"]), _receive, _send
    )
    await middleware(_scope(), _receive, _send)
    assert [s["user"] for s in inner.scopes[:2]] == [db_users["alice"], db_users["bob"]]
    assert isinstance(inner.scopes[2]["user"], AnonymousUser)


def test_middleware_stack_wraps_the_inner_application():
    inner = ScopeRecorder()
    stack = JWTAuthMiddlewareStack(inner)
    assert isinstance(stack, JWTAuthMiddleware)
    assert stack.inner is inner
