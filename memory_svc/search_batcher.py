"""Concurrent dense searches with the same collection, filter and limit go to Milvus as one multi-vector search.

``MilvusClient.search`` takes a list of query vectors but one filter expression per call (pymilvus 2.3
``search(collection_name, data, filter, limit, ...)``; filter templates, where a server has them, still bind one
expression per request). So searches are grouped by their exact key, collection plus rendered filter plus limit,
and only those are batched: each query of the batch gets exactly the rows and the top-``limit`` an unbatched
search would give, and a search of one world, campaign or audience never sees another's rows. A union filter
with a per-query post-filter would have to over-fetch without bound to keep every query's top-``limit`` exact.

A search that finds no search of its key in flight is sent at once, so a lone call waits for nothing. Searches
arriving while one of their key is in flight gather into the next batch, which is sent when that search
returns, when ``window_s`` has passed since the batch opened, or when it holds ``max_batch`` vectors, whichever
comes first: a call waits at most the window before its search is sent. A failed batched search fails every
caller of the batch with the same error an unbatched search raises.

Measured: a Milvus 2.3 server returns the same ids and scores for a query searched alone or in a batch; Milvus
Lite the same ids in the same order, with cosine scores that may differ in the last float32 bit (about 1e-7,
another summation order). RetrieveContext fuses dense hits by rank, so that cannot change what it returns
unless two scores tie to within that rounding.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

from mesh import metrics

#: Longest a search waits for others to join it (s): a few milliseconds, about one server-side search.
DEFAULT_WINDOW_S = 0.005
#: Most query vectors per batched search.
DEFAULT_MAX_BATCH = 64

SEARCHES = metrics.counter(
    "dm_memory_vector_searches",
    "Searches sent to Milvus, by collection (one batched search counts once).",
    ["collection"],
)
BATCH_SIZE = metrics.histogram(
    "dm_memory_vector_search_batch_size",
    "Query vectors per search sent to Milvus.",
    ["collection"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)


@dataclass(frozen=True, slots=True)
class SearchKey:
    """What must be identical for searches to share one Milvus call."""

    collection: str
    filter: str
    limit: int


R = TypeVar("R")


@dataclass(slots=True)
class _Batch(Generic[R]):
    key: SearchKey
    rows: list[np.ndarray] = field(default_factory=list)
    size: int = 0
    done: threading.Event = field(default_factory=threading.Event)
    results: list[R] = field(default_factory=list)
    error: BaseException | None = None

    def add(self, vectors: np.ndarray) -> int:
        start = self.size
        self.rows.append(vectors)
        self.size += int(vectors.shape[0])
        return start


class SearchBatcher(Generic[R]):
    """Thread-safe: callers are worker threads (RetrieveContext runs off the event loop), each blocking in
    ``search`` until its batch returns. The first caller of a batch sends it; the others wait for its result.

    ``search`` runs one Milvus search: the key and an ``(n, dim)`` float32 array, one result (hit list) per row.
    """

    def __init__(
        self,
        search: Callable[[SearchKey, np.ndarray], list[R]],
        window_s: float = DEFAULT_WINDOW_S,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        if window_s < 0 or max_batch < 1:
            raise ValueError("window_s must be >= 0 and max_batch >= 1")
        self._search = search
        self.window_s = window_s
        self.max_batch = max_batch
        self._cond = threading.Condition()
        self._open: dict[SearchKey, _Batch[R]] = {}
        self._in_flight: dict[SearchKey, int] = {}

    def search(self, key: SearchKey, vectors: np.ndarray) -> list[R]:
        """Hits per row of ``vectors`` (``(n, dim)``), exactly as one search of ``key`` alone returns them."""
        vectors = np.asarray(vectors, dtype=np.float32)
        n = int(vectors.shape[0])
        if n == 0:
            return []
        if self.window_s == 0 or n >= self.max_batch:
            return self._send(key, vectors)
        with self._cond:
            batch = self._open.get(key)
            if batch is not None and batch.size + n <= self.max_batch:
                start = batch.add(vectors)
                if batch.size >= self.max_batch:
                    del self._open[key]  # full: its sender goes now
                    self._cond.notify_all()
                leader = False
            else:
                if batch is not None:
                    self._cond.notify_all()  # the open batch cannot take these rows: it is closed, sent now
                batch = _Batch[R](key)
                start = batch.add(vectors)
                self._open[key] = batch
                leader = True
                deadline = time.monotonic() + self.window_s
                while self._open.get(key) is batch and self._in_flight.get(key, 0) > 0:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                if self._open.get(key) is batch:
                    del self._open[key]
                self._in_flight[key] = self._in_flight.get(key, 0) + 1
        if leader:
            self._run(batch)
        else:
            batch.done.wait()
        if batch.error is not None:
            if leader:
                raise batch.error
            raise _again(batch.error)
        return batch.results[start : start + n]

    def waiting(self, key: SearchKey | None = None) -> int:
        """Query vectors gathered for ``key``'s next search (or every key's) and not yet sent (diagnostics)."""
        with self._cond:
            if key is None:
                return sum(b.size for b in self._open.values())
            batch = self._open.get(key)
            return 0 if batch is None else batch.size

    def _run(self, batch: _Batch[R]) -> None:
        try:
            data = batch.rows[0] if len(batch.rows) == 1 else np.concatenate(batch.rows)
            batch.results = self._send(batch.key, data)
        except BaseException as exc:
            batch.error = exc
        finally:
            with self._cond:
                left = self._in_flight[batch.key] - 1
                if left:
                    self._in_flight[batch.key] = left
                else:
                    del self._in_flight[batch.key]
                self._cond.notify_all()
            batch.done.set()

    def _send(self, key: SearchKey, data: np.ndarray) -> list[R]:
        SEARCHES.labels(key.collection).inc()
        BATCH_SIZE.labels(key.collection).observe(int(data.shape[0]))
        results = self._search(key, data)
        if len(results) != int(data.shape[0]):
            raise RuntimeError(
                f"search returned {len(results)} result lists for {data.shape[0]} query vectors"
            )
        return results


def _again(error: BaseException) -> BaseException:
    """The error for a caller that shared the failed search: a copy of the same type and fields, chained to the
    original (one exception object raised in several threads would share and grow one traceback)."""
    try:
        again = copy.copy(error).with_traceback(None)
    except Exception:  # pragma: no cover - an exception type that cannot be copied is raised as it is
        return error
    again.__cause__ = error
    return again
