"""Graceful shutdown: on SIGTERM, close every open connection with "service restart", then stop.

The process keeps a registry of its open connections. When the first one registers, a SIGTERM
handler is installed (once per process, on the main thread) in front of the ASGI server's own.
On SIGTERM it closes every open connection with :data:`restart_code` (1012, or 4012 under
daphne), waits up to ``LIVEPUSH["SHUTDOWN_GRACE"]`` seconds for them to finish (the consumers'
``disconnect()`` hooks included), then hands the signal to the server's handler, which shuts down
as it always did. Connections that open during that wait are closed the same way at once.

Why: daphne stops the Twisted reactor on SIGTERM and its clients see 1006, which tells them
nothing; uvicorn sends 1012 itself. With the same code from both, ``livepush.js`` knows to come
back after a random delay instead of all at once.

SIGINT (Ctrl+C) is left to the server: it means "stop now", as it does for gunicorn.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import threading
import weakref
from typing import Any

from livepush._stats import stats
from livepush.conf import livepush_settings
from livepush.protocol import CloseCode

__all__ = ["connection_count", "register_connection", "restart_code", "unregister_connection"]

logger = logging.getLogger("livepush.shutdown")

#: The signal that starts a graceful shutdown (what systemd, Docker, Kubernetes and gunicorn send).
SIGNAL = signal.SIGTERM

_open: weakref.WeakSet[Any] = weakref.WeakSet()
#: The event loop the connections run on (the last one to register: one per server process).
_loop: asyncio.AbstractEventLoop | None = None
#: Whether installing the handler was decided (done, or skipped for a reason logged once).
_install_decided = False
#: The handler ours stands in front of; called (or re-raised, for ``SIG_DFL``) after the closes.
_previous: Any = None
#: Set by the signal: from then on every connection, open or opening, is closed.
_stopping = False
#: Set when the last open connection is gone while stopping.
_all_closed: asyncio.Event | None = None
#: Strong references to the tasks closing connections, so none is collected mid-way.
_tasks: set[asyncio.Task[None]] = set()


def restart_code() -> CloseCode:
    """The close code that tells clients the server is restarting: 1012, or 4012 under daphne.

    daphne (through autobahn) lets an application close only with 1000 or 3000-4999, so there the
    application-range :attr:`~CloseCode.SERVICE_RESTART_APP` stands in for 1012. daphne is the
    server that runs a Twisted reactor in the process.
    """
    reactor = sys.modules.get("twisted.internet.reactor")
    if reactor is not None and getattr(reactor, "running", False):
        return CloseCode.SERVICE_RESTART_APP
    return CloseCode.SERVICE_RESTART


def register_connection(connection: Any) -> None:
    """Record an accepted connection (a consumer with ``async close(code)``) of this process.

    Installs the SIGTERM handler on first use. A connection registered while the process is
    shutting down is closed at once.
    """
    global _loop
    _loop = asyncio.get_running_loop()
    _open.add(connection)
    stats.connects += 1
    if _stopping:
        _close_soon(connection, restart_code())
    elif not _install_decided and livepush_settings.SHUTDOWN_GRACE is not None:
        _install()


def connection_count() -> int:
    """The connections open in this process (accepted, not finished)."""
    return len(_open)


def unregister_connection(connection: Any) -> None:
    """Forget a connection whose consumer has finished (any number of times)."""
    _open.discard(connection)
    if _stopping and not _open and _all_closed is not None:
        _all_closed.set()


def _install() -> None:
    global _install_decided, _previous
    _install_decided = True
    if threading.current_thread() is not threading.main_thread():
        logger.info("Not on the main thread: SIGTERM will not close connections with 1012/4012")
        return
    previous = signal.getsignal(SIGNAL)
    if previous is None or previous == signal.SIG_IGN:
        # Installed outside Python, or ignored on purpose: not ours to change.
        return
    _previous = previous
    signal.signal(SIGNAL, _on_signal)


def _on_signal(signum: int, frame: Any) -> None:
    global _stopping
    # A second SIGTERM goes straight to the server: a way to stop now.
    signal.signal(signum, _previous)
    _stopping = True
    loop = _loop
    if loop is None or loop.is_closed() or not loop.is_running():
        _chain(signum)
        return
    # Signal handlers run between two bytecodes of whatever the main thread was doing: hand the
    # work to the loop, as the servers' own handlers do.
    loop.call_soon_threadsafe(_start_drain, signum)


def _start_drain(signum: int) -> None:
    task = asyncio.get_running_loop().create_task(_drain(signum), name="livepush-shutdown")
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def _drain(signum: int) -> None:
    global _all_closed
    try:
        grace = float(livepush_settings.SHUTDOWN_GRACE or 0)
        code = restart_code()
        connections = list(_open)
        logger.info(
            "SIGTERM: closing %d connection(s) with %d, waiting up to %ss",
            len(connections),
            code,
            grace,
        )
        _all_closed = asyncio.Event()
        if not _open:
            _all_closed.set()
        for connection in connections:
            _close_soon(connection, code)
        waiter = asyncio.ensure_future(_all_closed.wait())
        done, _ = await asyncio.wait({waiter}, timeout=grace)
        if not done:
            waiter.cancel()
            logger.warning(
                "SIGTERM: %d connection(s) still open after SHUTDOWN_GRACE (%ss); the server "
                "stops them",
                len(_open),
                grace,
            )
    finally:
        _chain(signum)


def _close_soon(connection: Any, code: int) -> None:
    task = asyncio.get_running_loop().create_task(_close(connection, code))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def _close(connection: Any, code: int) -> None:
    try:
        await connection.close(code=int(code))  # daphne (autobahn) refuses an IntEnum
    except Exception as exc:
        # Already gone: the server's shutdown deals with it.
        logger.debug("Could not close a connection for shutdown: %r", exc)


def _chain(signum: int) -> None:
    """Hand the signal to the handler that was there before ours."""
    previous = _previous
    if callable(previous):
        previous(signum, None)
    elif previous == signal.SIG_DFL:
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)
