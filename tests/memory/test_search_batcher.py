"""Concurrent dense searches of one tenant share one Milvus search; nothing else changes for any caller.

The component tests drive ``SearchBatcher`` with a search function that holds its first call until the others
have queued, so the batching is deterministic. The Milvus tests hold the first real search the same way (a
wrapper around the store's calls, which also counts the searches Milvus receives) and compare every concurrent
RetrieveContext with the same request made alone.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from pymilvus.exceptions import MilvusException

from dungeonmaster.v1 import memory_pb2 as M
from memory_svc import campaign_log, catalog
from memory_svc.campaign_log import EventInput
from memory_svc.kinds import EventKind
from memory_svc.memory import Memory
from memory_svc.retrieval import RetrievalRequest, RetrievedContext
from memory_svc.search_batcher import SearchBatcher, SearchKey
from memory_svc.vector_store import VectorStore, VectorStoreUnavailable
from mesh.metrics import REGISTRY
from tests.memory.conftest import MemoryFactory, ingest_world
from tests.memory.test_service import serving

KEY = SearchKey("dm_lore_d4", "tenant == 1", 3)
LIMIT_S = 20.0


def wait_for(check: Callable[[], bool], what: str, limit_s: float = LIMIT_S) -> None:
    deadline = time.monotonic() + limit_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached in {limit_s}s")
        time.sleep(0.002)


class HeldSearch:
    """A search function whose first call of each key waits until released; answers each row with ids made
    from the row and the filter, so a caller given another's result is seen."""

    def __init__(self, fail_after_first: bool = False) -> None:
        self.calls: list[tuple[SearchKey, int]] = []
        self.release = threading.Event()
        self.fail_after_first = fail_after_first
        self._lock = threading.Lock()

    def held(self) -> int:
        return len({key for key, _ in self.calls})

    def __call__(self, key: SearchKey, data: np.ndarray) -> list[list[tuple[str, int]]]:
        with self._lock:
            first = all(k != key for k, _ in self.calls)
            self.calls.append((key, int(data.shape[0])))
        if first:
            assert self.release.wait(LIMIT_S)
        elif self.fail_after_first:
            raise VectorStoreUnavailable("MilvusException: connection reset")
        return [[(key.filter, int(row[0])), (key.filter, int(row[0]) + 1000)] for row in data]


def row(i: int) -> np.ndarray:
    return np.array([[float(i), 0.0, 0.0, 0.0]], dtype=np.float32)


def test_a_lone_search_is_sent_at_once() -> None:
    search = HeldSearch()
    search.release.set()
    batcher = SearchBatcher(search, window_s=30.0)
    started = time.monotonic()
    assert batcher.search(KEY, row(7)) == [[("tenant == 1", 7), ("tenant == 1", 1007)]]
    assert time.monotonic() - started < 5.0  # not the 30 s window: nothing was in flight
    assert search.calls == [(KEY, 1)]


def _concurrently(
    batcher: SearchBatcher[Any], search: HeldSearch, jobs: list[tuple[SearchKey, int]]
) -> list[Any]:
    """Start the first job of each key (held in its search), queue the rest behind them, then release all;
    results (or errors) in job order."""
    firsts = {key: n for n, (key, _) in reversed(list(enumerate(jobs)))}
    with ThreadPoolExecutor(len(jobs)) as pool:

        def one(key: SearchKey, i: int) -> Any:
            try:
                return batcher.search(key, row(i))
            except Exception as exc:
                return exc

        futures = {n: pool.submit(one, *jobs[n]) for n in firsts.values()}
        wait_for(lambda: search.held() == len(firsts), "the first search of each key in flight")
        futures |= {n: pool.submit(one, *job) for n, job in enumerate(jobs) if n not in futures}
        wait_for(lambda: batcher.waiting() == len(jobs) - len(firsts), "the queued searches")
        search.release.set()
        return [futures[n].result(LIMIT_S) for n in range(len(jobs))]


def test_searches_arriving_while_one_is_in_flight_go_as_one_with_their_own_results() -> None:
    search = HeldSearch()
    batcher = SearchBatcher(search, window_s=30.0)
    results = _concurrently(batcher, search, [(KEY, i) for i in range(9)])
    assert results == [[[("tenant == 1", i), ("tenant == 1", 1000 + i)]] for i in range(9)]
    assert search.calls == [(KEY, 1), (KEY, 8)]


def test_different_filters_or_limits_never_share_a_search() -> None:
    search = HeldSearch()
    batcher = SearchBatcher(search, window_s=30.0)
    other_tenant = SearchKey(KEY.collection, "tenant == 2", KEY.limit)
    other_limit = SearchKey(KEY.collection, KEY.filter, 5)
    jobs = [(KEY, 0), (KEY, 1), (other_tenant, 2), (KEY, 3), (other_tenant, 4), (other_limit, 5)]
    jobs += [(other_limit, 6), (other_tenant, 7), (KEY, 8)]
    results = _concurrently(batcher, search, jobs)
    for (key, i), result in zip(jobs, results, strict=True):
        assert result == [[(key.filter, i), (key.filter, 1000 + i)]]
    # Per key: the held first search, then everything that queued behind it as one.
    assert sorted(search.calls, key=repr) == sorted(
        [(KEY, 1), (KEY, 3), (other_tenant, 1), (other_tenant, 2), (other_limit, 1), (other_limit, 1)],
        key=repr,
    )


def test_a_full_batch_is_sent_without_waiting_for_the_one_in_flight() -> None:
    search = HeldSearch()
    batcher = SearchBatcher(search, window_s=30.0, max_batch=3)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(batcher.search, KEY, row(0))
        wait_for(lambda: search.held() == 1, "the first search in flight")
        rest = [pool.submit(batcher.search, KEY, row(i)) for i in (1, 2, 3)]
        wait_for(lambda: len(search.calls) == 2, "the full batch sent while the first is held")
        assert search.calls[1] == (KEY, 3)
        search.release.set()
        assert [f.result(LIMIT_S)[0][0][1] for f in [first, *rest]] == [0, 1, 2, 3]


def test_rows_that_do_not_fit_the_open_batch_send_it_and_open_the_next() -> None:
    search = HeldSearch()
    batcher = SearchBatcher(search, window_s=30.0, max_batch=3)
    two = [np.vstack([row(i), row(i + 1)]) for i in (10, 20)]
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(batcher.search, KEY, row(0))
        wait_for(lambda: search.held() == 1, "the first search in flight")
        a = pool.submit(batcher.search, KEY, two[0])
        wait_for(lambda: batcher.waiting() == 2, "two rows queued")
        b = pool.submit(batcher.search, KEY, two[1])
        wait_for(lambda: len(search.calls) == 2, "the queued batch sent when the next rows cannot join it")
        assert search.calls[1] == (KEY, 2) and batcher.waiting() == 2
        search.release.set()
        assert [h[0][1] for h in a.result(LIMIT_S)] == [10, 11]
        assert [h[0][1] for h in b.result(LIMIT_S)] == [20, 21]
        first.result(LIMIT_S)
    assert search.calls == [(KEY, 1), (KEY, 2), (KEY, 2)]


def test_a_batch_waits_no_longer_than_its_window() -> None:
    search = HeldSearch()
    batcher = SearchBatcher(search, window_s=0.05)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(batcher.search, KEY, row(0))
        wait_for(lambda: search.held() == 1, "the first search in flight")
        second = pool.submit(batcher.search, KEY, row(1))
        assert second.result(LIMIT_S) == [[("tenant == 1", 1), ("tenant == 1", 1001)]]  # first still held
        search.release.set()
        first.result(LIMIT_S)
    assert search.calls == [(KEY, 1), (KEY, 1)]


def test_a_failed_batch_fails_each_of_its_callers_with_the_store_error() -> None:
    search = HeldSearch(fail_after_first=True)
    batcher = SearchBatcher(search, window_s=30.0)
    results = _concurrently(batcher, search, [(KEY, i) for i in range(5)])
    assert results[0] == [[("tenant == 1", 0), ("tenant == 1", 1000)]]
    errors = results[1:]
    assert all(isinstance(e, VectorStoreUnavailable) and "connection reset" in str(e) for e in errors)
    assert all(e.reason == "VECTOR_STORE_UNAVAILABLE" for e in errors)
    assert len({id(e) for e in errors}) == 4  # one exception object per caller, not one shared traceback
    assert search.calls == [(KEY, 1), (KEY, 4)]
    # The batcher is not left holding anything: the next search goes alone, at once.
    search.fail_after_first = False
    assert batcher.search(KEY, row(9))[0][0] == ("tenant == 1", 9)


# --- against Milvus (Lite and a real server) ----------------------------------------------------------------


class SearchLog:
    """Counts the searches Milvus receives (rows each); the first is held until ``gate`` says go."""

    def __init__(self, store: VectorStore, gate: Callable[[], bool], after_first: Callable[[], None]) -> None:
        self.store = store
        self.sizes: list[int] = []
        self.filters: list[str] = []
        self._gate = gate
        self._after_first = after_first
        self._original = store._call

    def __call__(self, fn_name: str, *args: Any, **kwargs: Any) -> Any:
        if fn_name != "search":
            return self._original(fn_name, *args, **kwargs)
        self.sizes.append(len(kwargs["data"]))
        self.filters.append(str(kwargs["filter"]))
        first = len(self.sizes) == 1
        if first:
            wait_for(self._gate, "the other searches to queue behind the first")
        try:
            return self._original(fn_name, *args, **kwargs)
        finally:
            if first:
                self._after_first()


@contextmanager
def logged_searches(
    memory: Memory, queued: int, after_first: Callable[[], None] = lambda: None
) -> Iterator[SearchLog]:
    """Hold the first search until ``queued`` query vectors wait behind it (a long window, so the batch goes
    when the first returns), and log every search sent."""
    store = memory.vectors
    log = SearchLog(store, lambda: store.batcher.waiting() >= queued, after_first)
    window = store.batcher.window_s
    store.batcher.window_s = 30.0
    store._call = log  # type: ignore[method-assign]
    try:
        yield log
    finally:
        del store._call
        store.batcher.window_s = window


def sent(collection: str) -> float:
    """Searches sent to one collection, as the service's metrics report them."""
    value = REGISTRY.get_sample_value("dm_memory_vector_searches_total", {"collection": collection})
    return float(value or 0.0)


QUERIES = (
    "What is the Brinefen and who lives there?",
    "Tell me about the salt roads",
    "Who rules Cindermoot?",
    "What do people say about the Emberspine?",
    "Where can we buy lamp oil?",
)


@pytest.mark.parametrize("milvus_backend", ["lite", "server"], indirect=True)
async def test_concurrent_retrievals_share_one_search_and_match_solo(make_memory: MemoryFactory) -> None:
    memory = make_memory()
    slug = ingest_world(memory)
    requests = [M.RetrieveContextRequest(world_id=slug, query=q, token_budget=4096) for q in QUERIES]
    collection = f"{memory.vectors.prefix}_lore_d{memory.vectors.dim}"
    async with serving(memory) as (_, stub):
        alone = [await stub.RetrieveContext(r) for r in requests]
        assert all(r.lore and not r.degraded for r in alone)
        sent_before = sent(collection)
        with logged_searches(memory, queued=len(requests) - 1) as log:
            together = await asyncio.gather(*(stub.RetrieveContext(r) for r in requests))
        # Five calls, two searches: the first alone (held), the other four as one four-vector search.
        assert log.sizes == [1, len(requests) - 1]
        assert sent(collection) - sent_before == 2
    for solo, batched in zip(alone, together, strict=True):
        assert batched == solo


def _two_campaigns(memory: Memory, slug: str) -> dict[str, set[str]]:
    """Two campaigns of one world, each with events the other must never see; event ids by campaign id."""
    lines = {
        "Ferry": [
            "The ferryman of the salt roads takes a silver coin.",
            "A drowned bell rings under the fog.",
        ],
        "Beacon": [
            "The lighthouse keeper on the cliffs hides a map.",
            "Gulls circle the lighthouse at dusk.",
        ],
    }
    out: dict[str, set[str]] = {}
    for name, texts in lines.items():
        cid = str(catalog.create_campaign(memory.db, slug, name).id)
        ids = set()
        for i, text in enumerate(texts):
            event, _ = campaign_log.record_event(
                memory.db, cid, EventInput(kind=EventKind.NOTE, content=text), f"{name}-{i}"
            )
            ids.add(str(event.id))
        out[cid] = ids
    memory.worker.drain()
    return out


def _pieces(ctx: RetrievedContext) -> list[tuple[str, str, str, float]]:
    groups = (ctx.pinned, ctx.lore, ctx.campaign, ctx.character_states, ctx.recent_events)
    return [(p.source.name, p.source_id, p.text, p.score) for g in groups for p in g]


@pytest.mark.parametrize("milvus_backend", ["lite", "server"], indirect=True)
def test_campaigns_searched_together_never_see_each_others_rows(make_memory: MemoryFactory) -> None:
    memory = make_memory()
    slug = ingest_world(memory)
    campaigns = _two_campaigns(memory, slug)
    ask = ("Who rings the drowned bell?", "What does the lighthouse keeper hide?", "What did we see at dusk?")
    requests = [
        RetrievalRequest(query=q, campaign_id=cid, token_budget=4096, recent_events=1)
        for cid in campaigns
        for q in ask
    ]
    alone = [memory.retriever.retrieve(r) for r in requests]
    # Six calls, each a lore search (one world and audience: they may share) and an events search (per campaign).
    with logged_searches(memory, queued=len(requests) - 1) as log, ThreadPoolExecutor(len(requests)) as pool:
        together = list(pool.map(memory.retriever.retrieve, requests))
    assert len(log.sizes) < 2 * len(requests) and sum(log.sizes) == 2 * len(requests)
    assert max(log.sizes) > 1
    for req, solo, batched in zip(requests, alone, together, strict=True):
        assert _pieces(batched) == _pieces(solo)
        assert not batched.degraded
        found = {p.source_id for p in batched.campaign}
        assert found and found <= campaigns[req.campaign_id]  # its own events only
    for flt in log.filters:
        assert flt.count("tenant == ") == 1  # every search sent is of one tenant


@pytest.mark.parametrize("milvus_backend", ["lite", "server"], indirect=True)
def test_a_vector_store_failure_during_a_batch_degrades_every_waiting_call(
    make_memory: MemoryFactory,
) -> None:
    memory = make_memory()
    slug = ingest_world(memory)
    store = memory.vectors
    client = store._connect()

    def connection_lost(*args: Any, **kwargs: Any) -> Any:
        raise MilvusException(code=2, message="connection reset by peer")

    def break_client() -> None:  # the store fails while the other calls wait for their batch
        client.search = connection_lost

    requests = [RetrievalRequest(query=q, world_id=slug, token_budget=4096) for q in QUERIES]
    solo = memory.retriever.retrieve(requests[1])
    try:
        with logged_searches(memory, queued=len(requests) - 1, after_first=break_client) as log:
            with ThreadPoolExecutor(len(requests)) as pool:
                results = list(pool.map(memory.retriever.retrieve, requests))
    finally:
        del client.search
    assert log.sizes == [1, len(requests) - 1]
    # The call whose search went alone (whichever thread came first) is served by Milvus; the four that
    # waited for the failed batch are degraded, and SQL keyword search stands in as for an unbatched search.
    assert sorted(r.degraded for r in results) == [False, True, True, True, True]
    assert all(r.lore for r in results)
    assert store.available is False and "connection reset by peer" in store.last_error
    # Once Milvus answers again, the same calls are served by it.
    wait_for(store.ping, "the store back after its reconnect back-off")
    again = memory.retriever.retrieve(requests[1])
    assert not again.degraded, store.last_error
    assert _pieces(again) == _pieces(solo)
