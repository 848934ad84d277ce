"""Create the demo users and data (idempotent) and print how to log in."""

from __future__ import annotations

from typing import Any

from albums.models import Album, Photo
from bucketlist.models import BucketList, BucketPoint
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand

from demo.pictures import png

USERS = {"alice": "alice-demo", "bob": "bob-demo", "carol": "carol-demo"}


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
            scenes = (
                ("Tram 28", (90, 150, 220), (200, 150, 60)),
                ("Tagus at dusk", (120, 60, 130), (30, 60, 110)),
                ("Sintra hills", (140, 190, 230), (60, 120, 60)),
            )
            for title, sky, ground in scenes:
                photo = Photo(album=album, title=title, uploaded_by=users["alice"])
                image = ContentFile(png(sky, ground))
                photo.image.save(f"{title.lower().replace(' ', '-')}.png", image)
        if not BucketList.objects.exists():
            bucket_list = BucketList.objects.create(title="Before we turn 40")
            bucket_list.members.add(users["alice"], users["bob"], users["carol"])
            for title, done in (("See the northern lights", False), ("Run a marathon", True)):
                BucketPoint.objects.create(bucket_list=bucket_list, title=title, done=done)
        self.stdout.write("Demo users (username / password):")
        for username, password in USERS.items():
            self.stdout.write(f"  {username} / {password}")
        self.stdout.write("alice and bob share the album; all three share the bucket list.")
