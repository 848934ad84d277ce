"""Create the demo users and data (idempotent) and print how to log in."""

from __future__ import annotations

import struct
import zlib
from typing import Any

from albums.models import Album, Photo
from bucketlist.models import BucketList, BucketPoint
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand

USERS = {"alice": "alice-demo", "bob": "bob-demo", "carol": "carol-demo"}


def png(rgb: tuple[int, int, int], size: int = 64) -> bytes:
    """A solid-colour PNG, so the demo needs no image library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * size
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * size))
        + chunk(b"IEND", b"")
    )


class Command(BaseCommand):
    help = "Create the demo users alice, bob and carol, an album with photos and a bucket list."

    def handle(self, *args: Any, **options: Any) -> None:
        model = get_user_model()
        users = {}
        for username, password in USERS.items():
            user, _ = model.objects.get_or_create(username=username)
            user.set_password(password)
            user.is_staff = user.is_superuser = username == "alice"
            user.save()
            users[username] = user
        if not Album.objects.exists():
            album = Album.objects.create(title="Lisbon, spring", owner=users["alice"])
            album.members.add(users["alice"], users["bob"])
            for title, colour in (("Tram 28", (230, 180, 40)), ("Tagus at dusk", (40, 90, 160))):
                photo = Photo(album=album, title=title, uploaded_by=users["alice"])
                photo.image.save(f"{title.lower().replace(' ', '-')}.png", ContentFile(png(colour)))
        if not BucketList.objects.exists():
            bucket_list = BucketList.objects.create(title="Before we turn 40")
            bucket_list.members.add(users["alice"], users["bob"], users["carol"])
            for title, done in (("See the northern lights", False), ("Run a marathon", True)):
                BucketPoint.objects.create(bucket_list=bucket_list, title=title, done=done)
        self.stdout.write("Demo users (username / password):")
        for username, password in USERS.items():
            self.stdout.write(f"  {username} / {password}")
        self.stdout.write("alice and bob share the album; all three share the bucket list.")
