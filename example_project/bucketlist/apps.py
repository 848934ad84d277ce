from django.apps import AppConfig


class BucketlistConfig(AppConfig):
    name = "bucketlist"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Every change to a bucketpoint is pushed to the list's members, after commit.
        from livepush import WebSocketMessageType as T
        from livepush.live import live_model

        from .models import BucketPoint

        live_model(
            BucketPoint,
            created=T.BUCKETPOINT_CREATED,
            updated=T.BUCKETPOINT_UPDATED,
            deleted=T.BUCKETPOINT_DELETED,
            serializer=lambda point: {
                "id": point.pk,
                "list_id": point.bucket_list_id,
                "title": point.title,
                "done": point.done,
            },
            audience=lambda point: point.bucket_list.member_ids(),
        )
