"""The consumer the test project routes: LivePushConsumer plus two client message handlers."""

from __future__ import annotations

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
