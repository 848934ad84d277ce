"""Push a SYSTEM_NOTIFICATION to everyone: ``python manage.py notify "Maintenance at 6"``.

Reaches browsers served by other processes only through Redis (REDIS_URL or REDIS_HOST).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from demo.wire import stamp
from livepush import WebSocketMessageType, send_ws_message_to_all


class Command(BaseCommand):
    help = "Push a system notification to every connected browser."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("text")

    def handle(self, *args: Any, text: str, **options: Any) -> None:
        send_ws_message_to_all(WebSocketMessageType.SYSTEM_NOTIFICATION, stamp({"text": text}))
        self.stdout.write(f"Sent: {text}")
