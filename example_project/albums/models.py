"""Albums shared with their members, and their photos."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Album(models.Model):
    title = models.CharField(max_length=100)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="albums")

    def __str__(self) -> str:
        return self.title

    def member_ids(self) -> list[int]:
        return list(self.members.values_list("pk", flat=True))


class Photo(models.Model):
    album = models.ForeignKey(Album, on_delete=models.CASCADE, related_name="photos")
    title = models.CharField(max_length=100)
    image = models.FileField(upload_to="photos/")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("pk",)

    def __str__(self) -> str:
        return self.title
