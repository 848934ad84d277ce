"""livepush.testing: captured pushes (in and out of test transactions), the communicator, the
fixture and presence reset, against the real library and the in-memory channel layer."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import TestCase, override_settings

from livepush import (
    UnknownMessageType,
    WebSocketMessageType,
    _publish,
    abroadcast_ws_message,
    asend_ws_message_to_all,
    asend_ws_message_to_group,
    asend_ws_message_to_user,
    broadcast_ws_message,
    send_ws_message_to_all,
    send_ws_message_to_group,
    send_ws_message_to_user,
)
from livepush.live import live_model, push_change, unregister
from livepush.presence import aconnection_count, ais_online, get_tracker
from livepush.protocol import CloseCode, encode_presence_diff
from livepush.testing import (
    DEFAULT_ORIGIN,
    CapturedPush,
    LivePushCommunicator,
    PushCapture,
    capture_pushes,
    reset_presence,
)

from .helpers import WAIT, Inbox, join_groups, pushes_received
from .liveapp.models import Album, Photo

T = WebSocketMessageType
NOTE = T.SYSTEM_NOTIFICATION


# Capturing ----------------------------------------------------------------------------------


def test_every_sync_helper_is_recorded_with_its_resolved_audience(layer):
    with capture_pushes() as pushes:
        send_ws_message_to_user(1, NOTE, {"text": "one"})
        broadcast_ws_message([2, 3, 2], "SYSTEM_NOTIFICATION", {"text": "many"})
        send_ws_message_to_all(NOTE, {"text": "all"})
        send_ws_message_to_group("testers", NOTE, {"text": "group"})
    assert pushes.pushes == [
        CapturedPush("SYSTEM_NOTIFICATION", {"text": "one"}, ("user_1",), pushes.pushes[0].text),
        CapturedPush(
            "SYSTEM_NOTIFICATION", {"text": "many"}, ("user_2", "user_3"), pushes.pushes[1].text
        ),
        CapturedPush("SYSTEM_NOTIFICATION", {"text": "all"}, ("broadcast",), pushes.pushes[2].text),
        CapturedPush("SYSTEM_NOTIFICATION", {"text": "group"}, ("testers",), pushes.pushes[3].text),
    ]
    assert json.loads(pushes.pushes[0].text) == {"type": NOTE.value, "data": {"text": "one"}}


async def test_the_async_twins_are_recorded(layer):
    with capture_pushes() as pushes:
        await asend_ws_message_to_user(1, NOTE, {"text": "one"})
        await abroadcast_ws_message([2, 3], NOTE, {"text": "many"})
        await asend_ws_message_to_all(NOTE, {"text": "all"})
        await asend_ws_message_to_group("testers", NOTE, {"text": "group"})
    assert [(p.data["text"], p.groups) for p in pushes] == [
        ("one", ("user_1",)),
        ("many", ("user_2", "user_3")),
        ("all", ("broadcast",)),
        ("group", ("testers",)),
    ]


async def test_captured_pushes_are_delivered_by_default(layer):
    channel = await join_groups(layer, "user_1")
    with capture_pushes() as pushes:
        await asend_ws_message_to_user(1, NOTE, {"text": "hi"})
    assert len(pushes) == 1
    assert [m["text"] for m in await pushes_received(layer, channel)] == [pushes.pushes[0].text]


async def test_with_deliver_false_pushes_are_only_recorded(layer):
    channel = await join_groups(layer, "user_1")
    with capture_pushes(deliver=False) as pushes:
        await asend_ws_message_to_user(1, NOTE, {"text": "hi"})
        await abroadcast_ws_message([1, 2], NOTE, {"text": "many"})
    assert len(pushes) == 2
    assert await pushes_received(layer, channel) == []


def test_with_deliver_false_no_channel_layer_is_needed():
    with override_settings(CHANNEL_LAYERS={}), capture_pushes(deliver=False) as pushes:
        send_ws_message_to_user(1, NOTE, {"text": "hi"})
    pushes.assert_pushed(NOTE, to=1)


def test_only_pushes_sent_while_capturing_are_recorded(layer):
    send_ws_message_to_user(1, NOTE, {"text": "before"})
    with capture_pushes() as pushes:
        send_ws_message_to_user(1, NOTE, {"text": "during"})
    send_ws_message_to_user(1, NOTE, {"text": "after"})
    assert [p.data["text"] for p in pushes] == ["during"]
    assert _publish.taps == []


def test_the_capture_stops_when_its_block_raises(layer):
    with pytest.raises(RuntimeError), capture_pushes():
        raise RuntimeError
    assert _publish.taps == []


def test_nested_captures_both_record_and_any_deliver_false_withholds(layer):
    inbox = Inbox("user_1")
    with capture_pushes() as outer:
        with capture_pushes(deliver=False) as inner:
            send_ws_message_to_user(1, NOTE, {"text": "inner"})
        send_ws_message_to_user(1, NOTE, {"text": "outer"})
    assert [p.data["text"] for p in outer] == ["inner", "outer"]
    assert [p.data["text"] for p in inner] == ["inner"]
    assert [f["data"]["text"] for f in inbox.frames()] == ["outer"]


async def test_presence_frames_are_not_recorded_and_always_sent(layer):
    channel = await join_groups(layer, "broadcast")
    with capture_pushes(deliver=False) as pushes:
        await _publish.publish(["broadcast"], encode_presence_diff([1], []), ephemeral=True)
    assert pushes.pushes == []
    assert len(await pushes_received(layer, channel)) == 1


# Reading and assertions ---------------------------------------------------------------------


@pytest.fixture
def sent(layer) -> Iterator[PushCapture]:
    with capture_pushes(deliver=False) as pushes:
        send_ws_message_to_user(1, NOTE, {"text": "hi", "level": "info"})
        broadcast_ws_message([1, 2], T.PHOTO_UPLOADED, {"id": 7})
        send_ws_message_to_all(T.ALBUM_CREATED, {"id": 3})
        yield pushes


def test_of_type_to_user_and_to_group_filter(sent):
    assert [p.type for p in sent.of_type(T.PHOTO_UPLOADED)] == ["PHOTO_UPLOADED"]
    assert sent.of_type("PHOTO_UPLOADED") == sent.of_type(T.PHOTO_UPLOADED)
    assert [p.type for p in sent.to_user(1)] == ["SYSTEM_NOTIFICATION", "PHOTO_UPLOADED"]
    assert [p.type for p in sent.to_user("2")] == ["PHOTO_UPLOADED"]
    assert [p.type for p in sent.to_group("broadcast")] == ["ALBUM_CREATED"]


def test_a_user_object_counts_as_its_primary_key(sent):
    user = get_user_model()(pk=2)
    assert [p.type for p in sent.to_user(user)] == ["PHOTO_UPLOADED"]
    assert sent.assert_pushed(to=user).type == "PHOTO_UPLOADED"


def test_assert_pushed_matches_type_audience_and_some_keys_of_the_payload(sent):
    assert sent.assert_pushed(NOTE).data == {"text": "hi", "level": "info"}
    sent.assert_pushed(NOTE, to=1, data={"text": "hi"})
    sent.assert_pushed(T.PHOTO_UPLOADED, to=[1, 2], data={"id": 7}, count=1)
    sent.assert_pushed(to="broadcast", data={"id": 3})
    sent.assert_pushed(count=3)


def test_assert_pushed_fails_listing_what_was_pushed(sent):
    with pytest.raises(AssertionError) as info:
        sent.assert_pushed(NOTE, to=2, data={"text": "bye"})
    assert str(info.value) == (
        "Expected a push of 'SYSTEM_NOTIFICATION' to user_2 with data including "
        "{'text': 'bye'}, but none was sent. Pushes sent (3):\n"
        '  SYSTEM_NOTIFICATION to user_1: {"level": "info", "text": "hi"}\n'
        '  PHOTO_UPLOADED to user_1, user_2: {"id": 7}\n'
        '  ALBUM_CREATED to broadcast: {"id": 3}'
    )
    with pytest.raises(AssertionError, match=r"Expected 2 pushes of 'PHOTO_UPLOADED', but 1 were"):
        sent.assert_pushed(T.PHOTO_UPLOADED, count=2)


def test_assert_not_pushed_fails_naming_the_push(sent):
    sent.assert_not_pushed(T.PHOTO_DELETED)
    sent.assert_not_pushed(NOTE, to=2)
    sent.assert_not_pushed(NOTE, data={"text": "bye"})
    with pytest.raises(AssertionError, match=r"Expected no push of 'ALBUM_CREATED', but 1 was"):
        sent.assert_not_pushed(T.ALBUM_CREATED)
    with pytest.raises(AssertionError, match=r"Expected no push, but 3 were sent"):
        sent.assert_not_pushed()


def test_a_payload_that_is_not_a_dict_must_be_equal(layer):
    with capture_pushes(deliver=False) as pushes:
        send_ws_message_to_user(1, NOTE, ["a", "b"])
    pushes.assert_pushed(NOTE, data=["a", "b"])
    pushes.assert_not_pushed(NOTE, data=["a"])


def test_an_unknown_type_in_an_assertion_fails_naming_close_matches(sent):
    with pytest.raises(UnknownMessageType, match="'PHOTO_UPLOADED'"):
        sent.assert_not_pushed("PHOTO_UPLAODED")


def test_nothing_pushed_says_so_and_clear_forgets(sent):
    sent.clear()
    assert len(sent) == 0
    with pytest.raises(AssertionError, match=r"none was sent\. No push was sent\.$"):
        sent.assert_pushed(NOTE)


# Pushes that wait for a commit ----------------------------------------------------------------


def push_then_fail(user_id: int, text: str) -> None:
    """Push from an atomic block that then fails, and so rolls back."""
    with transaction.atomic():
        send_ws_message_to_user(user_id, NOTE, {"text": text})
        raise RuntimeError("rolled back")


class TestInsideADjangoTestCase(TestCase):
    """The test's transaction never commits: pushes count as committed once the code that made
    them has left its own atomic blocks."""

    def test_a_push_in_the_test_transaction_is_recorded_and_delivered(self):
        inbox = Inbox("user_1")
        with capture_pushes() as pushes:
            send_ws_message_to_user(1, NOTE, {"text": "hi"})
            pushes.assert_pushed(NOTE, to=1, data={"text": "hi"})
        assert [f["data"] for f in inbox.frames()] == [{"text": "hi"}]

    def test_a_push_from_an_atomic_block_is_recorded_after_it(self):
        with capture_pushes() as pushes:
            with transaction.atomic():
                send_ws_message_to_user(1, NOTE, {"text": "saved"})
                assert pushes.pushes == []  # not committed yet
            pushes.assert_pushed(NOTE, data={"text": "saved"})

    def test_a_push_in_an_inner_block_waits_for_the_outer_one(self):
        with capture_pushes() as pushes:
            with transaction.atomic():
                with transaction.atomic():
                    send_ws_message_to_user(1, NOTE, {"text": "inner"})
                assert len(pushes) == 0
                with transaction.atomic():  # another block, after the first was released
                    assert len(pushes) == 0
            assert len(pushes) == 1

    def test_a_push_from_an_earlier_block_is_recorded_inside_a_later_one(self):
        with capture_pushes() as pushes:
            with transaction.atomic():
                send_ws_message_to_user(1, NOTE, {"text": "first"})
            with transaction.atomic():
                send_ws_message_to_user(1, NOTE, {"text": "second"})
                assert [p.data["text"] for p in pushes] == ["first"]
            assert [p.data["text"] for p in pushes] == ["first", "second"]

    def test_a_rolled_back_push_is_not_recorded(self):
        inbox = Inbox("user_1")
        with capture_pushes() as pushes:
            with pytest.raises(RuntimeError):
                push_then_fail(1, "rolled back")
            with transaction.atomic():
                send_ws_message_to_user(1, NOTE, {"text": "rolled back too"})
                transaction.set_rollback(True)
            send_ws_message_to_user(1, NOTE, {"text": "kept"})
        assert [p.data["text"] for p in pushes] == ["kept"]
        assert [f["data"]["text"] for f in inbox.frames()] == ["kept"]

    def test_a_push_in_a_transaction_marked_for_rollback_is_not_recorded(self):
        with capture_pushes() as pushes:
            send_ws_message_to_user(1, NOTE, {"text": "doomed"})
            transaction.set_rollback(True)
            assert len(pushes) == 0
            transaction.set_rollback(False)
            assert len(pushes) == 1

    def test_on_commit_false_is_recorded_at_once(self):
        with capture_pushes() as pushes, transaction.atomic():
            send_ws_message_to_user(1, NOTE, {"text": "now"}, on_commit=False)
            assert len(pushes) == 1

    def test_a_capture_that_ends_sends_what_committed_and_no_more(self):
        with transaction.atomic():
            with capture_pushes() as pushes:
                send_ws_message_to_user(1, NOTE, {"text": "waits"})
            with capture_pushes() as later:
                pass
        assert pushes.pushes == []  # its block had not committed when the capture ended
        assert later.pushes == []
        with capture_pushes() as pushes:
            send_ws_message_to_user(1, NOTE, {"text": "hi"})
        assert [p.data["text"] for p in pushes] == ["hi"]  # sent and recorded at the end

    def test_without_run_on_commit_django_runs_the_callbacks(self):
        with capture_pushes(run_on_commit=False) as pushes:
            with self.captureOnCommitCallbacks(execute=False) as callbacks:
                send_ws_message_to_user(1, NOTE, {"text": "waits"})
            assert len(pushes) == 0
            with self.captureOnCommitCallbacks(execute=True):
                send_ws_message_to_user(1, NOTE, {"text": "run"})
        assert len(callbacks) == 1
        assert [p.data["text"] for p in pushes] == ["run"]

    def test_a_push_django_already_ran_is_not_sent_twice(self):
        inbox = Inbox("user_1")
        with capture_pushes() as pushes, self.captureOnCommitCallbacks(execute=True):
            send_ws_message_to_user(1, NOTE, {"text": "hi"})
            assert len(pushes) == 1  # sent by the capture
        assert len(pushes) == 1  # and not again by Django
        assert len(inbox.frames()) == 1


def test_in_pytest_djangos_db_fixture(db, layer):
    with capture_pushes() as pushes:
        send_ws_message_to_user(1, NOTE, {"text": "direct"})
        with transaction.atomic():
            send_ws_message_to_user(2, NOTE, {"text": "saved"})
            assert [p.data["text"] for p in pushes] == ["direct"]
        with pytest.raises(RuntimeError):
            push_then_fail(3, "rolled back")
    assert [(p.data["text"], p.groups) for p in pushes] == [
        ("direct", ("user_1",)),
        ("saved", ("user_2",)),
    ]


def test_with_transactional_db_pushes_are_recorded_at_the_real_commit(transactional_db, layer):
    inbox = Inbox("user_1")
    with capture_pushes() as pushes:
        with transaction.atomic():
            send_ws_message_to_user(1, NOTE, {"text": "saved"})
            assert len(pushes) == 0
            assert inbox.frames() == []
        assert len(pushes) == 1
        with pytest.raises(RuntimeError):
            push_then_fail(1, "rolled back")
    assert [p.data["text"] for p in pushes] == ["saved"]
    assert [f["data"]["text"] for f in inbox.frames()] == ["saved"]


def test_an_assertion_message_counts_the_pushes_still_waiting(transactional_db, layer):
    with capture_pushes() as pushes, transaction.atomic():
        send_ws_message_to_user(1, NOTE, {"text": "saved"})
        with pytest.raises(AssertionError, match=r"1 more wait for their transaction's commit"):
            pushes.assert_pushed(NOTE)


# Live models, as the example project registers them ------------------------------------------


@pytest.fixture
def live_photos() -> Iterator[None]:
    # As example_project/albums/live.py registers its photos.
    live_model(
        Photo,
        created=T.PHOTO_UPLOADED,
        updated=T.PHOTO_UPDATED,
        deleted=T.PHOTO_DELETED,
        serializer=lambda photo: {"id": photo.pk, "album_id": photo.album_id, "title": photo.title},
        audience=lambda photo: list(photo.album.members.values_list("pk", flat=True)),
    )
    yield
    unregister(Photo)


def test_live_model_changes_are_captured_in_a_test_transaction(db, live_photos, livepush_pushes):
    users = get_user_model().objects
    alice, bob, outsider = (users.create_user(name) for name in ("alice", "bob", "outsider"))
    album = Album.objects.create(title="Trip")
    album.members.add(alice, bob)

    photo = Photo.objects.create(album=album, title="Beach")
    livepush_pushes.assert_pushed(T.PHOTO_UPLOADED, to=[alice, bob], data={"title": "Beach"})
    livepush_pushes.assert_not_pushed(to=outsider)

    photo.title = "Sunset"
    photo.save()
    Photo.objects.filter(pk=photo.pk).update(title="Dusk")
    push_change(Photo.objects.get(pk=photo.pk), "updated")
    photo_id = photo.pk
    photo.delete()  # pre_delete runs inside the delete's own atomic block
    assert [(p.type, p.data["title"]) for p in livepush_pushes.to_user(alice)] == [
        ("PHOTO_UPLOADED", "Beach"),
        ("PHOTO_UPDATED", "Sunset"),
        ("PHOTO_UPDATED", "Dusk"),
        ("PHOTO_DELETED", "Sunset"),  # the instance deleted was not re-read
    ]
    livepush_pushes.assert_pushed(T.PHOTO_DELETED, to=bob, data={"id": photo_id}, count=1)


# The fixture and the plugin -----------------------------------------------------------------


def test_the_fixture_captures_and_delivers(livepush_pushes, layer):
    inbox = Inbox("user_1")
    send_ws_message_to_user(1, NOTE, {"text": "hi"})
    livepush_pushes.assert_pushed(NOTE, to=1)
    assert len(inbox.frames()) == 1


def test_the_plugin_works_without_django(tmp_path: Path):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_plain.py").write_text(
        textwrap.dedent(
            """
            def test_plain():
                assert True

            def test_with_the_fixture(livepush_pushes):
                assert livepush_pushes.pushes == []
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


# The communicator -----------------------------------------------------------------------------


async def test_the_communicator_connects_as_the_user_and_receives_pushes(db_users, layer):
    alice = db_users["alice"]
    async with LivePushCommunicator(alice) as ws:
        assert ws.token is not None
        await asend_ws_message_to_user(alice.pk, NOTE, {"text": "hi"})
        assert await ws.receive_message(NOTE) == {"type": NOTE.value, "data": {"text": "hi"}}
        await asend_ws_message_to_group("testers", T.PHOTO_UPLOADED, {"id": 1})
        assert (await ws.receive_message())["type"] == "PHOTO_UPLOADED"


async def test_receive_message_passes_over_the_librarys_own_frames(db_users, layer):
    alice = db_users["alice"]
    live = {
        **_live_settings(),
        "PRESENCE": True,
        "HEARTBEAT_INTERVAL": 0.5,
        "HEARTBEAT_TIMEOUT": 0.45,
    }

    async def push_later() -> None:
        await asyncio.sleep(1.5)
        await asend_ws_message_to_user(alice.pk, NOTE, {"text": "hi"})

    with override_settings(LIVEPUSH=live):
        async with LivePushCommunicator(alice) as ws:
            frame = await ws.receive_message(timeout=WAIT)
            assert frame["type"] == "PRESENCE_SNAPSHOT"  # without a type: whatever comes
            await ws.send_json_to({"type": "PONG"})
            assert await ws.receive_message("PING", timeout=WAIT) == {"type": "PING"}
            await ws.send_json_to({"type": "PONG"})
            pushing = asyncio.create_task(push_later())
            # The PINGs that come meanwhile are answered, or the server would close with 4002.
            assert (await ws.receive_message(NOTE, timeout=WAIT))["data"] == {"text": "hi"}
            await pushing
    reset_presence()


async def test_receive_message_fails_on_another_applications_frame(db_users, layer):
    async with LivePushCommunicator(db_users["alice"]) as ws:
        await asend_ws_message_to_user(db_users["alice"].pk, NOTE, {"text": "hi"})
        with pytest.raises(AssertionError, match="Expected a 'PHOTO_UPLOADED' frame, received"):
            await ws.receive_message(T.PHOTO_UPLOADED)


async def test_without_a_token_the_connection_is_closed_with_4001(db_users, layer):
    async with LivePushCommunicator(None) as ws:
        assert ws.token is None
        assert await ws.receive_close() == CloseCode.UNAUTHENTICATED
    async with LivePushCommunicator(db_users["alice"], token="not-a-jwt") as ws:
        assert await ws.receive_close() == CloseCode.UNAUTHENTICATED


async def test_without_an_allowed_origin_the_connection_is_refused(db_users, layer):
    assert DEFAULT_ORIGIN == "http://testserver"
    with pytest.raises(AssertionError, match="refused"):
        async with LivePushCommunicator(db_users["alice"], origin=None):
            pass
    with pytest.raises(AssertionError, match="refused"):
        async with LivePushCommunicator(db_users["alice"], origin="http://evil.example"):
            pass


async def test_without_asgi_application_it_routes_the_path_to_the_consumer(db_users, layer):
    with override_settings(ASGI_APPLICATION=None):
        async with LivePushCommunicator(db_users["bob"], path="/live/") as ws:
            await asend_ws_message_to_group("testers", NOTE, {"text": "hi"})  # TestConsumer's
            assert (await ws.receive_message(NOTE))["data"] == {"text": "hi"}


# Presence reset -------------------------------------------------------------------------------


def _live_settings() -> dict[str, Any]:
    from django.conf import settings

    return dict(settings.LIVEPUSH)


async def test_reset_presence_forgets_connections_and_users_in_grace(db_users, layer):
    alice, bob = db_users["alice"], db_users["bob"]
    live = {**_live_settings(), "PRESENCE": True, "PRESENCE_GRACE": 60, "PRESENCE_WINDOW": 0}
    reset_presence()
    with override_settings(LIVEPUSH=live):
        async with LivePushCommunicator(alice) as ws:
            await ws.receive_message("PRESENCE_SNAPSHOT")  # presence has recorded it
        # alice's last connection closed: online for the grace period
        bob_ws = LivePushCommunicator(bob)
        await bob_ws.__aenter__()  # and a connection left open
        await bob_ws.receive_message("PRESENCE_SNAPSHOT")
        tracker = get_tracker()
        assert await ais_online(alice.pk)
        assert await aconnection_count(bob.pk) == 1
        assert tracker.connections

        reset_presence()

        assert not await ais_online(alice.pk)
        assert not await ais_online(bob.pk)
        assert tracker.connections == {}
        assert get_tracker() is not tracker
        await bob_ws.__aexit__(None, None, None)
        assert not await ais_online(bob.pk)
    reset_presence()
