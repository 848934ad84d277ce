"""What this process has done, counted as it happens: the numbers behind metrics and status.

Plain integers bumped on the paths that do the work (a connect, a refusal, a push published, a
push handed to connections, a heartbeat timeout, a channel-layer error) and a histogram of
delivery latency, one observation per push and process (not per connection). Reading them
costs the paths nothing: ``livepush.metrics`` exports them at scrape time, ``manage.py
livepush_status`` and ``livepush.views.health`` report them. Other counts have their owners and
are read from there: open connections (``livepush._shutdown``), frames dropped for clients that
do not read (``livepush._sender.overflow_count``), pushes channels-redis dropped
(``livepush._capacity.dropped_count``), stream gaps (``livepush._streams.gaps_lost``).
"""

from __future__ import annotations

import bisect
import collections
import time

__all__ = ["LATENCY_BUCKETS", "Stats", "stats"]

#: Upper bounds, in seconds, of the delivery-latency histogram's buckets (and +Inf).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Stats:
    """This process's counts (one instance, :data:`stats`)."""

    __slots__ = (
        "connects",
        "deliveries",
        "heartbeat_timeouts",
        "latency_count",
        "latency_counts",
        "latency_sum",
        "layer_errors",
        "pushes",
        "refusals",
    )

    def __init__(self) -> None:
        #: Connections accepted.
        self.connects = 0
        #: Connections refused, by close code.
        self.refusals: collections.Counter[int] = collections.Counter()
        #: Pushes this process published (one per helper call, whatever its audience).
        self.pushes = 0
        #: Pushes handed to this process's connections (one per connection and push).
        self.deliveries = 0
        #: Connections closed with 4002: no PONG within HEARTBEAT_TIMEOUT.
        self.heartbeat_timeouts = 0
        #: Channel-layer failures: a push that could not be published, a receive that failed.
        self.layer_errors = 0
        #: Delivery latency: observations per bucket of :data:`LATENCY_BUCKETS` (+Inf last).
        self.latency_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0
        self.latency_count = 0

    def observe_latency(self, sent_at: float) -> None:
        """A push published at ``sent_at`` (``time.time()``, another process's clock) arrived."""
        seconds = max(time.time() - sent_at, 0.0)
        self.latency_counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.latency_sum += seconds
        self.latency_count += 1

    def reset(self) -> None:
        """Start counting again from zero (for tests)."""
        self.__init__()  # type: ignore[misc]


stats = Stats()
