from __future__ import annotations

import enum
from typing import Any, Literal

import pytest
from typing_extensions import NotRequired, TypedDict

from livepush import UnknownMessageType, WebSocketMessageType, get_registry
from livepush.exceptions import LivePushConfigurationError, PayloadError
from livepush.registry import MessageTypeRegistry

SEED_TYPES = [
    "MESSAGE_CREATED",
    "MESSAGE_DELETED",
    "MESSAGE_VIEWED",
    "USER_PRESENCE_CONNECTED",
    "USER_PRESENCE_DISCONNECTED",
    "BUCKETPOINT_CREATED",
    "BUCKETPOINT_UPDATED",
    "BUCKETPOINT_DELETED",
    "PHOTO_UPLOADED",
    "PHOTO_UPDATED",
    "PHOTO_DELETED",
    "ALBUM_CREATED",
    "ALBUM_UPDATED",
    "ALBUM_DELETED",
    "SYSTEM_NOTIFICATION",
]


class Shop(str, enum.Enum):
    ORDER_PLACED = "ORDER_PLACED"
    ORDER_SHIPPED = "ORDER_SHIPPED"


class Clash(str, enum.Enum):
    PHOTO_UPLOADED = "PHOTO_UPLOADED"


class NotStrings(enum.Enum):
    ONE = 1


class Point(TypedDict):
    x: float
    y: float


class Order(TypedDict):
    id: int
    state: Literal["new", "paid"]
    note: str | None
    lines: list[int]
    where: Point
    meta: dict[str, Any]
    gift: NotRequired[bool]


def test_builtin_enum_is_the_seed_table_plus_protocol_types():
    assert [m.value for m in WebSocketMessageType] == [
        *SEED_TYPES,
        "PING",
        "PONG",
        "ERROR",
        "PRESENCE_SNAPSHOT",
    ]
    assert all(m.name == m.value for m in WebSocketMessageType)
    assert str(WebSocketMessageType.PHOTO_UPLOADED) == "PHOTO_UPLOADED"
    assert WebSocketMessageType.PHOTO_UPLOADED == "PHOTO_UPLOADED"


def test_message_types_setting_is_loaded():
    assert "ECHO" in get_registry()
    assert get_registry().resolve("ECHO").source == "tests.project.messages.TestMessageType"


def test_register_an_enum_and_resolve_by_member_or_name():
    registry = MessageTypeRegistry()
    registry.register(Shop)
    assert registry.resolve(Shop.ORDER_PLACED).name == "ORDER_PLACED"
    assert registry.resolve("ORDER_SHIPPED").member is Shop.ORDER_SHIPPED


def test_misspelled_name_names_the_closest_types():
    with pytest.raises(UnknownMessageType, match=r"'PHOTO_UPLOADED'") as info:
        get_registry().resolve("PHOTO_UPLOAD")
    assert isinstance(info.value, KeyError)
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith("Unknown message type 'PHOTO_UPLOAD'. Did you mean")


def test_unknown_name_without_close_match_says_how_to_register():
    with pytest.raises(UnknownMessageType, match="MESSAGE_TYPES"):
        get_registry().resolve("ZZZ")


def test_resolve_refuses_other_types():
    with pytest.raises(TypeError, match="int"):
        get_registry().resolve(42)  # type: ignore[arg-type]


def test_same_name_from_two_enums_is_an_error():
    registry = MessageTypeRegistry()
    with pytest.raises(LivePushConfigurationError, match="registered twice"):
        registry.register(Clash)


def test_registering_the_same_enum_twice_is_harmless():
    registry = MessageTypeRegistry()
    registry.register(Shop)
    registry.register(Shop)
    assert registry.names().count("ORDER_PLACED") == 1


def test_enum_values_must_be_strings():
    with pytest.raises(LivePushConfigurationError, match="must be strings"):
        MessageTypeRegistry().register(NotStrings)


def test_schema_must_be_a_typeddict():
    with pytest.raises(LivePushConfigurationError, match="TypedDict"):
        MessageTypeRegistry().register("X", schema=dict)


def test_schema_for_a_whole_enum_is_refused():
    with pytest.raises(LivePushConfigurationError, match="one message type"):
        MessageTypeRegistry().register(Shop, schema=Order)


def test_schema_can_be_attached_by_name_to_a_builtin_type():
    registry = MessageTypeRegistry()
    registry.register("PHOTO_UPLOADED", schema=Point)
    registered = registry.resolve(WebSocketMessageType.PHOTO_UPLOADED)
    assert registered.schema is Point
    assert registered.member is WebSocketMessageType.PHOTO_UPLOADED


GOOD_ORDER = {
    "id": 1,
    "state": "new",
    "note": None,
    "lines": [1, 2],
    "where": {"x": 1, "y": 2.5},
    "meta": {"any": object()},
}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"id": "1"}, "data['id'] must be int, got str"),
        ({"id": True}, "data['id'] must be int, got bool"),
        ({"state": "lost"}, "data['state'] must be one of ('new', 'paid'), got 'lost'"),
        ({"note": 3}, "data['note'] must be str | NoneType, got int"),
        ({"lines": [1, "2"]}, "data['lines'][1] must be int, got str"),
        ({"lines": "12"}, "data['lines'] must be a list, got str"),
        ({"where": {"x": 1}}, "data['where'] is missing the key(s) 'y'"),
        ({"where": {"x": 1, "y": "2"}}, "data['where']['y'] must be float, got str"),
        ({"meta": []}, "data['meta'] must be an object, got list"),
        ({"gift": "yes"}, "data['gift'] must be bool, got str"),
        ({"extra": 1}, "data has unexpected key(s) 'extra'"),
    ],
)
def test_payload_schema_mismatches_name_the_field(change, problem):
    registry = MessageTypeRegistry()
    registry.register("ORDER", schema=Order)
    with pytest.raises(PayloadError) as info:
        registry.validate_payload(registry.resolve("ORDER"), {**GOOD_ORDER, **change})
    assert str(info.value) == f"Payload for message type 'ORDER' does not match Order: {problem}"


def test_payload_matching_the_schema_passes_and_optional_keys_may_be_left_out():
    registry = MessageTypeRegistry()
    registry.register("ORDER", schema=Order)
    registry.validate_payload(registry.resolve("ORDER"), GOOD_ORDER)
    registry.validate_payload(registry.resolve("ORDER"), {**GOOD_ORDER, "gift": True})


def test_payload_that_is_not_an_object():
    registry = MessageTypeRegistry()
    registry.register("ORDER", schema=Order)
    with pytest.raises(PayloadError, match="must be an object"):
        registry.validate_payload(registry.resolve("ORDER"), [1])
