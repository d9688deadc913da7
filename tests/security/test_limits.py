"""Field maxima, clipping of quoted values, and the per-peer limit on failed authentication."""

from __future__ import annotations

import pytest

from gateway.authfail import AuthFailures, peer_host
from gateway.gate import Gate
from gateway.keys import Unauthenticated, hash_key
from gateway.ratelimit import RateLimiter
from mesh.errors import ResourceExhausted
from mesh.limits import MAX_ITEMS, MAX_STRING_CHARS, Limits, clip, quote
from mesh.settings import Settings


def test_field_maxima_by_default_name_suffix_and_override() -> None:
    limits = Limits(overrides={"pkg.M.name": 10, "pkg.M.tags": 3, "pkg.M.png": 5})
    assert limits.string_max("pkg.M.world_id", "world_id") == MAX_STRING_CHARS
    assert limits.string_max("pkg.M.content", "content") == 1024 * 1024
    assert limits.string_max("pkg.M.sheet_json", "sheet_json") == 256 * 1024
    assert limits.string_max("pkg.M.name", "name") == 10
    assert limits.items_max("pkg.M.other") == MAX_ITEMS and limits.items_max("pkg.M.tags") == 3
    assert limits.bytes_max("pkg.M.png") == 5


def test_quote_and_clip_keep_errors_short() -> None:
    assert quote("a" * 10_000) == repr("a" * 40) + "..."
    assert quote(b"\x00" * 100).startswith("00" * 40)
    assert quote("ok") == "'ok'"
    clipped = clip("x" * 5000)
    assert len(clipped) == 1024 and clipped.endswith("(clipped)")
    assert clip("short") == "short"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_auth_failures_are_limited_per_peer_and_earned_back() -> None:
    clock = Clock()
    failures = AuthFailures(rate_per_s=2.0, burst=3, limiter=RateLimiter(clock))
    peer = "ipv4:10.0.0.7:40001"
    for _ in range(3):
        failures.admit(peer)
        failures.failed(peer)
    with pytest.raises(ResourceExhausted) as err:
        failures.admit("ipv4:10.0.0.7:40999")  # another port of the same address
    assert err.value.retry_after_s == pytest.approx(0.5)
    failures.admit("ipv4:10.0.0.8:40001")  # other addresses are unaffected
    clock.now += 0.5
    failures.admit(peer)
    assert peer_host("ipv6:[::1]:5000") == "ipv6:[::1]"


def test_gate_counts_only_failed_authentication() -> None:
    key = "dmk_gate_key"
    settings = Settings(
        gateway_api_keys=[{"id": "k", "sha256": hash_key(key), "role": "dm", "campaigns": ["*"]}],
        gateway_auth_failure_burst=2,
        gateway_auth_failure_rate_per_s=0.001,
        gateway_rate_per_s=1000.0,
        gateway_rate_burst=1000,
    )
    gate = Gate(settings)
    good = (("authorization", f"Bearer {key}"),)
    peer = "ipv4:127.0.0.1:5000"
    for _ in range(10):
        assert gate.authenticate(good, peer).key_id == "k"
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            gate.authenticate((("authorization", "Bearer wrong"),), peer)
    with pytest.raises(ResourceExhausted):
        gate.authenticate((("authorization", "Bearer wrong"),), peer)
    with pytest.raises(ResourceExhausted):  # the address waits, whatever key it presents now
        gate.authenticate(good, peer)
    assert gate.authenticate(good, "ipv4:127.0.0.2:5000").key_id == "k"
