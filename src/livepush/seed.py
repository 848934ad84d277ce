"""The seed system's application message types, as an enum a project opts into.

django-livepush grew out of one application (photos, albums, a shared bucket list, chat); its
message types are kept here for projects that migrate from it, and for the example project. The
library itself reserves only its protocol types (:class:`livepush.protocol.ProtocolType`), so a
project that does not opt in may define any of these names itself. To use them, register the enum::

    LIVEPUSH = {"MESSAGE_TYPES": ["livepush.seed.WebSocketMessageType"]}

The presence events (``USER_PRESENCE_CONNECTED``, ``USER_PRESENCE_DISCONNECTED``) are protocol
types: use :class:`~livepush.protocol.ProtocolType` for them.
"""

from __future__ import annotations

import enum

__all__ = ["WebSocketMessageType"]


class WebSocketMessageType(str, enum.Enum):
    """The seed protocol's 13 application message types (opt-in: see the module docstring)."""

    MESSAGE_CREATED = "MESSAGE_CREATED"
    MESSAGE_DELETED = "MESSAGE_DELETED"
    MESSAGE_VIEWED = "MESSAGE_VIEWED"
    BUCKETPOINT_CREATED = "BUCKETPOINT_CREATED"
    BUCKETPOINT_UPDATED = "BUCKETPOINT_UPDATED"
    BUCKETPOINT_DELETED = "BUCKETPOINT_DELETED"
    PHOTO_UPLOADED = "PHOTO_UPLOADED"
    PHOTO_UPDATED = "PHOTO_UPDATED"
    PHOTO_DELETED = "PHOTO_DELETED"
    ALBUM_CREATED = "ALBUM_CREATED"
    ALBUM_UPDATED = "ALBUM_UPDATED"
    ALBUM_DELETED = "ALBUM_DELETED"
    SYSTEM_NOTIFICATION = "SYSTEM_NOTIFICATION"

    def __str__(self) -> str:
        return str(self.value)
