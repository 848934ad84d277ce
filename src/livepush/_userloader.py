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

from livepush._coalesce import Batched

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

__all__ = ["BATCH_SIZE", "UserNotFound", "load_user"]

#: Lookups one query serves at most (a SQL ``IN`` list; SQLite allows 32,766 parameters).
BATCH_SIZE = 500


class UserNotFound(LookupError):
    """No user has the primary key."""


async def _load_batch(pks: list[Any]) -> list[AbstractBaseUser | Exception]:
    """One query for the lookups waiting together: each gets its user or :class:`UserNotFound`."""
    users = await _fetch(list(dict.fromkeys(pks)))
    results: list[AbstractBaseUser | Exception] = []
    seen: set[Any] = set()
    for pk in pks:
        user = users.get(pk)
        if user is None:
            results.append(UserNotFound(pk))
        else:
            # Two connects of one user get two instances, as two get() would.
            results.append(copy.copy(user) if pk in seen else user)
            seen.add(pk)
    return results


def _fetch_sync(pks: list[Any]) -> dict[Any, AbstractBaseUser]:
    users: dict[Any, AbstractBaseUser] = get_user_model()._default_manager.in_bulk(pks)
    return users


# database_sync_to_async closes stale database connections around the query, as Channels does
# for each consumer message.
_fetch: Callable[[list[Any]], Awaitable[dict[Any, AbstractBaseUser]]] = database_sync_to_async(
    _fetch_sync
)


_loaders: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Batched[Any, AbstractBaseUser]] = (
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
        loader = _loaders[loop] = Batched(_load_batch, size=BATCH_SIZE)
    return await loader(pk)
