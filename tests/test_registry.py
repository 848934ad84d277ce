from __future__ import annotations

import enum
from typing import Any, Literal

import pytest
from django.test import override_settings
from typing_extensions import NotRequired, TypedDict

import livepush
from livepush import UnknownMessageType, get_registry
from livepush.exceptions import DuplicateMessageType, LivePushConfigurationError, PayloadError
from livepush.protocol import PAYLOAD_SCHEMAS, ProtocolType, UserPresencePayload
from livepush.registry import MessageTypeRegistry
from livepush.seed import WebSocketMessageType

SEED_TYPES = [
    "MESSAGE_CREATED",
    "MESSAGE_DELETED",
    "MESSAGE_VIEWED",
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
    PING = "PING"


class Photos(str, enum.Enum):
    """A host project's own PHOTO_UPLOADED: the seed's names are not reserved."""

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


def bare_registry() -> MessageTypeRegistry:
    """A new registry that has loaded an empty ``LIVEPUSH["MESSAGE_TYPES"]``."""
    registry = MessageTypeRegistry()
    with override_settings(LIVEPUSH={}):
        registry.load_settings()
    return registry


def test_a_new_registry_holds_the_protocol_types_only_with_their_schemas():
    registry = bare_registry()
    assert registry.names() == [t.value for t in ProtocolType]
    for member in ProtocolType:
        registered = registry.resolve(member)
        assert registered.member is member
        assert registered.source == "livepush.protocol.ProtocolType"
        assert registered.schema is PAYLOAD_SCHEMAS.get(member)


def test_the_seed_enum_is_the_seed_table_and_opt_in():
    assert [m.value for m in WebSocketMessageType] == SEED_TYPES
    assert all(m.name == m.value for m in WebSocketMessageType)
    assert str(WebSocketMessageType.PHOTO_UPLOADED) == "PHOTO_UPLOADED"
    assert WebSocketMessageType.PHOTO_UPLOADED == "PHOTO_UPLOADED"
    assert livepush.WebSocketMessageType is WebSocketMessageType
    assert not set(SEED_TYPES) & {t.value for t in ProtocolType}
    # tests/project/settings.py opts in; a registry without the setting does not know them.
    assert get_registry().resolve("PHOTO_UPLOADED").source == "livepush.seed.WebSocketMessageType"


def test_an_unregistered_seed_type_names_the_setting_line_that_registers_it():
    registry = bare_registry()
    expected = (
        "Unknown message type 'PHOTO_UPLOADED': it is a member of "
        "livepush.seed.WebSocketMessageType, which is not registered: add "
        "'livepush.seed.WebSocketMessageType' to LIVEPUSH['MESSAGE_TYPES']."
    )
    for ref in (WebSocketMessageType.PHOTO_UPLOADED, "PHOTO_UPLOADED"):
        with pytest.raises(UnknownMessageType) as info:
            registry.resolve(ref)
        assert str(info.value) == expected


def test_an_unregistered_member_of_a_host_enum_names_its_path():
    registry = bare_registry()
    with pytest.raises(UnknownMessageType) as info:
        registry.resolve(Shop.ORDER_PLACED)
    assert str(info.value) == (
        "Unknown message type 'ORDER_PLACED': it is a member of tests.test_registry.Shop, which "
        "is not registered: add 'tests.test_registry.Shop' to LIVEPUSH['MESSAGE_TYPES']."
    )


def test_a_host_enum_may_define_a_seed_name():
    registry = bare_registry()
    registry.register(Photos)
    assert registry.resolve("PHOTO_UPLOADED").member is Photos.PHOTO_UPLOADED


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


def test_the_system_checks_accept_a_host_enum_with_a_seed_name():
    from django.conf import settings

    from livepush.checks import check_settings

    types = ["tests.project.messages.TestMessageType", "tests.test_registry.Photos"]
    with override_settings(DEBUG=True, LIVEPUSH={**settings.LIVEPUSH, "MESSAGE_TYPES": types}):
        assert [m.id for m in check_settings()] == []


def test_a_protocol_name_in_a_host_enum_is_an_error():
    registry = MessageTypeRegistry()
    with pytest.raises(DuplicateMessageType) as info:
        registry.register(Clash)
    assert str(info.value) == (
        "Message type 'PING' is registered twice: by livepush.protocol.ProtocolType (the "
        "protocol's own types) and by tests.test_registry.Clash. Rename one of them; clients only "
        "see the name."
    )
    assert isinstance(info.value, LivePushConfigurationError)


def test_same_name_from_two_host_enums_is_an_error():
    registry = MessageTypeRegistry()
    registry.register(Photos)
    with pytest.raises(DuplicateMessageType, match="registered twice"):
        registry.register(WebSocketMessageType)


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


def test_schema_can_be_attached_by_name_to_a_registered_enum_member():
    registry = MessageTypeRegistry()
    registry.register(WebSocketMessageType)
    registry.register("PHOTO_UPLOADED", schema=Point)
    registered = registry.resolve(WebSocketMessageType.PHOTO_UPLOADED)
    assert registered.schema is Point
    assert registered.member is WebSocketMessageType.PHOTO_UPLOADED


def test_a_presence_schema_can_be_replaced_by_name():
    registry = MessageTypeRegistry()
    assert registry.resolve("USER_PRESENCE_CONNECTED").schema is UserPresencePayload
    registry.register("USER_PRESENCE_CONNECTED", schema=Point)
    registered = registry.resolve("USER_PRESENCE_CONNECTED")
    assert registered.schema is Point
    assert registered.member is ProtocolType.USER_PRESENCE_CONNECTED


class WithBytes(TypedDict):
    id: int
    raw: list[bytes]


def test_a_schema_with_an_unsupported_form_is_refused_at_registration():
    registry = MessageTypeRegistry()
    with pytest.raises(LivePushConfigurationError) as info:
        registry.register("BLOB", schema=WithBytes)
    assert str(info.value).startswith(
        "Cannot register message type 'BLOB' with its schema: The field 'raw' of the payload "
        "schema tests.test_registry.WithBytes is annotated list[bytes]: bytes is not supported "
        "in a payload schema. Use str, int,"
    )
    assert "BLOB" not in registry


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
        ({"note": 3}, "data['note'] must be str | None, got int"),
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
