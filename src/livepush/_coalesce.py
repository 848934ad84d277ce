"""One run of an async call shared by the callers that wait for it together.

In a connect storm hundreds of connections ask for the same thing at the same moment (stale
database connections closed, the users online). :class:`Coalesced` runs the call once for all the
callers waiting, with one guarantee a plain cache would not give: every caller gets the result of
a run that *started after it called*. A caller arriving while a run is under way waits for the
next run, which starts when that one ends and serves everyone who arrived meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["Coalesced"]

T = TypeVar("T")


class Coalesced(Generic[T]):
    """Callers of this object share runs of ``run`` (one event loop's; make one per loop)."""

    def __init__(self, run: Callable[[], Awaitable[T]]) -> None:
        self._run = run
        self._running: asyncio.Future[T] | None = None
        # Whether the run in _running has begun: callers arriving before it still share it.
        self._started = False
        self._next: asyncio.Future[T] | None = None

    async def __call__(self) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T]
        if self._running is None:
            self._started = False
            self._running = future = loop.create_task(self._one_run())
        elif not self._started:
            future = self._running
        else:
            if self._next is None:
                self._next = loop.create_future()
            future = self._next
        # shield: a caller that is cancelled (its connection went) cancels no one else's run.
        return await asyncio.shield(future)

    async def _one_run(self) -> T:
        self._started = True
        try:
            return await self._run()
        finally:
            self._running = None
            waiting, self._next = self._next, None
            if waiting is not None:
                self._started = False
                self._running = asyncio.get_running_loop().create_task(self._one_run())
                _chain(self._running, waiting)


def _chain(source: asyncio.Future[T], target: asyncio.Future[T]) -> None:
    def copy(done: asyncio.Future[T]) -> None:
        if target.done():
            return
        if done.cancelled():
            target.cancel()
        elif (exc := done.exception()) is not None:
            target.set_exception(exc)
        else:
            target.set_result(done.result())

    source.add_done_callback(copy)
