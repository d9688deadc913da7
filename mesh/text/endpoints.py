"""A pool of model-server endpoints: least-busy choice, failure cool-down, load scraped from ``/metrics``.

Load is what this process has in flight on an endpoint plus what other clients had there at the last scrape of
vLLM's ``num_requests_running`` + ``num_requests_waiting`` gauges. Scraping runs in the background so choosing
an endpoint costs no I/O on the request path.
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass, field

_GAUGE = re.compile(r"^vllm:num_requests_(running|waiting)(?:\{[^}]*\})?\s+([0-9.eE+-]+)\s*$", re.MULTILINE)


def normalize_base_url(url: str) -> str:
    """``http://host:port`` from any of ``http://host:port``, ``.../``, ``.../v1``, ``.../v1/``."""
    root = url.strip().rstrip("/")
    if root.endswith("/v1"):
        root = root[:-3]
    if not root.startswith(("http://", "https://")):
        root = "http://" + root
    return root


def parse_load(metrics_text: str) -> float:
    """Running plus waiting requests summed over every engine and model listed in a vLLM metrics page."""
    return sum(float(value) for _, value in _GAUGE.findall(metrics_text))


@dataclass
class Endpoint:
    """One model server and what this process knows about it."""

    base_url: str
    inflight: int = 0
    external_load: float = 0.0
    down_until: float = 0.0
    failures: int = 0
    model: str = ""
    max_model_len: int = 0
    discovered: bool = False
    served: int = field(default=0)

    @property
    def load(self) -> float:
        """Requests this endpoint is busy with, as far as this process knows."""
        return self.inflight + self.external_load

    def healthy(self, now: float) -> bool:
        """False while the endpoint is cooling down after a failure."""
        return now >= self.down_until


class EndpointPool:
    """Chooses endpoints and tracks their health. Not thread-safe: used from one event loop."""

    def __init__(self, urls: list[str], cooldown_s: float = 5.0, max_cooldown_s: float = 60.0) -> None:
        if not urls:
            raise ValueError("an endpoint pool needs at least one URL")
        self.endpoints = [Endpoint(normalize_base_url(u)) for u in urls]
        self.cooldown_s = cooldown_s
        self.max_cooldown_s = max_cooldown_s
        self._tiebreak = itertools.count()

    def choose(self, exclude: set[str] | None = None) -> Endpoint:
        """The least-busy healthy endpoint not in ``exclude``; ties are broken round-robin.

        When every candidate is cooling down, the one that comes back soonest is tried anyway: a pool never
        refuses to try, the retry policy decides when to give up.
        """
        now = time.monotonic()
        excluded = exclude or set()
        candidates = [e for e in self.endpoints if e.base_url not in excluded] or list(self.endpoints)
        healthy = [e for e in candidates if e.healthy(now)]
        if not healthy:
            return min(candidates, key=lambda e: e.down_until)
        turn = next(self._tiebreak)
        n = len(healthy)
        return min(
            (healthy[(turn + i) % n] for i in range(n)),
            key=lambda e: e.load,
        )

    def acquire(self, endpoint: Endpoint) -> None:
        """Count a request as in flight on ``endpoint``."""
        endpoint.inflight += 1

    def release(self, endpoint: Endpoint) -> None:
        """The request finished (in any way)."""
        endpoint.inflight = max(0, endpoint.inflight - 1)

    def mark_failure(self, endpoint: Endpoint) -> None:
        """Cool the endpoint down, longer after each consecutive failure."""
        endpoint.failures += 1
        delay = min(self.max_cooldown_s, self.cooldown_s * 2 ** (endpoint.failures - 1))
        endpoint.down_until = time.monotonic() + delay

    def mark_success(self, endpoint: Endpoint, finished: bool = True) -> None:
        """The endpoint answered: it is healthy again (``finished``: a whole request was served)."""
        endpoint.failures = 0
        endpoint.down_until = 0.0
        if finished:
            endpoint.served += 1

    def update_load(self, endpoint: Endpoint, total: float, inflight_at_scrape: int) -> None:
        """Record a scrape: the server's total load minus what this process itself had there at that moment."""
        endpoint.external_load = max(0.0, total - inflight_at_scrape)
