"""Wire-protocol constants: close codes, error codes and the frames the server sends itself.

``docs/reference/protocol.md`` documents every value here; a test keeps the two in step.
"""

from __future__ import annotations

import enum
import json
from typing import Final

__all__ = [
    "PING_FRAME",
    "PONG_FRAME",
    "PUSH_EVENT_TYPE",
    "SUBPROTOCOL",
    "TOKEN_SUBPROTOCOL_PREFIX",
    "CloseCode",
    "ErrorCode",
    "ProtocolType",
    "encode_snapshot",
    "error_frame",
]

#: The channel-layer event type that carries a pre-encoded push frame in ``"text"``.
PUSH_EVENT_TYPE: Final = "livepush.push"

#: The subprotocol the server selects when the client offers it (always, with the token form).
SUBPROTOCOL: Final = "livepush"
#: A client may carry its token as the subprotocol ``livepush.token.<JWT>`` next to ``livepush``.
TOKEN_SUBPROTOCOL_PREFIX: Final = "livepush.token."


class ProtocolType(str, enum.Enum):
    """The message types the library itself sends or answers (its reserved names)."""

    #: Heartbeat probe; either side may send it, the other answers ``PONG``.
    PING = "PING"
    #: The answer to ``PING``.
    PONG = "PONG"
    #: A problem with a client frame; the connection stays open.
    ERROR = "ERROR"
    #: The users online when a connection opened, sent before any other push.
    PRESENCE_SNAPSHOT = "PRESENCE_SNAPSHOT"
    #: A user came online (presence).
    USER_PRESENCE_CONNECTED = "USER_PRESENCE_CONNECTED"
    #: A user's last connection went (presence).
    USER_PRESENCE_DISCONNECTED = "USER_PRESENCE_DISCONNECTED"

    def __str__(self) -> str:
        return str(self.value)


class CloseCode(enum.IntEnum):
    """Close codes the server uses, with why."""

    #: Normal closure.
    NORMAL = 1000
    #: Frame larger than the ASGI server's own limit, sent by the server (uvicorn's
    #: ``--ws-max-size``). daphne (``--websocket-max-message-size``) drops the TCP connection
    #: instead, which clients see as 1006.
    MESSAGE_TOO_BIG = 1009
    #: Unexpected server error during connect (database or channel layer failure included).
    SERVER_ERROR = 4000
    #: Unauthenticated: missing, malformed, expired, badly signed or wrong-type token, or an
    #: unknown or inactive user.
    UNAUTHENTICATED = 4001
    #: No ``PONG`` within ``HEARTBEAT_TIMEOUT`` of a ``PING``.
    HEARTBEAT_TIMEOUT = 4002
    #: Frame larger than ``MAX_MESSAGE_SIZE`` caught by the application, because the server's
    #: own limit is higher (daphne does not let an application close with 1009).
    MESSAGE_TOO_BIG_APP = 4009


class ErrorCode(str, enum.Enum):
    """The ``code`` of an ``ERROR`` frame; the connection stays open after each of them."""

    #: The text frame is not valid JSON.
    MALFORMED_JSON = "malformed_json"
    #: The frame is JSON but not an object with a string ``type``.
    INVALID_FRAME = "invalid_frame"
    #: ``type`` names no registered message type.
    UNKNOWN_TYPE = "unknown_type"
    #: ``type`` is registered, but this consumer does not accept it from clients.
    TYPE_NOT_ALLOWED = "type_not_allowed"
    #: A binary frame; the protocol is JSON text only.
    BINARY_NOT_SUPPORTED = "binary_not_supported"
    #: ``data`` does not match the payload schema registered for the type.
    INVALID_PAYLOAD = "invalid_payload"
    #: The server failed while handling the frame (details are in the server log).
    HANDLER_ERROR = "handler_error"

    def __str__(self) -> str:
        return str(self.value)


PING_FRAME: Final = '{"type":"PING"}'
PONG_FRAME: Final = '{"type":"PONG"}'


def encode_snapshot(user_ids: list[object]) -> str:
    """Encode a ``PRESENCE_SNAPSHOT`` frame: ``{"type": ..., "data": {"user_ids": [...]}}``."""
    return json.dumps(
        {"type": "PRESENCE_SNAPSHOT", "data": {"user_ids": user_ids}}, separators=(",", ":")
    )


def error_frame(code: ErrorCode, detail: str) -> str:
    """Encode an ``ERROR`` frame: ``{"type": "ERROR", "data": {"code": ..., "detail": ...}}``."""
    return json.dumps(
        {"type": "ERROR", "data": {"code": code.value, "detail": detail}}, separators=(",", ":")
    )
