"""Client messages and their handlers: the :func:`handles` decorator, and the call of one.

:func:`handles` marks which client message types a consumer method handles (re-exported as
``livepush.consumers.handles``); ``LivePushConsumer`` collects the marked methods into
``livepush_handlers`` when a subclass is defined, and :func:`call_handler` hands a client frame
to its handler, or answers it with an ``ERROR`` frame.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar

from livepush.exceptions import PayloadError
from livepush.protocol import ErrorCode
from livepush.registry import TypeRef, get_registry

__all__ = ["Handling", "call_handler", "collect_handlers", "handles"]

logger = logging.getLogger("livepush.consumers")

#: The attribute :func:`handles` sets on a method: the type names it handles.
_MARK = "_livepush_handles"

_F = TypeVar("_F", bound=Callable[..., Awaitable[Any]])


def handles(*message_types: TypeRef) -> Callable[[_F], _F]:
    """Mark an ``async def handler(self, data)`` method as the handler of client message types.

    Only types some handler declares may be sent by clients; others get an ``ERROR`` frame with
    code ``type_not_allowed``. The types must be registered (a system check verifies it).
    """
    if not message_types:
        raise TypeError("handles() needs at least one message type")

    def decorate(func: _F) -> _F:
        names = tuple(getattr(t, "value", t) for t in message_types)
        setattr(func, _MARK, names)
        return func

    return decorate


def collect_handlers(cls: type) -> dict[str, str]:
    """Map each client message type name to the method of ``cls`` marked with :func:`handles`
    for it (a subclass's marking wins over its base's)."""
    handlers: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            for name in getattr(value, _MARK, ()):
                handlers[name] = attr
    return handlers


class Handling(Protocol):
    """What :func:`call_handler` needs of a consumer."""

    livepush_handlers: Mapping[str, str]

    async def send_error(self, code: ErrorCode, detail: str) -> None: ...


async def call_handler(consumer: Handling, content: dict[str, Any]) -> None:
    """Hand a decoded client frame to the consumer's handler of its type, or answer it with an
    ``ERROR`` frame: ``unknown_type`` (naming close matches), ``type_not_allowed``,
    ``invalid_payload``, or ``handler_error`` when the handler raised (logged)."""
    type_name: str = content["type"]
    registry = get_registry()
    registered = registry.get(type_name)
    if registered is None:
        close = registry.suggest(type_name, among=list(consumer.livepush_handlers))
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        await consumer.send_error(
            ErrorCode.UNKNOWN_TYPE, f"Unknown message type {type_name!r}.{hint}"
        )
        return
    handler_name = consumer.livepush_handlers.get(registered.name)
    if handler_name is None:
        await consumer.send_error(
            ErrorCode.TYPE_NOT_ALLOWED, f"Clients may not send {type_name!r} to this server."
        )
        return
    data = content.get("data")
    try:
        registry.validate_payload(registered, data)
    except PayloadError as exc:
        await consumer.send_error(ErrorCode.INVALID_PAYLOAD, str(exc))
        return
    try:
        await getattr(consumer, handler_name)(data)
    except Exception:
        logger.exception("Handler %s for %r failed", handler_name, type_name)
        await consumer.send_error(
            ErrorCode.HANDLER_ERROR, f"The server failed to handle {type_name!r}."
        )
