"""Per-key token buckets: each key may make ``rate`` calls per second with bursts of up to ``burst``.

One bucket per key id, refilled lazily on each call from the monotonic clock (no timer task). A refused call
learns how long until a token is back, which the gateway returns as RetryInfo.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from mesh.errors import ResourceExhausted


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """Token buckets by key id. Single-threaded use (the gateway's event loop) needs no lock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def try_take(self, key_id: str, rate: float, burst: int) -> float:
        """Take one token; returns 0.0 on success, else the seconds until one is available."""
        now = self._clock()
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = _Bucket(float(burst), now)
        else:
            bucket.tokens = min(float(burst), bucket.tokens + (now - bucket.stamp) * rate)
            bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / rate

    def peek(self, key_id: str, rate: float, burst: int) -> float:
        """Seconds until ``key_id`` has a token again (0.0 when it has one), without taking it."""
        bucket = self._buckets.get(key_id)
        if bucket is None:
            return 0.0
        tokens = min(float(burst), bucket.tokens + (self._clock() - bucket.stamp) * rate)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / rate

    def take(self, key_id: str, rate: float, burst: int) -> None:
        """Take one token or raise ResourceExhausted with the wait until the next one."""
        wait = self.try_take(key_id, rate, burst)
        if wait > 0.0:
            raise ResourceExhausted(
                f"rate limit of {rate:g} calls/s (burst {burst}) exceeded for key {key_id!r}",
                retry_after_s=round(wait, 3),
            )
