from django.apps import AppConfig


class BucketlistConfig(AppConfig):
    name = "bucketlist"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import live

        live.register()
