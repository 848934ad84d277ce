"""Who is online: async queries and their sync twins, across every server process."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from asgiref.sync import async_to_sync

from livepush.presence.backends import closing_new_client, get_backend
from livepush.presence.ids import user_id_key, user_ids_from_keys

__all__ = [
    "aconnection_count",
    "ais_online",
    "aonline_user_ids",
    "connection_count",
    "is_online",
    "online_user_ids",
]

T = TypeVar("T")


async def aonline_user_ids() -> list[Any]:
    """The ids of users online anywhere (those in their grace period included).

    Each id is the user model's primary-key value (``int`` for the default ``AutoField``).
    """
    return user_ids_from_keys(await get_backend().online_user_ids())


async def ais_online(user_id: Any) -> bool:
    """Whether the user has a connection anywhere (or is in the grace period after the last)."""
    return await get_backend().is_online(user_id_key(user_id))


async def aconnection_count(user_id: Any) -> int:
    """The number of live connections the user has, across all processes."""
    return await get_backend().connection_count(user_id_key(user_id))


def online_user_ids() -> list[Any]:
    """Sync :func:`aonline_user_ids`, for views, commands and tasks."""
    return async_to_sync(_closing_new_client(aonline_user_ids))()


def is_online(user_id: Any) -> bool:
    """Sync :func:`ais_online`."""
    return async_to_sync(_closing_new_client(ais_online))(user_id)


def connection_count(user_id: Any) -> int:
    """Sync :func:`aconnection_count`."""
    return async_to_sync(_closing_new_client(aconnection_count))(user_id)


def _closing_new_client(func: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    # async_to_sync runs each call in an event loop of its own: close the Redis client made for
    # it, so no connection outlives the call.
    async def run(*args: Any) -> T:
        async with closing_new_client():
            return await func(*args)

    return run
