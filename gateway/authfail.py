"""Failed authentication is rate limited per peer address, so API keys cannot be guessed at line rate.

Each failure takes a token from the peer's bucket (``gateway_auth_failure_burst`` tokens, refilled at
``gateway_auth_failure_rate_per_s``); a peer whose bucket is empty is refused with RESOURCE_EXHAUSTED and a
RetryInfo before its key is even looked at, valid or not. Successful calls cost nothing here.
"""

from __future__ import annotations

from gateway.ratelimit import RateLimiter
from mesh.errors import ResourceExhausted


def peer_host(peer: str) -> str:
    """The address part of a grpc peer string (``ipv4:127.0.0.1:5555`` -> ``ipv4:127.0.0.1``)."""
    if peer.startswith("unix:"):
        return peer
    return peer.rsplit(":", 1)[0]


class AuthFailures:
    """Per-peer buckets of allowed authentication failures."""

    def __init__(self, rate_per_s: float, burst: int, limiter: RateLimiter | None = None) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._limiter = limiter or RateLimiter()

    def admit(self, peer: str) -> None:
        """Refuse a peer that has used up its failures (RESOURCE_EXHAUSTED with the wait)."""
        wait = self._limiter.peek(f"auth:{peer_host(peer)}", self.rate_per_s, self.burst)
        if wait > 0.0:
            raise ResourceExhausted(
                "too many failed authentications from this address; retry later", retry_after_s=round(wait, 3)
            )

    def failed(self, peer: str) -> None:
        """Count one failed authentication against the peer."""
        self._limiter.try_take(f"auth:{peer_host(peer)}", self.rate_per_s, self.burst)
