"""The per-process tracker: records this process's connections, keeps them alive, announces.

One :class:`Tracker` per event loop (:func:`get_tracker`). It refreshes the entries of the
connections it holds every ``PRESENCE_TTL / 3`` seconds and sweeps expired users every
``PRESENCE_SWEEP_INTERVAL`` seconds; each transition it sees is pushed to the presence audience
and sent as a signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import Any

from livepush._loops import Loops
from livepush._publish import publish
from livepush.conf import livepush_settings
from livepush.presence.backends import SWEEP_BATCH, get_backend
from livepush.presence.ids import user_id_from_key, user_id_key
from livepush.presence.signals import user_offline, user_online
from livepush.protocol import ProtocolType
from livepush.push import audience_groups, encode_message

__all__ = ["Tracker", "get_tracker"]

logger = logging.getLogger("livepush.presence")

CONNECTED = ProtocolType.USER_PRESENCE_CONNECTED
DISCONNECTED = ProtocolType.USER_PRESENCE_DISCONNECTED


class Tracker:
    """Refreshes this process's connections and sweeps expired users, in one event loop."""

    def __init__(self) -> None:
        self.connections: dict[str, str] = {}  # conn_id -> user id as stored
        self._loops = Loops()

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

    async def connect(self, user: Any, conn_id: str) -> None:
        """Record ``user``'s connection ``conn_id``; announce the user if they came online.

        Raises:
            Exception: whatever the backend raised; the connection is then not recorded.
        """
        user_id = user_id_key(user.pk)
        self._ensure_running()
        came_online = await get_backend().connect(user_id, conn_id)
        # Only a recorded connection is refreshed: one whose connect failed must not come back.
        self.connections[conn_id] = user_id
        if came_online:
            await _announce(CONNECTED, user_id, user)

    async def disconnect(self, user: Any, conn_id: str) -> None:
        """Forget connection ``conn_id``; announce the user if they went offline now."""
        user_id = self.connections.pop(conn_id, None)
        if user_id is None:
            return
        if await get_backend().disconnect(user_id, conn_id):
            await _announce(DISCONNECTED, user_id, user)

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
                await _announce(CONNECTED, user_id, None)

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(float(livepush_settings.PRESENCE_SWEEP_INTERVAL))
            try:
                offline = await self.sweep_all()
            except Exception as exc:
                logger.warning("Presence sweep failed: %r", exc)
                continue
            await asyncio.gather(*(_announce(DISCONNECTED, user_id, None) for user_id in offline))

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


# Announcements ----------------------------------------------------------------------------------


async def _announce(event: ProtocolType, user_id: str, user: Any) -> None:
    """Push a presence event to its audience and send the matching signal; never raises."""
    try:
        value = user_id_from_key(user_id)
    except Exception:
        logger.exception("Presence entry %r is not a user id; %s not sent", user_id, event)
        return
    try:
        groups = await _audience_groups(user_id, user)
        if groups:
            await publish(groups, encode_message(event, {"user_id": value}))
    except Exception:
        logger.exception("Could not push %s for user %s", event, user_id)
    signal, name = (
        (user_online, "user_online") if event is CONNECTED else (user_offline, "user_offline")
    )
    try:
        await signal.asend(sender=Tracker, user_id=value)
    except Exception:
        logger.exception("A %s receiver failed", name)


async def _audience_groups(user_id: str, user: Any) -> list[str]:
    audience = livepush_settings.PRESENCE_AUDIENCE
    if audience is None:
        return [livepush_settings.broadcast_group]
    func = livepush_settings.import_setting("PRESENCE_AUDIENCE")
    if user is None:
        user = await _load_user(user_id)
        if user is None:
            return [livepush_settings.broadcast_group]
    if asyncio.iscoroutinefunction(func):
        result = await func(user)
    else:
        # A sync audience may use the ORM (friends, album members): run it in a thread.
        from channels.db import database_sync_to_async

        result = await database_sync_to_async(func)(user)
    return audience_groups(result)


async def _load_user(user_id: str) -> Any:
    from channels.db import database_sync_to_async
    from django.contrib.auth import get_user_model

    def load() -> Any:
        model = get_user_model()
        return model._default_manager.filter(pk=user_id).first()

    with contextlib.suppress(Exception):
        return await database_sync_to_async(load)()
    return None
