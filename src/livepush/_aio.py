"""Sending without a task per message: start a send inline, finish it in a task only if it waits.

ASGI servers complete a ``websocket.send`` without suspending unless the client is not reading
(uvicorn then waits for the transport to drain). Starting each push as a task would cost a task
per delivery; awaiting it in the fan-out would let one slow client hold up the whole process.
:func:`start` runs the coroutine's first step inline and reports whether it finished;
:func:`finish` continues a suspended one in the calling task with the usual asyncio protocol.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

__all__ = ["finish", "start"]

_DONE = object()


def start(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` up to its first suspension.

    Returns ``_DONE`` when it completed (its exception, if any, is raised), otherwise what it
    yielded, to pass to :func:`finish`.
    """
    try:
        return coro.send(None)
    except StopIteration:
        return _DONE


def finished(step: Any) -> bool:
    return step is _DONE


async def finish(coro: Coroutine[Any, Any, Any], yielded: Any) -> None:
    """Drive a coroutine that :func:`start` left suspended on ``yielded`` to completion."""
    try:
        while True:
            try:
                if yielded is None:  # a bare yield, as in asyncio.sleep(0)
                    await asyncio.sleep(0)
                else:
                    # As asyncio.Task does with the future a coroutine blocks on.
                    yielded._asyncio_future_blocking = False
                    await asyncio.wait((yielded,))
            except BaseException as exc:  # our task was cancelled: pass it in
                yielded = coro.throw(exc)
            else:
                yielded = coro.send(None)
    except StopIteration:
        return
