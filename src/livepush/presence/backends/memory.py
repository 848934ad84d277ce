"""Presence for one process (the in-memory channel layer): the Redis backend's rules in dicts."""

from __future__ import annotations

import time
from collections.abc import Callable

from livepush.presence.backends.base import PresenceBackend

__all__ = ["MemoryPresence"]


class MemoryPresence(PresenceBackend):
    """Presence for one process (the in-memory channel layer); same rules, no Redis.

    Args:
        ttl: seconds an entry lives without a refresh.
        grace: seconds a user stays online after their last connection closes.
        clock: returns the time in seconds; tests pass one they move by hand.
    """

    def __init__(
        self, ttl: float, grace: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.clock = clock
        self.ttl = ttl
        self.grace = max(0.0, grace)
        self.conns: dict[str, dict[str, float]] = {}
        self.users: dict[str, float] = {}
        # Closed connection -> when its tombstone may go (as Redis's expire after 2 x TTL).
        self.closed: dict[str, float] = {}

    async def connect(self, user_id: str, conn_id: str) -> bool:
        now = self.clock()
        self.closed.pop(conn_id, None)
        came_online = user_id not in self.users
        self.conns.setdefault(user_id, {})[conn_id] = now + self.ttl
        self.users[user_id] = max(self.users.get(user_id, 0.0), now + self.ttl)
        return came_online

    async def disconnect(self, user_id: str, conn_id: str) -> bool:
        now = self.clock()
        self.closed[conn_id] = now + 2 * self.ttl
        conns = self.conns.get(user_id, {})
        conns.pop(conn_id, None)
        for conn, expiry in list(conns.items()):
            if expiry <= now:
                del conns[conn]
        if conns:
            return False
        self.conns.pop(user_id, None)
        if self.grace == 0:
            return self.users.pop(user_id, None) is not None
        if user_id in self.users:
            self.users[user_id] = now + self.grace
        return False

    async def refresh(self, entries: list[tuple[str, str]]) -> list[str]:
        now = self.clock()
        recreated = []
        for user_id, conn_id in entries:
            if conn_id in self.closed:
                continue
            self.conns.setdefault(user_id, {})[conn_id] = now + self.ttl
            if user_id not in self.users:
                recreated.append(user_id)
            self.users[user_id] = max(self.users.get(user_id, 0.0), now + self.ttl)
        return recreated

    async def sweep(self) -> list[str]:
        now = self.clock()
        for conn_id, until in list(self.closed.items()):
            if until <= now:
                del self.closed[conn_id]
        offline = []
        for user_id, deadline in list(self.users.items()):
            if deadline > now:
                continue
            conns = {c: e for c, e in self.conns.get(user_id, {}).items() if e > now}
            if conns:
                self.conns[user_id] = conns
                self.users[user_id] = max(conns.values())
            else:
                self.conns.pop(user_id, None)
                del self.users[user_id]
                offline.append(user_id)
        return offline

    async def online_user_ids(self) -> list[str]:
        now = self.clock()
        return [u for u, deadline in self.users.items() if deadline > now]

    async def connection_count(self, user_id: str) -> int:
        now = self.clock()
        return sum(1 for e in self.conns.get(user_id, {}).values() if e > now)
