"""Per-connection limits: the inbound rate (a token bucket) and the connections per user.

The outgoing backlog's bound belongs to the sender (``livepush._sender``); the consumer applies
these two (``livepush.consumers``), and ``docs/reference/settings.md`` documents their settings.

**Inbound rate.** Every frame a client sends takes one token from its connection's bucket:
text or binary, ``PING`` and ``PONG`` included (a flood of ``PING`` frames is a flood), before
the frame is decoded, so refusing costs no JSON parsing. The bucket holds ``INBOUND_BURST``
tokens and refills at ``INBOUND_RATE`` tokens a second. A frame that finds less than one token
is refused (the consumer answers ``ERROR rate_limited`` and does not handle it), and it still
takes its token: the bucket goes into debt, so a client that keeps sending faster than the rate
stays refused until it slows down. When the debt passes ``INBOUND_BURST`` tokens (the client
sent a whole burst more than it was allowed, and kept on), the connection is closed with 4008.
A client that stops for ``(debt + 1) / INBOUND_RATE`` seconds gets through again.

**Connections per user.** :data:`connection_slots` counts this process's open connections per
user; with ``MAX_CONNECTIONS_PER_USER`` set, a connection past the cap is refused with 4011. The
count is per process: with N server processes a user may hold up to N times the cap.
"""

from __future__ import annotations

import collections
import enum
import logging
import time
from collections.abc import Callable, Hashable
from typing import Final

from livepush.conf import livepush_settings

__all__ = ["RATE_LIMITED_DETAIL", "ConnectionSlots", "TokenBucket", "Verdict", "connection_slots"]

logger = logging.getLogger("livepush.limits")

#: The ``detail`` of the ``ERROR rate_limited`` frame.
RATE_LIMITED_DETAIL: Final = (
    "Too many frames (see the server's INBOUND_RATE and INBOUND_BURST); this one was not "
    "handled. Slow down, or the connection is closed with 4008."
)


class Verdict(enum.Enum):
    """What to do with one inbound frame."""

    #: Handle it.
    PASS = "pass"
    #: Answer ``ERROR rate_limited``; do not handle it.
    REFUSE = "refuse"
    #: The debt just passed its bound: close the connection with 4008.
    CLOSE = "close"
    #: The connection is being closed for its rate: ignore the frame silently.
    DROP = "drop"


class TokenBucket:
    """A token bucket that may go into debt, one per connection.

    Args:
        rate: tokens added per second.
        burst: tokens the bucket holds when full (it starts full), and the debt that closes.
        clock: returns seconds, monotonic; tests pass their own to advance time by hand.
    """

    __slots__ = ("_clock", "_closed", "_stamp", "_tokens", "burst", "rate")

    def __init__(
        self, rate: float, burst: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = float(rate)
        self.burst = float(burst)
        self._clock = clock
        self._tokens = self.burst
        self._stamp = clock()
        self._closed = False

    @classmethod
    def from_settings(cls) -> TokenBucket | None:
        """A bucket with ``INBOUND_RATE`` and ``INBOUND_BURST``; ``None`` when the rate is off."""
        rate = livepush_settings.INBOUND_RATE
        return None if rate is None else cls(rate, livepush_settings.INBOUND_BURST)

    @property
    def tokens(self) -> float:
        """Tokens left after the refill up to now; negative while in debt."""
        self._refill()
        return self._tokens

    def take(self) -> Verdict:
        """Take one token for a frame and say what to do with the frame."""
        if self._closed:
            return Verdict.DROP
        self._refill()
        tokens = self._tokens
        self._tokens = tokens - 1.0
        if tokens >= 1.0:
            return Verdict.PASS
        if self._tokens < -self.burst:
            self._closed = True
            return Verdict.CLOSE
        return Verdict.REFUSE

    def _refill(self) -> None:
        now = self._clock()
        elapsed = now - self._stamp
        self._stamp = now
        if elapsed > 0:
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate)


class ConnectionSlots:
    """Counts open connections per user, in this process."""

    def __init__(self) -> None:
        self._open: collections.Counter[Hashable] = collections.Counter()

    def count(self, user_id: Hashable) -> int:
        """The connections ``user_id`` holds in this process."""
        return self._open[user_id]

    def take(self, user_id: Hashable) -> bool:
        """Count one more connection for ``user_id`` unless it has ``MAX_CONNECTIONS_PER_USER``.

        Returns whether it was counted; a counted connection must be given back with
        :meth:`release` exactly once.
        """
        cap = livepush_settings.MAX_CONNECTIONS_PER_USER
        if cap is not None and self._open[user_id] >= cap:
            logger.info(
                "User %r already has %d connection(s) to this process (MAX_CONNECTIONS_PER_USER); "
                "closing the next with 4011",
                user_id,
                cap,
            )
            return False
        self._open[user_id] += 1
        return True

    def release(self, user_id: Hashable) -> None:
        """Give back a connection counted by :meth:`take`."""
        left = self._open[user_id] - 1
        if left > 0:
            self._open[user_id] = left
        else:
            del self._open[user_id]


#: This process's open connections per user (each event loop's consumers share it; it is only
#: touched from event-loop code, so it needs no lock).
connection_slots = ConnectionSlots()
