"""The presence signals, sent by the one process that saw a user come online or go offline."""

from __future__ import annotations

from django.dispatch import Signal

__all__ = ["user_offline", "user_online"]

#: Sent (``await user_online.asend(...)``) by the process that saw the user come online, with
#: ``user_id``. Sync and async receivers both work.
user_online = Signal()
#: Sent by the process that saw the user's last connection go, with ``user_id``.
user_offline = Signal()
