"""Create the demo users (idempotent) and print how to log in."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

USERS = {"alice": "alice-demo", "bob": "bob-demo", "carol": "carol-demo"}


class Command(BaseCommand):
    help = "Create the demo users alice, bob and carol."

    def handle(self, *args: Any, **options: Any) -> None:
        model = get_user_model()
        for username, password in USERS.items():
            user, _ = model.objects.get_or_create(username=username)
            user.set_password(password)
            user.is_staff = user.is_superuser = username == "alice"
            user.save()
        self.stdout.write("Demo users (username / password):")
        for username, password in USERS.items():
            self.stdout.write(f"  {username} / {password}")
