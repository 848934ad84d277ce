"""livepush.protocol: the frames the server writes match the payload schemas registered for them."""

from __future__ import annotations

import json

import pytest

from livepush import PayloadError, get_registry
from livepush.protocol import (
    PAYLOAD_SCHEMAS,
    PING_FRAME,
    PONG_FRAME,
    SERVER_ONLY_TYPES,
    ErrorCode,
    ProtocolType,
    encode_snapshot,
    error_frame,
)
from livepush.push import encode_message


def validate(frame: str) -> None:
    """Check a frame's ``data`` against the schema the registry holds for its type."""
    decoded = json.loads(frame)
    registry = get_registry()
    registry.validate_payload(registry.resolve(decoded["type"]), decoded.get("data"))


def test_ping_and_pong_frames_carry_the_protocol_names_and_no_payload():
    assert json.loads(PING_FRAME) == {"type": ProtocolType.PING.value}
    assert json.loads(PONG_FRAME) == {"type": ProtocolType.PONG.value}
    assert ProtocolType.PING not in PAYLOAD_SCHEMAS
    assert ProtocolType.PONG not in PAYLOAD_SCHEMAS


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_error_frame_matches_the_error_schema(code: ErrorCode):
    frame = error_frame(code, "why")
    assert json.loads(frame) == {"type": "ERROR", "data": {"code": code.value, "detail": "why"}}
    validate(frame)


@pytest.mark.parametrize("user_ids", [[], [1, 4], ["a1", 2]])
def test_snapshot_frames_match_the_snapshot_schema(user_ids: list[object]):
    validate(encode_snapshot(user_ids))


def test_a_snapshot_of_something_else_does_not_match():
    with pytest.raises(PayloadError, match=r"data\['user_ids'\]\[0\] must be int \| str"):
        validate(encode_snapshot([None]))


def test_the_library_reserves_only_its_protocol_types():
    registry = get_registry()
    for member in ProtocolType:
        registered = registry.resolve(member.value)
        assert registered.member is member
        assert registered.schema is PAYLOAD_SCHEMAS.get(member)


@pytest.mark.parametrize("name", sorted(SERVER_ONLY_TYPES))
def test_server_only_types_cannot_be_pushed(name: str):
    with pytest.raises(PayloadError, match="protocol frame the server sends itself"):
        encode_message(name, None)


@pytest.mark.parametrize(
    "member", [ProtocolType.USER_PRESENCE_CONNECTED, ProtocolType.USER_PRESENCE_DISCONNECTED]
)
def test_presence_events_are_pushed_and_checked(member: ProtocolType):
    assert json.loads(encode_message(member, {"user_id": 7})) == {
        "type": member.value,
        "data": {"user_id": 7},
    }
    with pytest.raises(PayloadError, match=r"data has unexpected key\(s\) 'name'"):
        encode_message(member, {"user_id": 7, "name": "x"})
