"""The presence backend interface: what every backend does, atomically across processes."""

from __future__ import annotations

__all__ = ["SWEEP_BATCH", "PresenceBackend"]

#: Users one Redis sweep handles at most; the tracker sweeps again while a batch comes back full.
SWEEP_BATCH = 1000


class PresenceBackend:
    """What a presence backend does; every method is atomic across processes.

    User ids are the strings :func:`livepush.presence.ids.user_id_key` makes; connection ids are
    the consumers' channel names.
    """

    async def connect(self, user_id: str, conn_id: str) -> bool:
        """Record a connection; return whether the user came online (no connection before)."""
        raise NotImplementedError

    async def disconnect(self, user_id: str, conn_id: str) -> bool:
        """Forget a connection; return whether the user went offline now (grace 0 only)."""
        raise NotImplementedError

    async def connect_many(self, entries: list[tuple[str, str]]) -> list[bool]:
        """:meth:`connect` for each ``(user_id, conn_id)`` in order, one round trip if it can.

        The tracker records connects arriving together with one call. The default calls
        :meth:`connect` for each.
        """
        return [await self.connect(user_id, conn_id) for user_id, conn_id in entries]

    async def disconnect_many(self, entries: list[tuple[str, str]]) -> list[bool]:
        """:meth:`disconnect` for each ``(user_id, conn_id)`` in order, one round trip if it can."""
        return [await self.disconnect(user_id, conn_id) for user_id, conn_id in entries]

    async def refresh(self, entries: list[tuple[str, str]]) -> list[str]:
        """Keep ``(user_id, conn_id)`` entries alive; return users whose entry was re-created."""
        raise NotImplementedError

    async def sweep(self) -> list[str]:
        """Expire stale entries; return the users that went offline (each exactly once).

        A backend may stop at :data:`SWEEP_BATCH` users; the tracker then calls it again.
        """
        raise NotImplementedError

    async def online_user_ids(self) -> list[str]:
        """The users with a live entry (or in their grace period)."""
        raise NotImplementedError

    async def online_among(self, user_ids: list[str]) -> set[str]:
        """Which of ``user_ids`` are online (as :meth:`online_user_ids` counts them)."""
        return set(user_ids) & set(await self.online_user_ids())

    async def is_online(self, user_id: str) -> bool:
        """Whether ``user_id`` has a live entry (or is in their grace period)."""
        return user_id in await self.online_user_ids()

    async def connection_count(self, user_id: str) -> int:
        """The number of live connections ``user_id`` has."""
        raise NotImplementedError
