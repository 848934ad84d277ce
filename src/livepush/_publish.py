"""Publishing a pre-encoded frame to groups: the one send step behind every push.

``livepush.push``'s helpers, ``livepush.live`` and presence all encode their frame once and hand
it here; the channel layer carries it to each process's fan-out (``livepush._fanout``), which
hands it to its local connections' senders. With channels-redis it goes through
``livepush._capacity.group_send``, which logs and counts what channels-redis drops.

Every push also passes the :data:`taps` (``livepush.testing``'s captures), which see it and may
keep it from being sent; with none, as outside tests, that is one ``if``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, Protocol

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from livepush._capacity import group_send
from livepush._stats import stats
from livepush.conf import livepush_settings
from livepush.exceptions import LivePushConfigurationError, PushError
from livepush.history import closing_new_client, get_history, is_recoverable
from livepush.protocol import PROCESSES_GROUP, PUSH_EVENT_TYPE

__all__ = [
    "DeferredPush",
    "Tap",
    "channel_layer",
    "publish",
    "publish_sync",
    "push_event",
    "taps",
]


class Tap(Protocol):
    """An observer of every push, in :data:`taps`."""

    def published(self, groups: Sequence[str], text: str) -> bool:
        """See a push about to be sent; return whether to send it (``False``: only observe)."""

    def deferred(self, push: DeferredPush) -> None:
        """See a sync push that now waits for its transaction's commit."""


#: The active taps, oldest first (``livepush.testing.capture_pushes()`` adds and removes them).
taps: list[Tap] = []


def push_event(group: str, text: str, sent_at: float | None = None) -> dict[str, Any]:
    """The channel-layer message that carries ``text`` to group ``group``'s fan-outs.

    ``"group"`` lets the receiving process's fan-out find its local members; ``"t"``, when
    given, is when it was sent (``time.time()``), for the delivery-latency metric.
    """
    message: dict[str, Any] = {"type": PUSH_EVENT_TYPE, "group": group, "text": text}
    if sent_at is not None:
        message["t"] = sent_at
    return message


def channel_layer() -> Any:
    """The channel layer ``LIVEPUSH["CHANNEL_LAYER"]`` names.

    Raises:
        LivePushConfigurationError: ``CHANNEL_LAYERS`` has no such layer.
    """
    alias = livepush_settings.CHANNEL_LAYER
    layer = get_channel_layer(alias)
    if layer is None:
        raise LivePushConfigurationError(
            f"No channel layer {alias!r}: add it to CHANNEL_LAYERS (for one process, "
            "'channels.layers.InMemoryChannelLayer'; otherwise Redis, see the README)."
        )
    return layer


async def publish(groups: Sequence[str], text: str, *, ephemeral: bool = False) -> None:
    """Send the encoded frame ``text`` to every connection in ``groups``, now.

    With ``LIVEPUSH["RECOVERY"]`` on, the push is first appended to the stream of each
    recoverable group (one history call for all of them, ``livepush.history``), and the message
    carries its position in each, unless ``ephemeral``. What channels-redis drops on the way (a
    server process over its channel's capacity) is logged at WARNING and counted
    (``livepush._capacity``); it does not raise.

    Raises:
        PushError: the channel layer (or the history) failed; the original exception is its
            ``__cause__``.
    """
    if taps and not _tapped(groups, text):
        return
    layer = channel_layer()
    stats.pushes += 1
    try:
        positions = None
        if livepush_settings.RECOVERY and not ephemeral:
            streams = [group for group in groups if is_recoverable(group)]
            if streams:
                appended = await get_history().append(streams, text)
                positions = dict(zip(streams, appended, strict=True))
        if len(groups) == 1:
            # Only the processes with a connection in the group receive it.
            message = push_event(groups[0], text, time.time())
            if positions:
                message["pos"] = list(positions[groups[0]])
            await group_send(layer, groups[0], message)
        elif groups:
            # One message to every process, whatever the number of groups: Redis work grows
            # with processes, not users (a push to 10,000 users is one call, not 10,000).
            message = {"type": PUSH_EVENT_TYPE, "groups": list(groups), "text": text}
            message["t"] = time.time()
            if positions:
                message["pos"] = [
                    list(positions[g]) if g in positions else None for g in message["groups"]
                ]
            await group_send(layer, PROCESSES_GROUP, message)
    except Exception as exc:
        stats.layer_errors += 1
        raise PushError(
            f"Could not push to {len(groups)} group(s) through channel layer "
            f"{livepush_settings.CHANNEL_LAYER!r}: {type(exc).__name__}: {exc}"
        ) from exc


def _tapped(groups: Sequence[str], text: str) -> bool:
    send = True
    for tap in list(taps):
        # Every tap sees the push, whatever the ones before it said.
        send = tap.published(groups, text) and send
    return send


def _send(groups: Sequence[str], text: str, *, ephemeral: bool) -> None:
    async def publish_closing() -> None:
        async with closing_new_client():
            await publish(groups, text, ephemeral=ephemeral)

    async_to_sync(publish_closing)()


class DeferredPush:
    """A sync push waiting for its transaction's commit; :meth:`send` is its ``on_commit`` callback.

    Attributes:
        groups, text, ephemeral: as for :func:`publish`.
        connection: the database connection whose commit it waits for.
        sent: whether :meth:`send` ran.
    """

    __slots__ = ("connection", "ephemeral", "groups", "sent", "text")

    def __init__(
        self, groups: Sequence[str], text: str, *, ephemeral: bool, connection: Any
    ) -> None:
        self.groups = groups
        self.text = text
        self.ephemeral = ephemeral
        self.connection = connection
        self.sent = False

    def send(self) -> None:
        """Send the push now, once: a later call does nothing.

        ``livepush.testing`` sends it early inside a test case's transaction, which never
        commits. (A bound method: Django's robust ``on_commit`` logs the callback's
        ``__qualname__`` when it fails.)
        """
        if not self.sent:
            self.sent = True
            _send(self.groups, self.text, ephemeral=self.ephemeral)


def publish_sync(
    groups: Sequence[str],
    text: str,
    *,
    on_commit: bool,
    using: str | None = None,
    ephemeral: bool = False,
) -> None:
    """:func:`publish` from sync code; inside ``transaction.atomic()`` it may wait for the commit.

    Args:
        on_commit: inside an atomic block of ``using``, send after the commit (a failed push is
            then logged, not raised, since the data is committed by then) instead of at once.
        using: the database alias whose transaction to wait for.
        ephemeral: as for :func:`publish`.

    Raises:
        RuntimeError: called inside a running event loop (use :func:`publish`).
        PushError: the channel layer failed, when sending at once.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(
            "The sync push helpers cannot run inside an event loop; in async code await the "
            "a-prefixed twin (asend_ws_message_to_user, abroadcast_ws_message, ...)."
        )

    if on_commit and (connection := transaction.get_connection(using)).in_atomic_block:
        push = DeferredPush(groups, text, ephemeral=ephemeral, connection=connection)
        transaction.on_commit(push.send, using=using, robust=True)
        if taps:
            for tap in list(taps):
                tap.deferred(push)
    else:
        _send(groups, text, ephemeral=ephemeral)
