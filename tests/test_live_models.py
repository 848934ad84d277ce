"""livepush.live: model saves and deletes become pushes to the object's audience, after commit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import override_settings

from livepush import UnknownMessageType
from livepush.live import live_model, push_change, unregister

from .helpers import Inbox
from .liveapp.models import Album, Photo

pytestmark = pytest.mark.django_db(transaction=True)


def member_ids(photo: Photo) -> list[Any]:
    return list(photo.album.members.values_list("pk", flat=True))


@pytest.fixture(autouse=True)
def photos_are_live() -> Iterator[None]:
    config = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    with override_settings(CHANNEL_LAYERS=config):
        live_model(
            Photo,
            created="PHOTO_UPLOADED",
            updated="PHOTO_UPDATED",
            deleted="PHOTO_DELETED",
            serializer=lambda photo: {
                "id": photo.pk,
                "album_id": photo.album_id,
                "title": photo.title,
            },
            audience=member_ids,
        )
        yield
        unregister(Photo)


@pytest.fixture
def album() -> Album:
    users = get_user_model().objects
    album = Album.objects.create(title="Trip")
    album.members.add(users.create_user("alice"), users.create_user("bob"))
    users.create_user("outsider")
    return album


def inbox_of(username: str) -> Inbox:
    return Inbox(f"user_{get_user_model().objects.get(username=username).pk}")


def test_create_update_delete_reach_the_members_only(album):
    alice, bob, outsider = inbox_of("alice"), inbox_of("bob"), inbox_of("outsider")
    photo = Photo.objects.create(album=album, title="Beach")
    photo.title = "Sunset"
    photo.save()
    photo_id = photo.pk
    photo.delete()
    expected = [
        {
            "type": "PHOTO_UPLOADED",
            "data": {"id": photo_id, "album_id": album.pk, "title": "Beach"},
        },
        {
            "type": "PHOTO_UPDATED",
            "data": {"id": photo_id, "album_id": album.pk, "title": "Sunset"},
        },
        {
            "type": "PHOTO_DELETED",
            "data": {"id": photo_id, "album_id": album.pk, "title": "Sunset"},
        },
    ]
    assert alice.frames() == expected
    assert bob.frames() == expected
    assert outsider.frames() == []


def test_a_deleted_objects_audience_is_computed_before_it_is_gone(album):
    bob = inbox_of("bob")
    Photo.objects.create(album=album, title="Beach")
    bob.frames()
    album.delete()  # cascades to the photo; its audience (the album's members) goes too
    assert [f["type"] for f in bob.frames()] == ["PHOTO_DELETED"]


def test_a_rolled_back_change_notifies_no_one(album):
    alice = inbox_of("alice")

    def create_then_fail() -> None:
        with transaction.atomic():
            Photo.objects.create(album=album, title="Never")
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        create_then_fail()
    assert alice.frames() == []


def test_pushes_wait_for_the_commit(album):
    alice = inbox_of("alice")
    with transaction.atomic():
        Photo.objects.create(album=album, title="Later")
        assert alice.frames() == []
    assert [f["type"] for f in alice.frames()] == ["PHOTO_UPLOADED"]


def test_update_and_bulk_create_need_push_change(album):
    alice = inbox_of("alice")
    photos = Photo.objects.bulk_create([Photo(album=album, title=t) for t in ("a", "b")])
    Photo.objects.filter(album=album).update(title="renamed")
    assert alice.frames() == []  # no model signals on these paths
    push_change(Photo.objects.filter(album=album).order_by("pk"), "updated")
    assert [f["data"]["title"] for f in alice.frames()] == ["renamed", "renamed"]
    assert len(photos) == 2


def test_unregistered_types_fail_at_registration():
    with pytest.raises(UnknownMessageType, match="PHOTO_UPLOADED"):
        live_model(Album, created="PHOTO_UPLOADD", serializer=str, audience=lambda a: [])


def test_a_model_registers_once():
    with pytest.raises(TypeError, match="already registered"):
        live_model(Photo, created="PHOTO_UPLOADED", serializer=str, audience=lambda p: [])


def test_push_change_refuses_an_unregistered_model(album):
    with pytest.raises(TypeError, match="not registered"):
        push_change(album, "updated")


def test_a_version_goes_into_every_payload_a_datetime_as_microseconds(album):
    import datetime as dt

    unregister(Photo)
    moments = iter(
        [
            dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=n)
            for n in range(3)
        ]
    )
    live_model(
        Photo,
        created="PHOTO_UPLOADED",
        updated="PHOTO_UPDATED",
        serializer=lambda photo: {"id": photo.pk},
        audience=member_ids,
        version=lambda photo: next(moments),
    )
    alice = inbox_of("alice")
    photo = Photo.objects.create(album=album, title="Beach")
    photo.save()
    versions = [frame["data"]["version"] for frame in alice.frames()]
    start = int(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc).timestamp() * 1_000_000)
    assert versions == [start, start + 1_000_000]


def test_a_version_needs_a_dict_payload(album):
    unregister(Photo)
    live_model(Photo, created="PHOTO_UPLOADED", serializer=str, audience=member_ids, version="pk")
    with pytest.raises(TypeError, match="needs a serializer that returns a dict"):
        Photo.objects.create(album=album, title="Beach")


def test_payload_is_what_the_pushes_carry_for_a_list_view_to_return(album):
    unregister(Photo)
    live = live_model(
        Photo,
        updated="PHOTO_UPDATED",
        serializer=lambda photo: {"id": photo.pk, "title": photo.title},
        audience=member_ids,
        version="pk",
    )
    alice = inbox_of("alice")
    photo = Photo.objects.create(album=album, title="Beach")
    photo.save()
    assert [frame["data"] for frame in alice.frames()] == [live.payload(photo)]
    assert live.payload(photo) == {"id": photo.pk, "title": "Beach", "version": photo.pk}


def test_the_payload_function_finds_the_registered_model(album):
    from livepush.live import payload

    photo = Photo.objects.create(album=album, title="Beach")
    assert payload(photo) == {"id": photo.pk, "album_id": album.pk, "title": "Beach"}
    with pytest.raises(TypeError, match="Album is not registered with live_model"):
        payload(album)


def test_a_live_model_type_in_ephemeral_types_is_not_kept_for_recovery(album, settings):
    from livepush import history

    settings.LIVEPUSH = {
        **settings.LIVEPUSH,
        "RECOVERY": True,
        "EPHEMERAL_TYPES": ["PHOTO_UPDATED"],
    }
    memory = history.MemoryHistory(100, 300, 3600)
    alice = inbox_of("alice")
    with history.override(memory):
        photo = Photo.objects.create(album=album, title="Beach")  # PHOTO_UPLOADED: kept
        photo.save()  # PHOTO_UPDATED: ephemeral
    assert [frame["type"] for frame in alice.frames()] == ["PHOTO_UPLOADED", "PHOTO_UPDATED"]
    alice_id = get_user_model().objects.get(username="alice").pk
    alice_stream = memory.streams[f"user_{alice_id}"]
    assert [json.loads(text)["type"] for _, text in alice_stream.entries] == ["PHOTO_UPLOADED"]
