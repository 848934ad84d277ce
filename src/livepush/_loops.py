"""Background loops a process runs per event loop (the fan-out's, presence's), as one unit."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["Loops"]


class Loops:
    """Tasks started together and cancelled together; started again after a stop."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    def start(self, loops: dict[str, Callable[[], Coroutine[Any, Any, None]]]) -> None:
        """Start each ``name -> coroutine function`` as a task of that name, unless running."""
        if not self._tasks:
            loop = asyncio.get_running_loop()
            self._tasks = [loop.create_task(run(), name=name) for name, run in loops.items()]

    def stop(self) -> None:
        """Cancel the tasks (idempotent)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
