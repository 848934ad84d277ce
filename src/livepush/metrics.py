"""Prometheus metrics of this process (the ``metrics`` extra: ``prometheus-client``).

::

    pip install "django-livepush[metrics]"

    # urls.py
    from livepush.metrics import metrics_view

    urlpatterns = [..., path("metrics/", metrics_view)]

Importing this module registers :class:`LivePushCollector` with ``prometheus_client``'s default
registry (once), so a project that already serves that registry (django-prometheus, its own
view) gets the metrics there too. The collector reads the counts when it is scraped: the
delivery path only bumps integers (``livepush._stats``). Each server process counts its own;
scrape every process (with several workers, each has its own ``/metrics`` answer, as with any
per-process Prometheus client).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

try:
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
        Metric,
    )
    from prometheus_client.exposition import CONTENT_TYPE_LATEST
except ImportError as exc:  # pragma: no cover - without the extra
    raise ImportError(
        "livepush.metrics needs prometheus-client: pip install 'django-livepush[metrics]'"
    ) from exc

from django.http import HttpRequest, HttpResponse

from livepush._capacity import dropped_count
from livepush._sender import overflow_count
from livepush._shutdown import connection_count
from livepush._stats import LATENCY_BUCKETS, stats
from livepush._streams import gaps_lost

__all__ = ["LivePushCollector", "collector", "metrics_view"]


class LivePushCollector:
    """This process's django-livepush metrics, read at each scrape.

    ============================================ ======= ====================================
    name                                         type    what
    ============================================ ======= ====================================
    ``livepush_connections``                     gauge   connections open
    ``livepush_connects_total``                  counter connections accepted
    ``livepush_refusals_total{code}``            counter connections refused, by close code
    ``livepush_pushes_total``                    counter pushes published by this process
    ``livepush_deliveries_total``                counter pushes handed to its connections
    ``livepush_delivery_latency_seconds``        histo.  publish to fan-out, per push
    ``livepush_backlog_overflows_total``         counter clients closed with 4010 (not reading)
    ``livepush_channel_layer_dropped_total``     counter pushes channels-redis dropped
    ``livepush_channel_layer_errors_total``      counter failed publishes and receives
    ``livepush_heartbeat_timeouts_total``        counter connections closed with 4002
    ``livepush_stream_gaps_lost_total``          counter recovery gaps the history lacked
    ============================================ ======= ====================================
    """

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "livepush_connections", "WebSocket connections open.", value=connection_count()
        )
        yield _counter("connects", "WebSocket connections accepted.", stats.connects)
        refusals = CounterMetricFamily(
            "livepush_refusals", "WebSocket connections refused, by close code.", labels=["code"]
        )
        for code, count in sorted(stats.refusals.items()):
            refusals.add_metric([str(code)], count)
        yield refusals
        yield _counter("pushes", "Pushes this process published.", stats.pushes)
        yield _counter(
            "deliveries", "Pushes handed to this process's connections.", stats.deliveries
        )
        buckets: list[tuple[str, float]] = []
        cumulative = 0
        for bound, count in zip(
            [*LATENCY_BUCKETS, float("inf")], stats.latency_counts, strict=True
        ):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        yield HistogramMetricFamily(
            "livepush_delivery_latency_seconds",
            "Seconds from a push's publish to its arrival at this process's fan-out.",
            buckets=buckets,
            sum_value=stats.latency_sum,
        )
        yield _counter(
            "backlog_overflows",
            "Connections closed with 4010: their backlog of unread pushes passed its bound.",
            overflow_count(),
        )
        yield _counter(
            "channel_layer_dropped",
            "Pushes channels-redis dropped (a server process's channel over capacity).",
            dropped_count(),
        )
        yield _counter(
            "channel_layer_errors",
            "Publishes and receives the channel layer failed.",
            stats.layer_errors,
        )
        yield _counter(
            "heartbeat_timeouts",
            "Connections closed with 4002: no PONG within HEARTBEAT_TIMEOUT.",
            stats.heartbeat_timeouts,
        )
        yield _counter(
            "stream_gaps_lost",
            "Recovery: pushes of a stream that never arrived and were not in its history.",
            gaps_lost(),
        )


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(f"livepush_{name}", documentation, value=value)


#: The collector this module registered with the default registry.
collector = LivePushCollector()
REGISTRY.register(collector)


def metrics_view(request: HttpRequest, registry: Any = None) -> HttpResponse:
    """The default registry (or ``registry``) in Prometheus's text format.

    Route it where your Prometheus scrapes, and keep it off the public internet (a network
    rule, or a view of yours that checks the caller and calls this one).
    """
    chosen: CollectorRegistry = REGISTRY if registry is None else registry
    return HttpResponse(generate_latest(chosen), content_type=CONTENT_TYPE_LATEST)
