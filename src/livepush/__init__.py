"""django-livepush: real-time push over WebSockets for Django.

The public API, importable from ``livepush``: the message-type registry and the push helpers, and
the seed system's opt-in message types (``WebSocketMessageType``, from :mod:`livepush.seed`; list
``"livepush.seed.WebSocketMessageType"`` in ``LIVEPUSH["MESSAGE_TYPES"]`` to use them).
The consumer, middleware and heartbeat live in their modules (``livepush.consumers``,
``livepush.auth``, ``livepush.heartbeat``) so that importing ``livepush`` stays cheap in settings.
"""

from __future__ import annotations

from livepush.exceptions import (
    LivePushConfigurationError,
    LivePushError,
    PayloadError,
    PushError,
    UnknownMessageType,
)
from livepush.push import (
    abroadcast_ws_message,
    asend_ws_message_to_all,
    asend_ws_message_to_group,
    asend_ws_message_to_user,
    broadcast_ws_message,
    send_ws_message_to_all,
    send_ws_message_to_group,
    send_ws_message_to_user,
)
from livepush.registry import get_registry, register
from livepush.seed import WebSocketMessageType

__version__ = "0.1.0.dev0"

__all__ = [
    "LivePushConfigurationError",
    "LivePushError",
    "PayloadError",
    "PushError",
    "UnknownMessageType",
    "WebSocketMessageType",
    "abroadcast_ws_message",
    "asend_ws_message_to_all",
    "asend_ws_message_to_group",
    "asend_ws_message_to_user",
    "broadcast_ws_message",
    "get_registry",
    "register",
    "send_ws_message_to_all",
    "send_ws_message_to_group",
    "send_ws_message_to_user",
]
