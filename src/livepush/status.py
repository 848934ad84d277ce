"""How a deployment is doing: a channel-layer round trip, the server processes, presence.

:func:`health` is what ``livepush.views.health`` (``GET /livepush/health/``) answers and
``manage.py livepush_status`` prints first: a message sent through the channel layer to a new
channel and received back (a real Redis round trip with channels-redis), and the presence
backend's count of users online when presence is on. :func:`processes` asks every server
process with connections (the fan-outs in ``PROCESSES_GROUP``) for its counts and gathers the
answers that come within a timeout.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from typing import Any

from livepush._fanout import EVENT_HANDLERS, Fanout
from livepush._publish import channel_layer
from livepush._shutdown import connection_count
from livepush._stats import stats
from livepush.conf import livepush_settings
from livepush.protocol import PROCESSES_GROUP

__all__ = ["STATUS_EVENT_TYPE", "channel_layer_round_trip", "health", "process_status", "processes"]

logger = logging.getLogger("livepush.status")

#: The channel-layer event type that asks every process for its :func:`process_status`.
STATUS_EVENT_TYPE = "livepush.status"
_REPLY_EVENT_TYPE = "livepush.status.reply"
#: Tasks sending answers, kept so that none is collected mid-way.
_answers: set[asyncio.Task[None]] = set()


async def channel_layer_round_trip(timeout: float = 2.0) -> float:
    """Send a message to a new channel of the channel layer and receive it; return the seconds.

    Raises:
        TimeoutError: it did not come back within ``timeout`` seconds.
        Exception: the channel layer's error.
    """
    layer = channel_layer()
    start = time.perf_counter()
    channel = await layer.new_channel("livepush.health.")
    await asyncio.wait_for(layer.send(channel, {"type": "livepush.health"}), timeout)
    await asyncio.wait_for(layer.receive(channel), timeout)
    return time.perf_counter() - start


async def health(timeout: float = 2.0, *, errors: bool = False) -> dict[str, Any]:
    """``{"status": "ok" | "failing", "channel_layer": {...}, "presence": {...}}``.

    ``status`` is ``"failing"`` when the channel layer (or presence, when it is on) failed; each
    part says ``ok``. A failure is logged at WARNING on ``livepush.status``, and with ``errors``
    the report says it too (its type and message: a host and port, never a password).
    """
    report: dict[str, Any] = {"status": "ok"}
    try:
        seconds = await channel_layer_round_trip(timeout)
    except Exception as exc:
        report["channel_layer"] = _failed("channel layer", exc, errors)
        report["status"] = "failing"
    else:
        report["channel_layer"] = {"ok": True, "round_trip_ms": round(seconds * 1000, 2)}
    if livepush_settings.PRESENCE:
        from livepush.presence.queries import aonline_user_ids

        try:
            online = await asyncio.wait_for(aonline_user_ids(), timeout)
        except Exception as exc:
            report["presence"] = _failed("presence", exc, errors)
            report["status"] = "failing"
        else:
            report["presence"] = {"ok": True, "online_users": len(online)}
    return report


def process_status(fanout: Fanout | None = None) -> dict[str, Any]:
    """This process's counts: connections open, groups it delivers, and :mod:`livepush._stats`."""
    from livepush._capacity import dropped_count
    from livepush._sender import overflow_count
    from livepush._streams import gaps_lost

    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "connections": connection_count(),
        "groups": 0 if fanout is None else len(fanout.groups),
        "connects": stats.connects,
        "refusals": {str(code): n for code, n in sorted(stats.refusals.items())},
        "pushes": stats.pushes,
        "deliveries": stats.deliveries,
        "heartbeat_timeouts": stats.heartbeat_timeouts,
        "channel_layer_errors": stats.layer_errors,
        "backlog_overflows": overflow_count(),
        "channel_layer_dropped": dropped_count(),
        "stream_gaps_lost": gaps_lost(),
    }


async def processes(timeout: float = 1.0) -> list[dict[str, Any]]:
    """Ask every server process with connections for its :func:`process_status`.

    Returns the answers that came within ``timeout`` seconds, by host and pid. With the
    in-memory channel layer only this process's own fan-out can answer.
    """
    layer = channel_layer()
    reply = await layer.new_channel("livepush.status.")
    await layer.group_send(PROCESSES_GROUP, {"type": STATUS_EVENT_TYPE, "reply": reply})
    answers: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (remaining := deadline - loop.time()) > 0:
        try:
            message = await asyncio.wait_for(layer.receive(reply), remaining)
        except asyncio.TimeoutError:
            break
        if message.get("type") == _REPLY_EVENT_TYPE:
            answers.append(message["status"])
    return sorted(answers, key=lambda a: (str(a.get("host")), int(a.get("pid", 0))))


def _answer(fanout: Fanout, message: dict[str, Any]) -> None:
    reply = message.get("reply")
    if not isinstance(reply, str):
        return
    answer = {"type": _REPLY_EVENT_TYPE, "status": process_status(fanout)}
    task = asyncio.get_running_loop().create_task(fanout.layer.send(reply, answer))
    _answers.add(task)
    task.add_done_callback(_answers.discard)


def _failed(part: str, exc: BaseException, errors: bool) -> dict[str, Any]:
    error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    logger.warning("Health check: the %s failed: %s", part, error)
    return {"ok": False, "error": error} if errors else {"ok": False}


EVENT_HANDLERS[STATUS_EVENT_TYPE] = _answer
