"""The :func:`handles` decorator: which client message types a consumer method handles.

Re-exported as ``livepush.consumers.handles``; ``LivePushConsumer`` collects the marked methods
into ``livepush_handlers`` when a subclass is defined.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from livepush.registry import TypeRef

__all__ = ["collect_handlers", "handles"]

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
