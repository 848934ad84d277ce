"""Small models for the tests of livepush.live: albums with members, and their photos."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Album(models.Model):
    title = models.CharField(max_length=100)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="albums")

    def __str__(self) -> str:
        return self.title


class Photo(models.Model):
    album = models.ForeignKey(Album, on_delete=models.CASCADE, related_name="photos")
    title = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.title
