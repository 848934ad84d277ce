"""Async calls made together, run together: shared runs and batched calls.

In a connect storm hundreds of connections ask for the same thing at the same moment (stale
database connections closed, the users online). :class:`Coalesced` runs the call once for all the
callers waiting, with one guarantee a plain cache would not give: every caller gets the result of
a run that *started after it called*. A caller arriving while a run is under way waits for the
next run, which starts when that one ends and serves everyone who arrived meanwhile.

:class:`Batched` does the same for calls that each have an argument (a user to look up, a presence
entry to write): the calls waiting together go into one run that takes all their arguments.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["Batched", "Coalesced"]

T = TypeVar("T")
A = TypeVar("A")
R = TypeVar("R")


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


class Batched(Generic[A, R]):
    """Calls with an argument each, sent together: the calls waiting go into one run of ``run``.

    The first call starts a run at the next turn of the event loop, so calls made together share
    it; calls made while a run is under way wait for the next, which takes all of them (at most
    ``size`` a run). A calm server runs each call at once, alone; a storm runs one per batch.
    ``run`` gets the arguments in call order and returns one result per argument; a result that
    is an exception is raised to its caller, and an exception ``run`` raises is raised to every
    caller of that run.
    """

    def __init__(
        self, run: Callable[[list[A]], Awaitable[Sequence[R | Exception]]], *, size: int
    ) -> None:
        self._run = run
        self._size = size
        self._queue: list[tuple[A, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, argument: A) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.append((argument, future))
        if self._task is None:
            self._task = loop.create_task(self._drain(), name="livepush-batch")
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[: self._size], self._queue[self._size :]
                try:
                    results = await self._run([argument for argument, _ in batch])
                except Exception as exc:
                    results = [exc] * len(batch)
                except BaseException:
                    for _, future in batch:  # the run itself was cancelled: so are its calls
                        future.cancel()
                    raise
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():  # its caller was cancelled meanwhile
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._task = None
