"""Which pushes album and photo changes make: registered in AlbumsConfig.ready()."""

from __future__ import annotations

from typing import Any

from demo.wire import stamped

from livepush import WebSocketMessageType as T
from livepush.live import live_model

from .models import Album, Photo


@stamped  # the send time, for the wire panel (demo/wire.py)
def album_data(album: Album) -> dict[str, Any]:
    return {"id": album.pk, "title": album.title}


@stamped
def photo_data(photo: Photo) -> dict[str, Any]:
    return {
        "id": photo.pk,
        "album_id": photo.album_id,
        "title": photo.title,
        "url": photo.image.url if photo.image else "",
        "uploaded_by": photo.uploaded_by.get_username(),
    }


def register() -> None:
    live_model(
        Album,
        created=T.ALBUM_CREATED,
        updated=T.ALBUM_UPDATED,
        deleted=T.ALBUM_DELETED,
        serializer=album_data,
        audience=Album.member_ids,
    )
    live_model(
        Photo,
        created=T.PHOTO_UPLOADED,
        updated=T.PHOTO_UPDATED,
        deleted=T.PHOTO_DELETED,
        serializer=photo_data,
        audience=lambda photo: photo.album.member_ids(),
        version="updated_at",
    )
