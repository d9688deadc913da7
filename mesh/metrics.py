"""Prometheus metrics: one registry per process, served on each service's own HTTP port.

RPC metrics (handled count by method and code, latency histogram by method) are recorded by the server
interceptor through ``RpcMetrics``; other modules register their own (token usage, queue depth...) through ``counter``/``histogram``/
``gauge``, which return the existing metric when called twice so re-created servers (tests) do not collide.
"""

from __future__ import annotations

import functools
import math
import threading
import weakref
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

#: The registry every mesh metric lives in (not prometheus_client's global one, so nothing registers by accident).
REGISTRY = CollectorRegistry(auto_describe=True)

#: Latency buckets (s) covering fast lookups to long generations.
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
)

_M = TypeVar("_M", Counter, Gauge, Histogram)
_lock = threading.Lock()
_metrics: dict[str, Any] = {}


def _get_or_create(kind: type[_M], name: str, factory: Callable[[], _M]) -> _M:
    with _lock:
        existing = _metrics.get(name)
        if existing is None:
            existing = factory()
            _metrics[name] = existing
        if not isinstance(existing, kind):
            raise TypeError(f"metric {name!r} already registered as {type(existing).__name__}")
        return existing


def counter(name: str, documentation: str, labelnames: Sequence[str] = ()) -> Counter:
    """Get or create a counter in the mesh registry."""
    return _get_or_create(Counter, name, lambda: Counter(name, documentation, labelnames, registry=REGISTRY))


def gauge(name: str, documentation: str, labelnames: Sequence[str] = ()) -> Gauge:
    """Get or create a gauge in the mesh registry."""
    return _get_or_create(Gauge, name, lambda: Gauge(name, documentation, labelnames, registry=REGISTRY))


def histogram(
    name: str,
    documentation: str,
    labelnames: Sequence[str] = (),
    buckets: Sequence[float] = LATENCY_BUCKETS,
) -> Histogram:
    """Get or create a histogram in the mesh registry."""
    return _get_or_create(
        Histogram,
        name,
        lambda: Histogram(name, documentation, labelnames, buckets=buckets, registry=REGISTRY),
    )


class RpcMetrics:
    """Per-RPC metrics of one service: handled calls by (method, code) and a latency histogram by method.

    Recorded on the event loop with plain integer/float updates (no locks, no label look-ups) and turned into
    Prometheus samples only when scraped (``_RpcCollector``): with prometheus_client's own Counter and
    Histogram the bookkeeping cost about a twentieth of a bare unary call.
    """

    __slots__ = ("__weakref__", "_counts", "_latency", "service")

    def __init__(self, service: str) -> None:
        self.service = service
        self._counts: dict[tuple[str, str], int] = {}
        # method -> [count in bucket 0, ..., count in +Inf bucket, sum of seconds]
        self._latency: dict[str, list[float]] = {}
        _collector().add(self)

    def observe(self, method: str, code: str, seconds: float) -> None:
        """Count one finished call and record its latency."""
        key = (method, code)
        counts = self._counts
        counts[key] = counts.get(key, 0) + 1
        row = self._latency.get(method)
        if row is None:
            row = self._latency[method] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        row[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        row[-1] += seconds

    def snapshot(self) -> tuple[list[tuple[tuple[str, str], int]], list[tuple[str, list[float]]]]:
        """A consistent-enough copy for a scrape (list() of a dict is atomic under the GIL)."""
        return list(self._counts.items()), [(m, list(row)) for m, row in list(self._latency.items())]


class _RpcCollector(Collector):
    """Exposes every live ``RpcMetrics`` as ``dm_rpc_server_handled_total`` / ``dm_rpc_server_handling_seconds``."""

    def __init__(self) -> None:
        self._sources: weakref.WeakSet[RpcMetrics] = weakref.WeakSet()

    def add(self, source: RpcMetrics) -> None:
        self._sources.add(source)

    def describe(self) -> list[Metric]:
        return [
            CounterMetricFamily(HANDLED, HANDLED_DOC, labels=("service", "method", "code")),
            HistogramMetricFamily(LATENCY, LATENCY_DOC, labels=("service", "method")),
        ]

    def collect(self) -> list[Metric]:
        handled = CounterMetricFamily(HANDLED, HANDLED_DOC, labels=("service", "method", "code"))
        latency = HistogramMetricFamily(LATENCY, LATENCY_DOC, labels=("service", "method"))
        totals: dict[tuple[str, str, str], float] = {}
        rows: dict[tuple[str, str], list[float]] = {}
        for source in list(self._sources):
            counts, histograms = source.snapshot()
            for (method, code), calls in counts:
                key = (source.service, method, code)
                totals[key] = totals.get(key, 0) + calls
            for method, row in histograms:
                merged = rows.setdefault((source.service, method), [0.0] * len(row))
                for i, value in enumerate(row):
                    merged[i] += value
        for labels, total in totals.items():
            handled.add_metric(list(labels), total)
        for (service, method), row in rows.items():
            cumulative = 0.0
            buckets: list[tuple[str, float]] = []
            for bound, in_bucket in zip((*LATENCY_BUCKETS, math.inf), row[:-1], strict=True):
                cumulative += in_bucket
                buckets.append((_go_float(bound), cumulative))
            latency.add_metric([service, method], buckets, row[-1])
        return [handled, latency]


HANDLED = "dm_rpc_server_handled_total"
HANDLED_DOC = "RPCs completed on the server, by service, method and status code."
LATENCY = "dm_rpc_server_handling_seconds"
LATENCY_DOC = "Server-side RPC latency (s), by service and method."


def _go_float(bound: float) -> str:
    """A bucket bound as Prometheus writes it ("0.005", "+Inf")."""
    text: str = floatToGoString(bound)  # type: ignore[no-untyped-call]
    return text


@functools.cache
def _collector() -> _RpcCollector:
    collector = _RpcCollector()
    REGISTRY.register(collector)
    return collector


def service_ready_gauge() -> Gauge:
    """1 while a service's dependencies are ready (its health is SERVING), else 0."""
    return gauge("dm_service_ready", "1 when the service reports SERVING, else 0.", ("service",))


@dataclass
class MetricsServer:
    """A running Prometheus HTTP endpoint; ``close()`` stops it."""

    port: int
    _httpd: WSGIServer
    _thread: threading.Thread

    def close(self) -> None:
        """Stop serving and release the port."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def start_metrics_server(host: str, port: int) -> MetricsServer:
    """Serve ``REGISTRY`` over HTTP on ``host:port`` (port 0 = any free port) from a daemon thread."""
    httpd, thread = start_http_server(port, addr=host, registry=REGISTRY)
    return MetricsServer(port=int(httpd.server_port), _httpd=httpd, _thread=thread)
