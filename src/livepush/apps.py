"""Django app configuration: registers the system checks."""

from __future__ import annotations

from django.apps import AppConfig


class LivePushConfig(AppConfig):
    name = "livepush"
    verbose_name = "LivePush"

    def ready(self) -> None:
        from livepush import checks, status, wiring  # noqa: F401 - registers the checks
        # (status: every server process answers manage.py livepush_status)
