"""Prometheus metrics: one registry per process, served on each service's own HTTP port.

RPC metrics (handled count by method and code, latency histogram by method) are recorded by the server
interceptor; other modules register their own (token usage, queue depth...) through ``counter``/``histogram``/
``gauge``, which return the existing metric when called twice so re-created servers (tests) do not collide.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

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
    """Per-RPC counters for one service, with label children cached so a call costs two dict look-ups."""

    __slots__ = ("_children", "_handled", "_latency", "_service")

    def __init__(self, service: str) -> None:
        self._service = service
        self._handled = counter(
            "dm_rpc_server_handled_total",
            "RPCs completed on the server, by service, method and status code.",
            ("service", "method", "code"),
        )
        self._latency = histogram(
            "dm_rpc_server_handling_seconds",
            "Server-side RPC latency (s), by service and method.",
            ("service", "method"),
        )
        self._children: dict[tuple[str, str], tuple[Callable[..., None], Callable[[float], None]]] = {}

    def observe(self, method: str, code: str, seconds: float) -> None:
        """Count one finished call and record its latency."""
        pair = self._children.get((method, code))
        if pair is None:
            pair = (
                self._handled.labels(self._service, method, code).inc,
                self._latency.labels(self._service, method).observe,
            )
            self._children[(method, code)] = pair
        pair[0]()
        pair[1](seconds)


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
