"""A bucket list shared by its members, and its points."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class BucketList(models.Model):
    title = models.CharField(max_length=100)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="bucket_lists")

    def __str__(self) -> str:
        return self.title

    def member_ids(self) -> list[int]:
        return list(self.members.values_list("pk", flat=True))


class BucketPoint(models.Model):
    bucket_list = models.ForeignKey(BucketList, on_delete=models.CASCADE, related_name="points")
    title = models.CharField(max_length=200)
    done = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("pk",)

    def __str__(self) -> str:
        return self.title
