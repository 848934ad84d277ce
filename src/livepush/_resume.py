"""Resume on connect (recovery): replay what a reconnecting client missed, then go live, once each.

A client that reconnects presents its last position in each stream in the handshake, as the
query parameter ``resume`` (:data:`livepush.protocol.RESUME_QUERY_PARAM`): URL-encoded JSON,
``{"user_5": [17, "3f2a9c0d1e4b"], "broadcast": [230, "..."]}``. The connect, after joining its
groups with its sender held (so live pushes wait):

1. reads each of its recoverable streams from the history: the position now, and the pushes after
   the one presented (one history call for all);
2. tells the fan-out where each stream was read (at once, before any await), then
3. sends the missed pushes, in order, each with its ``"pos"``, and sets the sender's floors to
   the positions read, so a held or later live push the replay already covered is dropped (the
   seam has no duplicate and, since the read came after the join, no gap); the fan-out's order
   of each stream starts there unless it started already;
4. sends ``RECOVERY``: each stream's position, and in ``resync`` those whose gap the history no
   longer covers and, on a reconnect, the connection's groups that are not streams (custom
   groups outside ``HISTORY_GROUPS``: nothing of theirs was kept); the client refetches what
   they carry;

then the consumer releases the sender. A client that presents nothing gets the ``RECOVERY``
frame with the positions to present next time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

from livepush._coalesce import Batched
from livepush._fanout import get_fanout
from livepush._publish import channel_layer
from livepush._sender import Sender
from livepush.history import Position, StreamState, get_history, is_recoverable
from livepush.protocol import (
    RESUME_QUERY_PARAM,
    ErrorCode,
    encode_recovery,
    error_frame,
    with_position,
)

__all__ = ["presented_positions", "resume"]

_batches: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, Batched[Mapping[str, Position | None], dict[str, StreamState]]
] = weakref.WeakKeyDictionary()


def _reads() -> Batched[Mapping[str, Position | None], dict[str, StreamState]]:
    """The running loop's history reads: the connects resuming together read in one call."""
    loop = asyncio.get_running_loop()
    batched = _batches.get(loop)
    if batched is None:
        batched = _batches[loop] = Batched(
            lambda reads: get_history().read_many(reads), size=READ_BATCH
        )
    return batched


logger = logging.getLogger("livepush.consumers")

#: Streams one ``resume`` parameter may name at most.
MAX_STREAMS = 100
#: Connects whose history one call reads at most.
READ_BATCH = 100


def presented_positions(scope: Mapping[str, Any]) -> tuple[dict[str, Position] | None, str]:
    """The positions the client presented in its handshake (``{}``: none).

    Returns ``None`` and a sentence for an ``invalid_resume`` error when they are not positions.
    """
    query = scope.get("query_string", b"")
    if isinstance(query, bytes):
        query = query.decode("latin-1")
    values = parse_qs(query).get(RESUME_QUERY_PARAM)
    if not values:
        return {}, ""
    try:
        raw = json.loads(values[-1])
    except ValueError:
        return None, f"The {RESUME_QUERY_PARAM!r} parameter is not JSON."
    shape = (
        f"The {RESUME_QUERY_PARAM!r} parameter must be a JSON object of at most {MAX_STREAMS} "
        'streams, each [offset, "epoch"] as the "pos" of its last push.'
    )
    if not isinstance(raw, dict) or len(raw) > MAX_STREAMS:
        return None, shape
    positions = {}
    for stream, value in raw.items():
        if not (
            isinstance(value, list)
            and len(value) == 2
            and type(value[0]) is int
            and value[0] >= 0
            and isinstance(value[1], str)
        ):
            return None, shape
        positions[stream] = Position(value[0], value[1])
    return positions, ""


async def resume(
    scope: Mapping[str, Any],
    groups: list[str],
    send: Callable[[str], Awaitable[None]],
    sender: Sender,
) -> None:
    """Replay, set the floors, send ``RECOVERY`` (steps 1 to 4 above); ``sender`` is held.

    ``groups`` are the connection's, joined through the running loop's fan-out of the
    ``CHANNEL_LAYER``. Positions that are not positions get an ``invalid_resume`` error, and
    every stream of the connection is then in ``resync``.
    """
    presented, problem = presented_positions(scope)
    streams = [group for group in groups if is_recoverable(group)]
    # A reconnect (it presented positions): what its groups that are not streams carried
    # meanwhile was not kept, so they are in resync too (the client refetches what they carry).
    unkept = [group for group in groups if not is_recoverable(group)] if presented != {} else []
    if presented is None:
        await send(error_frame(ErrorCode.INVALID_RESUME, problem))
        wanted: dict[str, Position | None] = {s: Position(-1, "") for s in streams}
    else:
        wanted = {stream: presented.get(stream) for stream in streams}
    try:
        states = await _reads()(wanted)
    except Exception as exc:
        # Delivery works without the history; the client refetches what it may have missed.
        logger.warning("Could not read the history of a connection's streams: %r", exc)
        await send(encode_recovery({}, [s for s in streams if wanted[s] is not None] + unkept))
        return
    # At once, before any await: baselines then come in read order (see Stream.baseline).
    fanout = get_fanout(channel_layer())
    for stream, state in states.items():
        fanout.baseline(stream, state.top.offset, state.top.epoch)
    sender.set_floors({s: (state.top.epoch, state.top.offset) for s, state in states.items()})
    resync = []  # the streams first, then the groups that are not
    for stream, state in states.items():
        if state.missed is None:
            resync.append(stream)
            continue
        for offset, text in state.missed:
            await send(with_position(text, stream, offset, state.top.epoch))
    resync += unkept
    await send(
        encode_recovery(
            {s: (state.top.offset, state.top.epoch) for s, state in states.items()}, resync
        )
    )
