"""A host project's own message types, registered through LIVEPUSH["MESSAGE_TYPES"]."""

from __future__ import annotations

import enum

from typing_extensions import NotRequired, TypedDict

import livepush


class TestMessageType(str, enum.Enum):
    __test__ = False  # not a pytest test class

    ECHO = "ECHO"
    CHAT_MESSAGE = "CHAT_MESSAGE"
    FAIL = "FAIL"
    BLOCK = "BLOCK"


class ChatMessage(TypedDict):
    room: str
    text: str
    mentions: NotRequired[list[int]]


livepush.register(TestMessageType.CHAT_MESSAGE, schema=ChatMessage)
