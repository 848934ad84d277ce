from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.test import override_settings

from livepush import (
    PayloadError,
    PushError,
    UnknownMessageType,
    WebSocketMessageType,
    abroadcast_ws_message,
    broadcast_ws_message,
    send_ws_message_to_all,
    send_ws_message_to_user,
)
from livepush.push import encode_message

from .helpers import join_groups, pushes_received
from .servers import free_port

T = WebSocketMessageType


def test_encode_message_makes_one_compact_frame():
    assert (
        encode_message(T.PHOTO_UPLOADED, {"id": 1}) == '{"type":"PHOTO_UPLOADED","data":{"id":1}}'
    )
    assert encode_message("ALBUM_CREATED", None) == '{"type":"ALBUM_CREATED","data":null}'


def test_encode_message_uses_the_django_json_encoder():
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    key = uuid.UUID(int=1)
    frame = json.loads(encode_message(T.MESSAGE_CREATED, {"at": when, "id": key}))
    assert frame["data"] == {"at": "2026-01-02T03:04:05Z", "id": str(key)}


def test_unserialisable_payload_fails_at_the_call():
    with pytest.raises(PayloadError, match="not JSON-serialisable") as info:
        send_ws_message_to_user(1, T.PHOTO_UPLOADED, {"file": object()})
    assert isinstance(info.value, TypeError)


def test_unknown_type_fails_at_the_call_naming_close_matches():
    with pytest.raises(UnknownMessageType, match="'PHOTO_UPDATED'"):
        send_ws_message_to_user(1, "PHOTO_UPDATD", {})


def test_protocol_types_cannot_be_pushed():
    with pytest.raises(PayloadError, match="protocol frame"):
        send_ws_message_to_all("PING", None)


def test_payload_is_checked_against_the_registered_schema():
    with pytest.raises(PayloadError, match=r"data\['text'\] must be str"):
        encode_message("CHAT_MESSAGE", {"room": "a", "text": 1})


def test_schema_checking_can_be_turned_off():
    from django.conf import settings

    with override_settings(LIVEPUSH={**settings.LIVEPUSH, "VALIDATE_PAYLOADS": False}):
        assert (
            json.loads(encode_message("CHAT_MESSAGE", {"room": "a", "text": 1}))["data"]["text"]
            == 1
        )


def test_user_ids_must_not_be_a_string():
    with pytest.raises(TypeError, match="iterable of user ids"):
        broadcast_ws_message("12", T.ALBUM_CREATED, {})


async def test_sync_helpers_refuse_to_run_in_an_event_loop():
    with pytest.raises(RuntimeError, match="asend_ws_message_to_user"):
        send_ws_message_to_user(1, T.ALBUM_CREATED, {})


async def _join(group: str) -> str:
    return await join_groups(get_channel_layer(), group)


def _pending(channel: str) -> int:
    """How many messages wait on ``channel``; they are read, so the next count starts at 0."""
    return len(async_to_sync(pushes_received)(get_channel_layer(), channel))


@pytest.fixture
def channel_of_user_5():
    channel = async_to_sync(_join)("user_5")
    yield channel
    async_to_sync(get_channel_layer().flush)()


def test_send_outside_a_transaction_is_immediate(channel_of_user_5):
    send_ws_message_to_user(5, T.ALBUM_CREATED, {"id": 1})
    assert _pending(channel_of_user_5) == 1


@pytest.mark.django_db(transaction=True)
def test_push_inside_atomic_waits_for_commit(channel_of_user_5):
    with transaction.atomic():
        send_ws_message_to_user(5, T.ALBUM_CREATED, {"id": 1})
        assert _pending(channel_of_user_5) == 0
    assert _pending(channel_of_user_5) == 1


@pytest.mark.django_db(transaction=True)
def test_rolled_back_push_is_never_sent(channel_of_user_5):
    def change_then_fail() -> None:
        with transaction.atomic():
            send_ws_message_to_user(5, T.ALBUM_CREATED, {"id": 1})
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError, match="roll back"):
        change_then_fail()
    assert _pending(channel_of_user_5) == 0


@pytest.mark.django_db(transaction=True)
def test_on_commit_false_sends_inside_the_transaction(channel_of_user_5):
    with transaction.atomic():
        send_ws_message_to_user(5, T.ALBUM_CREATED, {"id": 1}, on_commit=False)
        assert _pending(channel_of_user_5) == 1


async def test_broadcast_reaches_each_user_once():
    layer = get_channel_layer()
    channels = {uid: await _join(f"user_{uid}") for uid in (1, 2, 3)}
    try:
        await abroadcast_ws_message([1, 2, 2, 1], T.BUCKETPOINT_CREATED, {"id": 9})
        events = {uid: await pushes_received(layer, channels[uid]) for uid in (1, 2, 3)}
        assert [len(events[uid]) for uid in (1, 2, 3)] == [1, 1, 0]
        # One message to every process, naming each user's group once, stamped with when it
        # was sent (the delivery-latency metric).
        [message] = events[1]
        assert isinstance(message.pop("t"), float)
        assert message == {
            "type": "livepush.push",
            "groups": ["user_1", "user_2"],
            "text": '{"type":"BUCKETPOINT_CREATED","data":{"id":9}}',
        }
    finally:
        await layer.flush()


def test_channel_layer_failure_is_a_push_error():
    unreachable = {
        "default": {
            "BACKEND": "livepush.layers.RedisChannelLayer",
            "CONFIG": {"hosts": [("127.0.0.1", free_port())]},
        }
    }
    with override_settings(CHANNEL_LAYERS=unreachable), pytest.raises(PushError) as info:
        send_ws_message_to_user(1, T.ALBUM_CREATED, {"id": 1})
    assert "channel layer 'default'" in str(info.value)
    assert isinstance(info.value.__cause__, Exception)


def test_missing_channel_layer_is_a_configuration_error():
    from livepush import LivePushConfigurationError

    with (
        override_settings(CHANNEL_LAYERS={}),
        pytest.raises(LivePushConfigurationError, match="CHANNEL_LAYERS"),
    ):
        send_ws_message_to_user(1, T.ALBUM_CREATED, {"id": 1})


def test_the_same_user_given_twice_in_two_forms_is_sent_once(channel_of_user_5):
    broadcast_ws_message([5, "5"], T.ALBUM_CREATED, {"id": 1})
    assert _pending(channel_of_user_5) == 1


@pytest.mark.django_db(transaction=True)
def test_a_push_failing_after_commit_is_logged_and_later_callbacks_still_run(caplog):
    unreachable = {
        "default": {
            "BACKEND": "livepush.layers.RedisChannelLayer",
            "CONFIG": {"hosts": [("127.0.0.1", free_port())]},
        }
    }
    ran = []
    with override_settings(CHANNEL_LAYERS=unreachable), transaction.atomic():
        send_ws_message_to_user(1, T.ALBUM_CREATED, {"id": 1})
        transaction.on_commit(lambda: ran.append("next callback"))
    assert ran == ["next callback"]
    assert any(isinstance(r.exc_info[1], PushError) for r in caplog.records if r.exc_info)
