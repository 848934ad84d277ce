"""User presence: online when a user has a connection anywhere, offline when the last one closes.

Presence is tracked per connection and counted per user across every server process. A user
joins when they go from no connection anywhere to one, and leaves when their last connection
anywhere is gone, after a short grace period that absorbs page reloads. Each process gathers the
joins and leaves it sees for ``PRESENCE_WINDOW`` seconds and pushes them as one ``PRESENCE_DIFF``
frame per audience group, ``{"joins": [...], "leaves": [...]}``; the browser client calls the
``USER_PRESENCE_CONNECTED`` / ``USER_PRESENCE_DISCONNECTED`` handlers once per user of it.

Crash safety without cron: each server process refreshes the entries of the connections it holds
every ``PRESENCE_TTL / 3`` seconds (the heartbeat closes connections whose client is gone), and
an entry not refreshed for ``PRESENCE_TTL`` seconds expires. Every process sweeps expired users
every ``PRESENCE_SWEEP_INTERVAL`` seconds, so when a server is killed, a surviving one pushes the
leave within ``PRESENCE_TTL + PRESENCE_SWEEP_INTERVAL`` seconds (47 s by default).

The package:

- ``backends``: :class:`PresenceBackend` (``backends.base``), :class:`RedisPresence` (atomic Lua
  scripts, Redis server time; ``backends.redis``), :class:`MemoryPresence` (one process;
  ``backends.memory``) and :func:`get_backend`, which picks one.
- ``tracker``: :class:`Tracker`, one per event loop (:func:`get_tracker`): records this process's
  connections, refreshes and sweeps, and hands each transition to its announcer.
- ``announcer``: ``Announcer``, one per tracker: sends the signals and pushes each window's
  transitions as ``PRESENCE_DIFF`` frames, one per audience group.
- ``queries``: :func:`is_online`, :func:`online_user_ids`, :func:`connection_count` and their
  async twins.
- ``signals``: :data:`user_online`, :data:`user_offline`.
- ``ids``: user ids as backends store them, converted back with the user model's primary-key
  field.

See ``docs/topics/presence.md``.
"""

from __future__ import annotations

from livepush.presence.backends import get_backend
from livepush.presence.backends.base import PresenceBackend
from livepush.presence.backends.memory import MemoryPresence
from livepush.presence.backends.redis import RedisPresence
from livepush.presence.queries import (
    aconnection_count,
    ais_online,
    aonline_user_ids,
    connection_count,
    is_online,
    online_user_ids,
)
from livepush.presence.signals import user_offline, user_online
from livepush.presence.tracker import Tracker, get_tracker

__all__ = [
    "MemoryPresence",
    "PresenceBackend",
    "RedisPresence",
    "Tracker",
    "aconnection_count",
    "ais_online",
    "aonline_user_ids",
    "connection_count",
    "get_backend",
    "get_tracker",
    "is_online",
    "online_user_ids",
    "user_offline",
    "user_online",
]
