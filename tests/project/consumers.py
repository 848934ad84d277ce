"""The consumer the test project routes: LivePushConsumer plus a few client message handlers."""

from __future__ import annotations

import socket
from typing import Any

from livepush.consumers import LivePushConsumer, handles
from livepush.push import encode_message

from .messages import TestMessageType


class TestConsumer(LivePushConsumer):
    __test__ = False  # not a pytest test class

    async def get_groups(self) -> list[str]:
        return ["testers"]

    @handles(TestMessageType.ECHO, TestMessageType.CHAT_MESSAGE)
    async def echo(self, data: Any) -> None:
        await self.send(text_data=encode_message(TestMessageType.ECHO, data))

    @handles("FAIL")
    async def fail(self, data: Any) -> None:
        raise RuntimeError("handler failed on purpose")

    @handles(TestMessageType.BLOCK)
    async def block(self, data: Any) -> None:
        """Block this server process's event loop until the test lets go: a process too busy to
        read its pushes. ``data`` is ``{"port": N}``, a socket the test listens on; the test lets
        go by sending a byte or closing it."""
        with socket.create_connection(("127.0.0.1", int(data["port"])), timeout=60) as sock:
            sock.recv(1)
