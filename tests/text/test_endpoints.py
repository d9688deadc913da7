"""Endpoint choice (least busy, cool-down after failures), vLLM load parsing and the SSE reader."""

from __future__ import annotations

from collections.abc import AsyncIterator

from mesh.text.endpoints import EndpointPool, normalize_base_url, parse_load
from mesh.text.sse import DONE, sse_events

METRICS = """# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="tiny"} 3.0
vllm:num_requests_running{engine="1",model_name="tiny"} 1.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="tiny"} 2.0
vllm:num_requests_waiting_by_reason{engine="0",model_name="tiny",reason="capacity"} 7.0
vllm:request_success_total{engine="0",finished_reason="stop",model_name="tiny"} 40.0
"""


def test_base_urls_are_normalized() -> None:
    assert normalize_base_url("http://h:8000/v1/") == "http://h:8000"
    assert normalize_base_url("h:8000") == "http://h:8000"
    assert normalize_base_url("https://gpu-1.example/v1") == "https://gpu-1.example"


def test_load_is_running_plus_waiting_over_all_engines() -> None:
    assert parse_load(METRICS) == 6.0


def test_least_busy_endpoint_is_chosen_and_ties_rotate() -> None:
    pool = EndpointPool(["http://a", "http://b", "http://c"])
    a, b, c = pool.endpoints
    pool.update_load(a, total=5, inflight_at_scrape=0)
    pool.update_load(b, total=1, inflight_at_scrape=0)
    pool.update_load(c, total=3, inflight_at_scrape=1)
    assert pool.choose() is b
    pool.acquire(b)
    pool.acquire(b)
    assert pool.choose() is c, "b now has 1 + 2 in flight; c has 2 from other clients"
    pool.release(b)
    pool.release(b)
    pool.update_load(a, 0, 0)
    pool.update_load(b, 0, 0)
    pool.update_load(c, 0, 0)
    assert {pool.choose().base_url for _ in range(3)} == {"http://a", "http://b", "http://c"}


def test_failed_endpoints_cool_down_and_come_back() -> None:
    pool = EndpointPool(["http://a", "http://b"], cooldown_s=30)
    a, b = pool.endpoints
    pool.mark_failure(a)
    assert all(pool.choose() is b for _ in range(5))
    assert pool.choose(exclude={"http://b"}) is a, "excluded everything else: the cooling one is still tried"
    pool.mark_failure(b)
    assert pool.choose() is a, "all cooling down: the one back soonest"
    pool.mark_success(a)
    assert a.healthy(0) and a.failures == 0 and a.served == 1


async def lines(*items: str) -> AsyncIterator[str]:
    for item in items:
        yield item


async def test_sse_reader_decodes_events_and_done() -> None:
    events = [
        e
        async for e in sse_events(
            lines(
                ": keep-alive",
                "",
                'data: {"a": 1}',
                "",
                "event: x",
                'data: {"b":',
                "data: 2}",
                "",
                "data: [DONE]",
                "",
            )
        )
    ]
    assert events == [{"a": 1}, {"b": 2}, DONE]
