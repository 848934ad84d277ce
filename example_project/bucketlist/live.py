"""Which pushes bucket-point changes make: registered in BucketlistConfig.ready()."""

from __future__ import annotations

from typing import Any

from demo.wire import stamped

from livepush import WebSocketMessageType as T
from livepush.live import live_model

from .models import BucketPoint


@stamped  # the send time, for the wire panel (demo/wire.py)
def point_data(point: BucketPoint) -> dict[str, Any]:
    return {
        "id": point.pk,
        "list_id": point.bucket_list_id,
        "title": point.title,
        "done": point.done,
    }


def register() -> None:
    # Every change to a point is pushed to the list's members, after commit; "version" (the
    # last save, in microseconds) lets the page ignore an event older than what it shows.
    live_model(
        BucketPoint,
        created=T.BUCKETPOINT_CREATED,
        updated=T.BUCKETPOINT_UPDATED,
        deleted=T.BUCKETPOINT_DELETED,
        serializer=point_data,
        audience=lambda point: point.bucket_list.member_ids(),
        version="updated_at",
    )
