"""Push helpers: send a message to one user, to many users, or to everyone.

The sync helpers work from views, signals, management commands and Celery tasks; inside
``transaction.atomic()`` they wait for the commit by default, so a rolled-back change notifies no
one. The async twins (``a``-prefixed) are for async views and consumers and send at once.

Every helper encodes the frame once, at the call (so a bad payload fails there), and the
consumers forward that text unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from livepush._publish import publish, publish_sync
from livepush.conf import livepush_settings
from livepush.exceptions import PayloadError
from livepush.protocol import SERVER_ONLY_TYPES
from livepush.registry import TypeRef, get_registry

__all__ = [
    "abroadcast_ws_message",
    "asend_ws_message_to_all",
    "asend_ws_message_to_group",
    "asend_ws_message_to_user",
    "audience_groups",
    "broadcast_ws_message",
    "encode_message",
    "encode_push",
    "send_ws_message_to_all",
    "send_ws_message_to_group",
    "send_ws_message_to_user",
]


def encode_message(event_type: TypeRef, data: Any) -> str:
    """Return the JSON text frame ``{"type": ..., "data": ...}`` for a push.

    Raises:
        UnknownMessageType: ``event_type`` is not registered (the error names close matches).
        PayloadError: ``data`` does not match the type's schema or is not JSON-serialisable.
    """
    return encode_push(event_type, data)[0]


def encode_push(event_type: TypeRef, data: Any) -> tuple[str, bool]:
    """:func:`encode_message`, and whether the type is ephemeral (``EPHEMERAL_TYPES``): what
    :func:`livepush._publish.publish` needs to know whether the push is kept for recovery."""
    registry = get_registry()
    registered = registry.resolve(event_type)
    if registered.name in SERVER_ONLY_TYPES:
        raise PayloadError(
            f"{registered.name!r} is a protocol frame the server sends itself; push an "
            "application message type instead."
        )
    if livepush_settings.VALIDATE_PAYLOADS:
        registry.validate_payload(registered, data)
    encoder = livepush_settings.import_setting("JSON_ENCODER")
    try:
        text = json.dumps(
            {"type": registered.name, "data": data}, cls=encoder, separators=(",", ":")
        )
    except (TypeError, ValueError) as exc:
        raise PayloadError(
            f"Payload for message type {registered.name!r} is not JSON-serialisable: {exc}. "
            "Send plain dicts, lists, strings and numbers (datetimes, UUIDs and Decimals are "
            "encoded by LIVEPUSH['JSON_ENCODER'])."
        ) from exc
    return text, registered.name in livepush_settings.EPHEMERAL_TYPES


def _user_groups(user_ids: Iterable[Any]) -> list[str]:
    if isinstance(user_ids, (str, bytes)):
        raise TypeError(f"user_ids must be an iterable of user ids, not {user_ids!r}")
    # De-duplicated by group name, so 1 and "1" are one user.
    return list(dict.fromkeys(livepush_settings.user_group(uid) for uid in user_ids))


def audience_groups(targets: Iterable[Any]) -> list[str]:
    """Turn an audience into group names: ``str`` items are group names, others user ids."""
    if isinstance(targets, (str, bytes)):
        raise TypeError(f"an audience must be an iterable of user ids and groups, not {targets!r}")
    groups = (t if isinstance(t, str) else livepush_settings.user_group(t) for t in targets)
    return list(dict.fromkeys(groups))


# Sync helpers -------------------------------------------------------------------------------


def send_ws_message_to_user(
    user_id: Any,
    event_type: TypeRef,
    data: Any,
    *,
    on_commit: bool = True,
    using: str | None = None,
) -> None:
    """Push a message to every connection of one user (group ``user_{id}``).

    Args:
        user_id: the user's primary key.
        event_type: a registered message type (enum member or name).
        data: the JSON-serialisable payload.
        on_commit: inside ``transaction.atomic()``, wait for the commit (the default) or, with
            ``False``, send at once.
        using: the database alias whose transaction to wait for.

    Raises:
        UnknownMessageType, PayloadError: at the call, for a bad type or payload.
        PushError: the channel layer failed (when sending at once).
    """
    text, ephemeral = encode_push(event_type, data)
    groups = [livepush_settings.user_group(user_id)]
    publish_sync(groups, text, on_commit=on_commit, using=using, ephemeral=ephemeral)


def broadcast_ws_message(
    user_ids: Iterable[Any],
    event_type: TypeRef,
    data: Any,
    *,
    on_commit: bool = True,
    using: str | None = None,
) -> None:
    """Push a message to every connection of each of ``user_ids`` (sent concurrently).

    Duplicate ids are sent once. Arguments and errors as :func:`send_ws_message_to_user`.
    """
    text, ephemeral = encode_push(event_type, data)
    groups = _user_groups(user_ids)
    if groups:
        publish_sync(groups, text, on_commit=on_commit, using=using, ephemeral=ephemeral)


def send_ws_message_to_all(
    event_type: TypeRef, data: Any, *, on_commit: bool = True, using: str | None = None
) -> None:
    """Push a message to every connection (group ``broadcast``).

    Arguments and errors as :func:`send_ws_message_to_user`.
    """
    text, ephemeral = encode_push(event_type, data)
    groups = [livepush_settings.broadcast_group]
    publish_sync(groups, text, on_commit=on_commit, using=using, ephemeral=ephemeral)


def send_ws_message_to_group(
    group: str, event_type: TypeRef, data: Any, *, on_commit: bool = True, using: str | None = None
) -> None:
    """Push a message to a group a consumer joined in ``get_groups()``.

    Arguments and errors as :func:`send_ws_message_to_user`.
    """
    text, ephemeral = encode_push(event_type, data)
    publish_sync([group], text, on_commit=on_commit, using=using, ephemeral=ephemeral)


# Async twins --------------------------------------------------------------------------------


async def asend_ws_message_to_user(user_id: Any, event_type: TypeRef, data: Any) -> None:
    """Async :func:`send_ws_message_to_user`; sends at once."""
    text, ephemeral = encode_push(event_type, data)
    await publish([livepush_settings.user_group(user_id)], text, ephemeral=ephemeral)


async def abroadcast_ws_message(user_ids: Iterable[Any], event_type: TypeRef, data: Any) -> None:
    """Async :func:`broadcast_ws_message`; sends at once, concurrently."""
    text, ephemeral = encode_push(event_type, data)
    groups = _user_groups(user_ids)
    if groups:
        await publish(groups, text, ephemeral=ephemeral)


async def asend_ws_message_to_all(event_type: TypeRef, data: Any) -> None:
    """Async :func:`send_ws_message_to_all`; sends at once."""
    text, ephemeral = encode_push(event_type, data)
    await publish([livepush_settings.broadcast_group], text, ephemeral=ephemeral)


async def asend_ws_message_to_group(group: str, event_type: TypeRef, data: Any) -> None:
    """Async :func:`send_ws_message_to_group`; sends at once."""
    text, ephemeral = encode_push(event_type, data)
    await publish([group], text, ephemeral=ephemeral)
