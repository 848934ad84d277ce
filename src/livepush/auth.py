"""JWT authentication for WebSocket connections.

:class:`JWTAuthMiddleware` reads a token from the ``Sec-WebSocket-Protocol`` header
(``livepush.token.<JWT>``) or from the ``?accessToken=`` query parameter, verifies it with PyJWT
against the algorithm allowlist (``exp`` required), looks the user up without blocking the event
loop, and puts the result in the scope:

- ``scope["user"]``: the user, or an ``AnonymousUser``;
- ``scope["jwt_claims"]``: the verified claims, or ``None``;
- ``scope["livepush_auth_error"]``: ``None``, or an :class:`AuthError` value saying why not.
- ``scope["livepush_token_exp"]``: the token's ``exp`` (seconds since the epoch, a float), or
  ``None``; the consumer closes the connection with ``4003`` when it passes (plus ``JWT_LEEWAY``)
  unless a ``REFRESH_TOKEN`` frame replaced the token (see :mod:`livepush._expiry`).

It never closes a connection itself: the consumer accepts and then closes with ``4001`` (or
``4000`` for a server error), since a close before accept reaches browsers as a bare 1006.
The reason for a refusal is logged at debug level; the token is never logged.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import jwt
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError

from livepush._userloader import UserNotFound, load_user
from livepush.conf import livepush_settings
from livepush.protocol import TOKEN_SUBPROTOCOL_PREFIX, ErrorCode, error_frame

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

    from livepush._types import ASGIApp, ASGIReceive, ASGISend, Scope

__all__ = [
    "AuthError",
    "AuthResult",
    "JWTAuthMiddleware",
    "JWTAuthMiddlewareStack",
    "WrongTokenType",
    "authenticate_token",
    "decode_token",
    "get_token_from_scope",
]

logger = logging.getLogger("livepush.auth")

#: The claim that marks a token's purpose; djangorestframework-simplejwt sets it too.
TOKEN_TYPE_CLAIM = "token_type"
ACCESS_TOKEN_TYPE = "access"


class AuthError(str, enum.Enum):
    """Why a connection is not authenticated (``scope["livepush_auth_error"]``)."""

    MISSING_TOKEN = "missing_token"
    MALFORMED_TOKEN = "malformed_token"
    EXPIRED_TOKEN = "expired_token"
    INVALID_SIGNATURE = "invalid_signature"
    INVALID_CLAIMS = "invalid_claims"
    WRONG_TOKEN_TYPE = "wrong_token_type"
    UNKNOWN_USER = "unknown_user"
    INACTIVE_USER = "inactive_user"
    #: Not the client's fault: the database failed during the lookup. Closes with 4000.
    SERVER_ERROR = "server_error"

    def __str__(self) -> str:
        return str(self.value)


@dataclass(frozen=True)
class AuthResult:
    """The outcome of authenticating one token."""

    user: AbstractBaseUser | AnonymousUser
    claims: dict[str, Any] | None = None
    error: AuthError | None = None


#: What a refused client is told, per reason: never the token, nor which part of a key is wrong.
REFUSAL_DETAILS: dict[AuthError, str] = {
    AuthError.MISSING_TOKEN: "No token: send it as the subprotocol livepush.token.<token> or in "
    "the query string.",
    AuthError.MALFORMED_TOKEN: "The token is not a JWT.",
    AuthError.EXPIRED_TOKEN: "The token has expired: get a new one and connect again.",
    AuthError.INVALID_SIGNATURE: "The token's signature does not verify (another key or "
    "algorithm).",
    AuthError.INVALID_CLAIMS: "The token's claims are not accepted (aud, iss, nbf, iat or the "
    "user id claim).",
    AuthError.WRONG_TOKEN_TYPE: "The token is not an access token.",
    AuthError.UNKNOWN_USER: "The token names no user.",
    AuthError.INACTIVE_USER: "The token's user is inactive.",
}


@dataclass(frozen=True)
class Refusal:
    """Why a connection is refused with 4001: ``reason`` (an :class:`AuthError` value, for the
    close frame) and ``frame``, the ``ERROR`` frame sent before it."""

    reason: str
    frame: str


def refusal(scope: Mapping[str, Any]) -> Refusal:
    """The :class:`Refusal` of an unauthenticated connection, logged at INFO with its address."""
    error = scope.get("livepush_auth_error") or AuthError.MISSING_TOKEN
    reason = str(error)
    client = scope.get("client") or ("?", "?")
    logger.info(
        "Refused a WebSocket connection from %s:%s to %s: %s",
        client[0],
        client[1],
        scope.get("path", "?"),
        reason,
    )
    detail = REFUSAL_DETAILS.get(AuthError(error), "Authentication failed.")
    return Refusal(reason, error_frame(ErrorCode.UNAUTHENTICATED, detail, reason))


class WrongTokenType(jwt.InvalidTokenError):
    """The token verifies but is not an access token (a refresh token, for one)."""


class _Refused(Exception):
    def __init__(self, error: AuthError, reason: str) -> None:
        super().__init__(reason)
        self.error = error


def get_token_from_scope(scope: Mapping[str, Any]) -> str | None:
    """Return the token a connection carries, or ``None``.

    The subprotocol form wins over the query parameter, so a token can stay out of URLs and
    access logs. ``LIVEPUSH["JWT_QUERY_PARAM"] = None`` turns the query form off.
    """
    for protocol in scope.get("subprotocols") or ():
        if isinstance(protocol, str) and protocol.startswith(TOKEN_SUBPROTOCOL_PREFIX):
            return protocol[len(TOKEN_SUBPROTOCOL_PREFIX) :] or None
    param = livepush_settings.JWT_QUERY_PARAM
    if param:
        raw = scope.get("query_string", b"")
        query = raw.decode("latin1") if isinstance(raw, bytes) else str(raw)
        values = parse_qs(query).get(param)
        if values and values[0]:
            return values[0]
    return None


def allowed_algorithms() -> list[str]:
    """The JWT algorithms tokens may be signed with: ``JWT_ALGORITHMS`` without ``"none"``.

    Internal API shared with ``livepush.tokens``. The system check reports ``"none"``; dropping
    it here as well means a bad setting can never turn signature checking off.
    """
    return [a for a in livepush_settings.JWT_ALGORITHMS if str(a).lower() != "none"]


def decode_token(token: str) -> dict[str, Any]:
    """Verify ``token`` and return its claims.

    Applies the algorithm allowlist, requires ``exp`` and the user-id claim (and ``aud``/``iss``
    when ``JWT_AUDIENCE``/``JWT_ISSUER`` are set), and refuses a ``token_type`` other than
    ``access``.

    Raises:
        jwt.InvalidTokenError: (or a subclass) for any token that does not verify.
    """
    user_id_claim = livepush_settings.JWT_USER_ID_CLAIM
    audience = livepush_settings.JWT_AUDIENCE
    issuer = livepush_settings.JWT_ISSUER
    required = ["exp", user_id_claim]
    if audience is not None:
        required.append("aud")
    if issuer is not None:
        required.append("iss")
    claims: dict[str, Any] = jwt.decode(
        token,
        key=livepush_settings.verifying_key,
        algorithms=allowed_algorithms(),
        audience=audience,
        issuer=issuer,
        leeway=livepush_settings.JWT_LEEWAY,
        options={"require": required},
    )
    token_type = claims.get(TOKEN_TYPE_CLAIM)
    if token_type is not None and token_type != ACCESS_TOKEN_TYPE:
        raise WrongTokenType(f"token_type is {token_type!r}, not 'access'")
    return claims


def _classify(exc: jwt.InvalidTokenError) -> AuthError:
    if isinstance(exc, WrongTokenType):
        return AuthError.WRONG_TOKEN_TYPE
    if isinstance(exc, jwt.ExpiredSignatureError):
        return AuthError.EXPIRED_TOKEN
    if isinstance(exc, (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError)):
        return AuthError.INVALID_SIGNATURE
    if isinstance(exc, jwt.DecodeError):
        return AuthError.MALFORMED_TOKEN
    return AuthError.INVALID_CLAIMS


async def _get_user(user_id: Any) -> AbstractBaseUser:
    pk_field = get_user_model()._meta.pk
    assert pk_field is not None
    try:
        pk = pk_field.to_python(user_id)
    except (ValidationError, TypeError, ValueError) as exc:
        raise _Refused(
            AuthError.INVALID_CLAIMS, "user id claim is not a valid primary key"
        ) from exc
    try:
        # Batched with the other connects waiting (a storm makes one query per batch).
        return await load_user(pk)
    except UserNotFound as exc:
        raise _Refused(AuthError.UNKNOWN_USER, "no user with that id") from exc


async def authenticate_token(token: str | None) -> AuthResult:
    """Verify ``token`` and fetch its user, returning an :class:`AuthResult` (never raising).

    A database failure gives ``AuthError.SERVER_ERROR`` (logged with its traceback), anything
    wrong with the token or the user the matching client-side error (logged at debug level).
    """
    try:
        if not token:
            raise _Refused(AuthError.MISSING_TOKEN, "no token in subprotocol or query string")
        try:
            claims = decode_token(token)
        except jwt.InvalidTokenError as exc:
            raise _Refused(_classify(exc), f"{type(exc).__name__}: {exc}") from exc
        user = await _get_user(claims[livepush_settings.JWT_USER_ID_CLAIM])
        if not getattr(user, "is_active", True):
            raise _Refused(AuthError.INACTIVE_USER, "user is inactive")
    except _Refused as refused:
        logger.debug("WebSocket authentication refused (%s): %s", refused.error, refused)
        return AuthResult(AnonymousUser(), None, refused.error)
    except Exception:
        logger.exception("WebSocket authentication failed with a server error")
        return AuthResult(AnonymousUser(), None, AuthError.SERVER_ERROR)
    return AuthResult(user, claims, None)


# Token lifetime (issue 9) ----------------------------------------------------------------
def token_exp(claims: Mapping[str, Any] | None) -> float | None:
    """The ``exp`` of verified ``claims`` as seconds since the epoch, or ``None`` without claims.

    Internal API shared with ``livepush._expiry``. :func:`decode_token` requires ``exp``, and
    PyJWT checks that it is a number.
    """
    if claims is None or claims.get("exp") is None:
        return None
    return float(claims["exp"])


# ------------------------------------------------------------------------------------------


class JWTAuthMiddleware:
    """ASGI middleware that authenticates WebSocket connections by JWT.

    It copies the scope and keeps no per-connection state; HTTP requests pass through untouched.
    """

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        if scope.get("type") != "websocket":
            await self.inner(scope, receive, send)
            return
        result = await authenticate_token(get_token_from_scope(scope))
        scope = dict(scope)
        scope["user"] = result.user
        scope["jwt_claims"] = result.claims
        scope["livepush_auth_error"] = result.error
        scope["livepush_token_exp"] = token_exp(result.claims)  # token lifetime (issue 9)
        await self.inner(scope, receive, send)


def JWTAuthMiddlewareStack(inner: ASGIApp) -> JWTAuthMiddleware:
    """Wrap ``inner`` in JWT authentication; the one-call form for ``asgi.py``."""
    return JWTAuthMiddleware(inner)
