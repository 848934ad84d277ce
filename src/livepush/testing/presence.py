"""Presence reset between tests, so one test's connections are not online in the next."""

from __future__ import annotations

__all__ = ["reset_presence"]


def reset_presence() -> None:
    """Forget the presence this process keeps.

    Clears the in-process backend (``MemoryPresence``, which presence uses with the in-memory
    channel layer) and every event loop's tracker: its connections, its queued ``PRESENCE_DIFF``
    transitions, and its refresh and sweep loops, which would otherwise write a connection a
    test left open back into the next test's presence. Forgets the cached Redis backends too,
    without closing their clients. Presence kept in Redis is not touched: give the tests a
    Redis database of their own and flush it.

    Needs no Django settings.
    """
    from livepush.presence import backends, tracker

    tracker.reset()
    backends.reset()
