"""The per-process tracker: records this process's connections, keeps them alive, announces.

One :class:`Tracker` per event loop (:func:`get_tracker`). It refreshes the entries of the
connections it holds every ``PRESENCE_TTL / 3`` seconds and sweeps expired users every
``PRESENCE_SWEEP_INTERVAL`` seconds; each transition it sees goes to its
:class:`~livepush.presence.announcer.Announcer`, which sends the signal at once and pushes the
transitions of each ``PRESENCE_WINDOW`` as one ``PRESENCE_DIFF`` frame per audience group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import Any

from livepush._coalesce import Batched
from livepush._loops import Loops
from livepush.conf import livepush_settings
from livepush.presence.announcer import Announcer
from livepush.presence.backends import SWEEP_BATCH, get_backend
from livepush.presence.ids import user_id_key

__all__ = ["Tracker", "get_tracker", "reset"]

logger = logging.getLogger("livepush.presence")

#: Connects (or disconnects) one backend call records at most.
BATCH = 500


class Tracker:
    """Refreshes this process's connections and sweeps expired users, in one event loop."""

    def __init__(self) -> None:
        self.connections: dict[str, str] = {}  # conn_id -> user id as stored
        #: Sends the signals and pushes the ``PRESENCE_DIFF`` frames.
        self.announcer = Announcer(sender=Tracker)
        self._loops = Loops()
        # Connects and disconnects arriving together are one backend call (one script in Redis).
        self._connects: Batched[tuple[str, str], bool] = Batched(
            lambda entries: get_backend().connect_many(entries), size=BATCH
        )
        self._disconnects: Batched[tuple[str, str], bool] = Batched(
            lambda entries: get_backend().disconnect_many(entries), size=BATCH
        )

    def _ensure_running(self) -> None:
        self._loops.start(
            {
                "livepush-presence-refresh": self._refresh_loop,
                "livepush-presence-sweep": self._sweep_loop,
            }
        )

    def stop(self) -> None:
        """Cancel the refresh and sweep loops (they start again with the next connection)."""
        self._loops.stop()

    async def flush(self) -> None:
        """Push the transitions queued for the current window now."""
        await self.announcer.flush()

    async def connect(self, user: Any, conn_id: str) -> None:
        """Record ``user``'s connection ``conn_id``; announce the user if they came online.

        Raises:
            Exception: whatever the backend raised; the connection is then not recorded.
        """
        user_id = user_id_key(user.pk)
        self._ensure_running()
        came_online = await self._connects((user_id, conn_id))
        # Only a recorded connection is refreshed: one whose connect failed must not come back.
        self.connections[conn_id] = user_id
        if came_online:
            await self.announcer.announce(True, user_id, user)

    async def disconnect(self, user: Any, conn_id: str) -> None:
        """Forget connection ``conn_id``; announce the user if they went offline now."""
        user_id = self.connections.pop(conn_id, None)
        if user_id is None:
            return
        if await self._disconnects((user_id, conn_id)):
            await self.announcer.announce(False, user_id, user)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(float(livepush_settings.PRESENCE_TTL) / 3)
            entries = [(u, c) for c, u in self.connections.items()]
            if not entries:
                continue
            try:
                recreated = await get_backend().refresh(entries)
            except Exception as exc:
                logger.warning("Presence refresh failed: %r", exc)
                continue
            if recreated:
                # Entries this process holds were gone: Redis restarted or was flushed. The
                # refresh wrote them back; say those users are online again. (The fan-out
                # notices its lost channel-layer groups on its own.)
                logger.warning("Presence entries were lost (Redis restart or flush); restoring")
            for user_id in dict.fromkeys(recreated):
                await self.announcer.announce(True, user_id, None)

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(float(livepush_settings.PRESENCE_SWEEP_INTERVAL))
            try:
                offline = await self.sweep_all()
            except Exception as exc:
                logger.warning("Presence sweep failed: %r", exc)
                continue
            await asyncio.gather(
                *(self.announcer.announce(False, user_id, None) for user_id in offline)
            )

    async def sweep_all(self) -> list[str]:
        """Sweep until nothing is due (a sweep handles at most ``SWEEP_BATCH`` users)."""
        backend = get_backend()
        offline: list[str] = []
        while True:
            batch = await backend.sweep()
            offline += batch
            if len(batch) < SWEEP_BATCH:
                return offline


_trackers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Tracker] = (
    weakref.WeakKeyDictionary()
)


def get_tracker() -> Tracker:
    """The tracker of the running event loop, made on first use."""
    loop = asyncio.get_running_loop()
    tracker = _trackers.get(loop)
    if tracker is None:
        tracker = _trackers[loop] = Tracker()
    return tracker


def reset() -> None:
    """Forget every event loop's tracker, its connections and its queued transitions (tests).

    Its refresh and sweep loops are cancelled, so a connection a test left open is not written
    back into presence by a later refresh.
    """
    trackers = list(_trackers.values())
    _trackers.clear()
    for tracker in trackers:
        tracker.connections.clear()
        # A closed event loop's tasks cannot be cancelled, and never run again anyway.
        with contextlib.suppress(RuntimeError):
            tracker.stop()
        with contextlib.suppress(RuntimeError):
            tracker.announcer.discard()
