"""Presence announcements: transitions gathered per window into one ``PRESENCE_DIFF`` per group.

Every transition the tracker sees (a connect, a disconnect, a refresh that repairs lost entries, a
sweep) goes through :meth:`Announcer.announce`, which sends the ``user_online``/``user_offline``
signal at once and queues the push. ``PRESENCE_WINDOW`` seconds after the first queued transition
the queue is flushed: the users are grouped by audience group and each group gets one frame,
``{"type": "PRESENCE_DIFF", "data": {"joins": [...], "leaves": [...]}}``, encoded once and
published through :func:`livepush._publish.publish`. Groups whose frames are the same share one
publish. A storm of N connects is then about one frame per window per group, not N per client.

A frame carries each user's state when it is sent, read from the backend in one query per flush
(the last state seen here if that fails): online, then offline, is a leave; a user who came back
before the flush is a join, though observers that saw them online see no change. A redundant
entry is harmless to a client that keeps a set (the browser client's handlers run per user, as
for repeated events before). Netting the two out instead would leave a connection whose snapshot
was read between them wrong for good. And reading the state at flush time keeps two processes'
windows from reordering a user's changes: one user's connect may be seen here and their leave by
another process's sweep, and whichever window is flushed last says what is true then.

Flushes run one at a time, in order, so two windows' frames never overtake each other. With
``PRESENCE_WINDOW`` 0 each transition is flushed at once, one frame each (transitions that come
while a flush is publishing are gathered into the next).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from livepush._publish import publish
from livepush.conf import livepush_settings
from livepush.presence.backends import get_backend
from livepush.presence.ids import user_id_from_key
from livepush.presence.signals import user_offline, user_online
from livepush.protocol import encode_presence_diff
from livepush.push import audience_groups

__all__ = ["Announcer"]

logger = logging.getLogger("livepush.presence")


class _Pending:
    """One user's queued transition: the last state, and every group that should hear of it."""

    __slots__ = ("groups", "online", "value")

    def __init__(self, value: Any, online: bool, groups: list[str]) -> None:
        self.value = value
        self.online = online
        self.groups = dict.fromkeys(groups)


class Announcer:
    """Queues one event loop's presence transitions and publishes them per window."""

    def __init__(self, sender: Any = None) -> None:
        #: The ``sender`` of the signals (the tracker's class).
        self.sender = sender
        self._pending: dict[str, _Pending] = {}  # user id as stored -> last state in the window
        self._timer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one flush at a time, in order
        self.frames_sent = 0  # published frames (a frame to several groups counts once)

    @property
    def pending(self) -> int:
        """How many users' transitions wait for the next flush."""
        return len(self._pending)

    async def announce(self, online: bool, user_id: str, user: Any) -> None:
        """Queue ``user_id``'s transition (``user`` if at hand), send its signal; never raises."""
        try:
            value = user_id_from_key(user_id)
        except Exception:
            logger.exception("Presence entry %r is not a user id; its change is not sent", user_id)
            return
        try:
            groups = await _audience_groups(user_id, user)
        except Exception:
            logger.exception("Could not find the presence audience of user %s", user_id)
            groups = []
        if groups:
            self._queue(user_id, value, online, groups)
            if float(livepush_settings.PRESENCE_WINDOW) <= 0:
                await self.flush()
        signal, name = (user_online, "user_online") if online else (user_offline, "user_offline")
        try:
            await signal.asend(sender=self.sender, user_id=value)
        except Exception:
            logger.exception("A %s receiver failed", name)

    def _queue(self, user_id: str, value: Any, online: bool, groups: list[str]) -> None:
        pending = self._pending.get(user_id)
        if pending is None:
            self._pending[user_id] = _Pending(value, online, groups)
        else:
            # The last state wins; everyone told of the earlier one hears of the last.
            pending.online = online
            pending.groups.update(dict.fromkeys(groups))
        window = float(livepush_settings.PRESENCE_WINDOW)
        if window > 0 and self._timer is None:
            self._timer = asyncio.get_running_loop().create_task(
                self._flush_after(window), name="livepush-presence-flush"
            )

    def discard(self) -> None:
        """Drop the queued transitions unsent and cancel the window's timer (tests)."""
        self._pending = {}
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    async def _flush_after(self, window: float) -> None:
        try:
            await asyncio.sleep(window)
        finally:
            # Transitions queued from here on start the next window.
            self._timer = None
        await self.flush()

    async def flush(self) -> None:
        """Publish what is queued now, one frame per audience group; never raises."""
        async with self._lock:
            pending, self._pending = self._pending, {}
            if not pending:
                return
            await _to_current_state(pending)
            for text, groups in _frames(pending.values()).items():
                try:
                    await publish(groups, text, ephemeral=True)
                except Exception:
                    logger.exception("Could not push PRESENCE_DIFF to %d group(s)", len(groups))
                else:
                    self.frames_sent += 1


async def _to_current_state(pending: dict[str, _Pending]) -> None:
    """Set each user's state to the backend's now, when it can be read.

    Transitions of one user can be seen by several processes (a connect here, the sweep there),
    whose windows close at different times; a frame saying what is true when it is sent keeps a
    later frame from being overtaken by an older state.
    """
    try:
        online = await get_backend().online_among(list(pending))
    except Exception as exc:
        logger.warning("Presence state could not be read at flush; sending as seen: %r", exc)
        return
    for user_id, entry in pending.items():
        entry.online = user_id in online


def _frames(pending: Any) -> dict[str, list[str]]:
    """The encoded frame of each audience group, and the groups sharing each frame."""
    by_group: dict[str, tuple[list[Any], list[Any]]] = {}
    for entry in pending:
        for group in entry.groups:
            joins, leaves = by_group.setdefault(group, ([], []))
            (joins if entry.online else leaves).append(entry.value)
    encoder = livepush_settings.import_setting("JSON_ENCODER")
    frames: dict[str, list[str]] = {}
    for group, (joins, leaves) in by_group.items():
        text = encode_presence_diff(joins, leaves, cls=encoder)
        frames.setdefault(text, []).append(group)
    return frames


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
