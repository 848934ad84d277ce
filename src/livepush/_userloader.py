"""User lookups for connects arriving together, batched into one query.

Every WebSocket connect looks its user up in the database, through Channels' one database thread
(``database_sync_to_async``). One query per connect makes a connect storm queue behind that
thread: 2,000 clients reconnecting after a deploy wait for 2,000 round trips in a row, and servers
drop handshakes not accepted in time (daphne's ``--websocket_connect_timeout``, 5 s).

:func:`load_user` gives each connect the same answer a ``get(pk=...)`` would (the user, or
:class:`UserNotFound`), but the lookups waiting while a query runs go together into the next one
(``in_bulk``): a calm server still makes one query per connect, at once; a storm makes one query
per batch.
"""

from __future__ import annotations

import asyncio
import copy
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

__all__ = ["BATCH_SIZE", "UserNotFound", "load_user"]

#: Primary keys one query looks up at most (a SQL ``IN`` list; SQLite allows 32,766 parameters).
BATCH_SIZE = 500


class UserNotFound(LookupError):
    """No user has the primary key."""


class _Loader:
    """The pending lookups of one event loop and the task that runs them in batches."""

    def __init__(self) -> None:
        self.pending: dict[Any, list[asyncio.Future[AbstractBaseUser]]] = {}
        self.task: asyncio.Task[None] | None = None

    async def load(self, pk: Any) -> AbstractBaseUser:
        future: asyncio.Future[AbstractBaseUser] = asyncio.get_running_loop().create_future()
        self.pending.setdefault(pk, []).append(future)
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(
                self._run(), name="livepush-user-loader"
            )
        return await future

    async def _run(self) -> None:
        try:
            while self.pending:
                keys = list(self.pending)[:BATCH_SIZE]
                batch = {pk: self.pending.pop(pk) for pk in keys}
                try:
                    users = await _fetch(keys)
                except Exception as exc:
                    _settle(batch, exc)
                    continue
                except BaseException:
                    _settle(batch, None)  # the loader itself is cancelled: so are its lookups
                    raise
                for pk, futures in batch.items():
                    user = users.get(pk)
                    for index, future in enumerate(futures):
                        if future.done():  # the connect was cancelled meanwhile
                            continue
                        if user is None:
                            future.set_exception(UserNotFound(pk))
                        else:
                            # Two connects of one user get two instances, as two get() would.
                            future.set_result(user if index == 0 else copy.copy(user))
        finally:
            self.task = None


def _settle(batch: dict[Any, list[asyncio.Future[Any]]], exc: Exception | None) -> None:
    for futures in batch.values():
        for future in futures:
            if future.done():
                continue
            if exc is None:
                future.cancel()
            else:
                future.set_exception(exc)


def _fetch_sync(pks: list[Any]) -> dict[Any, AbstractBaseUser]:
    users: dict[Any, AbstractBaseUser] = get_user_model()._default_manager.in_bulk(pks)
    return users


# database_sync_to_async closes stale database connections around the query, as Channels does
# for each consumer message.
_fetch: Callable[[list[Any]], Awaitable[dict[Any, AbstractBaseUser]]] = database_sync_to_async(
    _fetch_sync
)


_loaders: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Loader] = (
    weakref.WeakKeyDictionary()
)


async def load_user(pk: Any) -> AbstractBaseUser:
    """Return the user whose primary key is ``pk`` (already converted with ``to_python``).

    Raises:
        UserNotFound: no such user.
        Exception: whatever the query raised (a database failure), for every lookup in its batch.
    """
    loop = asyncio.get_running_loop()
    loader = _loaders.get(loop)
    if loader is None:
        loader = _loaders[loop] = _Loader()
    return await loader.load(pk)
