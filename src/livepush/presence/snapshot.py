"""The ``PRESENCE_SNAPSHOT`` a new connection gets first, shared by the connects that ask together.

Each connection's snapshot lists every user online. One query and one encoding per connection
makes a connect storm quadratic (2,000 connects reading and encoding 2,000 ids each), so the
connects waiting at one moment share one query (:class:`~livepush._coalesce.Coalesced`: each
still gets a list read after it asked, so a user whose ``PRESENCE_DIFF`` went out before this
connection joined its groups is in it) and, when they do not filter it, one encoded frame.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from livepush._coalesce import Coalesced
from livepush.presence.queries import aonline_user_ids
from livepush.protocol import encode_snapshot

__all__ = ["encode", "online_user_ids"]

_queries: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Coalesced[list[Any]]] = (
    weakref.WeakKeyDictionary()
)
# The last shared list and its frame: connects that got the same list send the same text.
_encoded: tuple[list[Any], str] | None = None


async def online_user_ids() -> list[Any]:
    """:func:`~livepush.presence.aonline_user_ids`, one query for the connects asking together.

    The list is shared: do not change it.
    """
    loop = asyncio.get_running_loop()
    query = _queries.get(loop)
    if query is None:
        query = _queries[loop] = Coalesced(aonline_user_ids)
    return await query()


def encode(user_ids: list[Any]) -> str:
    """The ``PRESENCE_SNAPSHOT`` frame for ``user_ids``, encoded once per shared list."""
    global _encoded
    cached = _encoded
    if cached is not None and cached[0] is user_ids:
        return cached[1]
    text = encode_snapshot(user_ids)
    _encoded = (user_ids, text)
    return text
