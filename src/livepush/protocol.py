"""The wire protocol: its message types and their payloads, close codes, error codes, frames.

Every wire name lives here and nowhere else: the registry registers :class:`ProtocolType` with the
payload schemas of :data:`PAYLOAD_SCHEMAS`, the TypeScript generator reads those schemas from the
registry, and the browser client's constants are compared with these in ``tests/test_js.py``.
``docs/reference/protocol.md`` documents every value here; a test keeps the two in step.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from typing import Final

from typing_extensions import NotRequired, TypedDict

__all__ = [
    "PAYLOAD_SCHEMAS",
    "PING_FRAME",
    "PONG_FRAME",
    "PROCESSES_GROUP",
    "PUSH_EVENT_TYPE",
    "RESUME_QUERY_PARAM",
    "SERVER_ONLY_TYPES",
    "SUBPROTOCOL",
    "TOKEN_SUBPROTOCOL_PREFIX",
    "CloseCode",
    "ErrorCode",
    "ErrorPayload",
    "PresenceDiffPayload",
    "PresenceSnapshotPayload",
    "ProtocolType",
    "RecoveryPayload",
    "RefreshTokenPayload",
    "StreamPosition",
    "UserPresencePayload",
    "encode_presence_diff",
    "encode_recovery",
    "encode_snapshot",
    "error_frame",
    "with_position",
]

#: The channel-layer event type that carries a pre-encoded push frame in ``"text"``.
PUSH_EVENT_TYPE: Final = "livepush.push"
#: The channel-layer group every process's fan-out joins: a push to several groups is one message
#: to it, ``{"type": PUSH_EVENT_TYPE, "groups": [...], "text": ...}``, which each process resolves
#: against its own connections.
PROCESSES_GROUP: Final = "livepush.processes"

#: The query parameter a reconnecting client presents its positions in (recovery): URL-encoded
#: JSON, ``{"<stream>": [offset, "<epoch>"], ...}``.
RESUME_QUERY_PARAM: Final = "resume"

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
    #: A user came online (presence). The server sends ``PRESENCE_DIFF`` instead; the browser
    #: client calls this type's handlers once per user a diff says joined.
    USER_PRESENCE_CONNECTED = "USER_PRESENCE_CONNECTED"
    #: A user's last connection went (presence). Like ``USER_PRESENCE_CONNECTED``, for leaves.
    USER_PRESENCE_DISCONNECTED = "USER_PRESENCE_DISCONNECTED"
    #: The users who came online and went offline during one ``PRESENCE_WINDOW`` (presence).
    PRESENCE_DIFF = "PRESENCE_DIFF"
    # Token lifetime (issue 9) ------------------------------------------------------------
    #: Client to server only: a fresh token for the open connection, sent before the current
    #: one expires; the connection then closes with ``4003`` at the new token's expiry instead.
    REFRESH_TOKEN = "REFRESH_TOKEN"
    # ----------------------------------------------------------------------------------------
    #: Recovery (``LIVEPUSH["RECOVERY"]``): each stream's position after the pushes a
    #: reconnecting client missed were replayed, and the streams whose gap could not be covered
    #: (the client must refetch what they carry).
    RECOVERY = "RECOVERY"

    def __str__(self) -> str:
        return str(self.value)


class ErrorPayload(TypedDict):
    """The ``data`` of an ``ERROR`` frame."""

    #: One of :class:`ErrorCode`'s values.
    code: str
    #: A sentence for people; it may change between versions.
    detail: str
    #: ``unauthenticated`` only: why, one of ``livepush.auth.AuthError``'s values.
    reason: NotRequired[str]


class PresenceSnapshotPayload(TypedDict):
    """The ``data`` of a ``PRESENCE_SNAPSHOT`` frame."""

    #: The users online (as ``get_visible_online_user_ids()`` filters them): ints for numeric
    #: primary keys, strings otherwise.
    user_ids: list[int | str]


class UserPresencePayload(TypedDict):
    """The ``data`` of ``USER_PRESENCE_CONNECTED`` and ``USER_PRESENCE_DISCONNECTED``."""

    user_id: int | str


class PresenceDiffPayload(TypedDict):
    """The ``data`` of a ``PRESENCE_DIFF`` frame: the last state of each user in its window.

    A user is in at most one of the two lists.
    """

    #: Users now online (ints for numeric primary keys, strings otherwise).
    joins: list[int | str]
    #: Users now offline.
    leaves: list[int | str]


# Token lifetime (issue 9) ----------------------------------------------------------------
class RefreshTokenPayload(TypedDict):
    """The ``data`` of a client's ``REFRESH_TOKEN`` frame."""

    #: The new access token (a JWT), verified like the token a connection opens with.
    token: str


# ------------------------------------------------------------------------------------------


class StreamPosition(TypedDict):
    """A push's place in its stream (recovery): the offset, and the epoch of the stream."""

    offset: int
    epoch: str


class RecoveryPayload(TypedDict):
    """The ``data`` of a ``RECOVERY`` frame."""

    #: Whether every stream the client presented a position for was recovered.
    recovered: bool
    #: Each recoverable stream of the connection, by name, with its position now.
    streams: dict[str, StreamPosition]
    #: The streams whose missed pushes are gone (history trimmed, expired or lost): refetch.
    resync: list[str]


#: The payload schema of each protocol type that carries ``data`` (``PING`` and ``PONG`` do not).
#: A project may replace a presence schema with ``livepush.register(name, schema=...)``.
PAYLOAD_SCHEMAS: Final[Mapping[ProtocolType, type]] = {
    ProtocolType.ERROR: ErrorPayload,
    ProtocolType.PRESENCE_SNAPSHOT: PresenceSnapshotPayload,
    ProtocolType.USER_PRESENCE_CONNECTED: UserPresencePayload,
    ProtocolType.USER_PRESENCE_DISCONNECTED: UserPresencePayload,
    ProtocolType.PRESENCE_DIFF: PresenceDiffPayload,
    ProtocolType.REFRESH_TOKEN: RefreshTokenPayload,
    ProtocolType.RECOVERY: RecoveryPayload,
}

#: The types only the server's own code sends, and the client-only ``REFRESH_TOKEN``; the push
#: helpers refuse them. The per-user presence events may still be pushed like application
#: messages (through the registry and its checks).
SERVER_ONLY_TYPES: Final[frozenset[str]] = frozenset(
    t.value
    for t in (
        ProtocolType.PING,
        ProtocolType.PONG,
        ProtocolType.ERROR,
        ProtocolType.PRESENCE_SNAPSHOT,
        ProtocolType.PRESENCE_DIFF,
        ProtocolType.REFRESH_TOKEN,  # token lifetime (issue 9): client to server only
        ProtocolType.RECOVERY,
    )
)


class CloseCode(enum.IntEnum):
    """Close codes the server uses, with why."""

    #: Normal closure.
    NORMAL = 1000
    #: Frame larger than the ASGI server's own limit, sent by the server (uvicorn's
    #: ``--ws-max-size``). daphne (``--websocket-max-message-size``) drops the TCP connection
    #: instead, which clients see as 1006.
    MESSAGE_TOO_BIG = 1009
    #: The server is restarting (SIGTERM): reconnect after a random delay. Sent on uvicorn (by
    #: the library and by uvicorn itself); see :attr:`SERVICE_RESTART_APP` for daphne.
    SERVICE_RESTART = 1012
    #: Unexpected server error during connect (database or channel layer failure included).
    SERVER_ERROR = 4000
    #: Unauthenticated: missing, malformed, expired, badly signed or wrong-type token, or an
    #: unknown or inactive user.
    UNAUTHENTICATED = 4001
    #: No ``PONG`` within ``HEARTBEAT_TIMEOUT`` of a ``PING``.
    HEARTBEAT_TIMEOUT = 4002
    #: The connection's token expired (``exp`` plus ``JWT_LEEWAY``) and no ``REFRESH_TOKEN``
    #: replaced it in time (token lifetime, issue 9).
    TOKEN_EXPIRED = 4003
    #: The client kept sending frames over ``INBOUND_RATE`` after they were refused with
    #: ``rate_limited`` (its bucket's debt passed ``INBOUND_BURST``).
    RATE_LIMITED = 4008
    #: Frame larger than ``MAX_MESSAGE_SIZE`` caught by the application, because the server's
    #: own limit is higher (daphne does not let an application close with 1009).
    MESSAGE_TOO_BIG_APP = 4009
    #: The client did not read its pushes: its backlog passed ``MAX_BACKLOG_FRAMES`` or
    #: ``MAX_BACKLOG_BYTES`` and was dropped.
    BACKLOG_OVERFLOW = 4010
    #: The user already has ``MAX_CONNECTIONS_PER_USER`` connections to this server process.
    TOO_MANY_CONNECTIONS = 4011
    #: :attr:`SERVICE_RESTART` where the server lets the application close only with 1000 or
    #: 3000-4999 (daphne): the server is restarting, reconnect after a random delay.
    SERVICE_RESTART_APP = 4012


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
    #: A ``REFRESH_TOKEN`` whose token does not verify, or is for another user (token lifetime,
    #: issue 9). The connection stays open until its current token expires.
    TOKEN_REFUSED = "token_refused"
    #: The frame came over ``INBOUND_RATE`` and was not handled; keep on and the connection is
    #: closed with 4008.
    RATE_LIMITED = "rate_limited"
    #: The connection is refused (closed with 4001 next); ``reason`` says why
    #: (``expired_token``, ``invalid_signature``, ...: ``livepush.auth.AuthError``).
    UNAUTHENTICATED = "unauthenticated"
    #: The handshake's ``resume`` parameter is not positions as ``"pos"`` gives them (recovery):
    #: nothing is replayed, and ``RECOVERY`` lists every stream of the connection in ``resync``.
    INVALID_RESUME = "invalid_resume"

    def __str__(self) -> str:
        return str(self.value)


def _frame(type_: ProtocolType, data: object = None) -> str:
    frame = {"type": type_.value} if data is None else {"type": type_.value, "data": data}
    return json.dumps(frame, separators=(",", ":"))


PING_FRAME: Final = _frame(ProtocolType.PING)
PONG_FRAME: Final = _frame(ProtocolType.PONG)


def encode_snapshot(user_ids: list[object]) -> str:
    """Encode a ``PRESENCE_SNAPSHOT`` frame: ``{"type": ..., "data": {"user_ids": [...]}}``."""
    return _frame(ProtocolType.PRESENCE_SNAPSHOT, {"user_ids": user_ids})


def encode_presence_diff(
    joins: list[object], leaves: list[object], *, cls: type[json.JSONEncoder] | None = None
) -> str:
    """Encode a ``PRESENCE_DIFF`` frame: ``{"type": ..., "data": {"joins": [...], "leaves": ...}}``.

    ``cls`` encodes ids plain JSON cannot (``LIVEPUSH["JSON_ENCODER"]`` for UUID keys).
    """
    frame = {"type": ProtocolType.PRESENCE_DIFF.value, "data": {"joins": joins, "leaves": leaves}}
    return json.dumps(frame, cls=cls, separators=(",", ":"))


def error_frame(code: ErrorCode, detail: str, reason: str | None = None) -> str:
    """Encode an ``ERROR`` frame: ``{"type": "ERROR", "data": {"code": ..., "detail": ...}}``,
    with ``"reason"`` when given."""
    data: dict[str, str] = {"code": code.value, "detail": detail}
    if reason is not None:
        data["reason"] = reason
    return _frame(ProtocolType.ERROR, data)


def with_position(text: str, stream: str, offset: int, epoch: str) -> str:
    """``text`` (a push frame, a JSON object) with its stream position added as ``"pos"``.

    ``{"type": ..., "data": ..., "pos": {"stream": ..., "offset": ..., "epoch": ...}}``.
    """
    position = json.dumps({"stream": stream, "offset": offset, "epoch": epoch})
    return f'{text[:-1]},"pos":{position}}}'


def encode_recovery(streams: Mapping[str, tuple[int, str]], resync: list[str]) -> str:
    """Encode a ``RECOVERY`` frame from each stream's ``(offset, epoch)`` now."""
    data = {
        "recovered": not resync,
        "streams": {name: {"offset": o, "epoch": e} for name, (o, e) in streams.items()},
        "resync": resync,
    }
    return _frame(ProtocolType.RECOVERY, data)
