from django.apps import AppConfig


class AlbumsConfig(AppConfig):
    name = "albums"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from .live import register

        register()
