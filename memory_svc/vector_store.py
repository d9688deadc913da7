"""The derived vector index in Milvus: one collection per world's lore and per campaign's log.

``MilvusClient`` takes either a Milvus Lite path (``.../milvus.db``, embedded, one process per directory) or an
``http://`` URI of Milvus standalone or a cluster; the code is the same. Each collection holds the SQL row id
as primary key, the dense embedding, the text with a BM25 function feeding a sparse vector (keyword search
inside Milvus), and the audience, so a search touches only its own world or campaign and a player filter is a
scalar comparison. Every failure becomes ``VectorStoreUnavailable`` and is remembered for health reporting;
after a failure no reconnect is attempted until a short back-off passes, so callers degrade at once.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from memory_svc.kinds import VectorScope
from memory_svc.milvus_filters import FilterExpr
from mesh.errors import Unavailable

#: Milvus VARCHAR limit is in bytes; longer texts are cut (the embedding model reads 256 tokens anyway).
MAX_TEXT_BYTES = 65_535
RRF_K = 60


class VectorStoreUnavailable(Unavailable):
    """Milvus could not be reached or refused the call."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="VECTOR_STORE_UNAVAILABLE", domain="milvus")


@dataclass(frozen=True, slots=True)
class VectorRecord:
    """One row of a collection: the SQL id, its embedding, the searchable text and who may see it."""

    id: int
    vector: np.ndarray
    text: str
    audience: int


@dataclass(frozen=True, slots=True)
class Hit:
    """A search hit: SQL row id and fused score (higher is better)."""

    id: int
    score: float


def collection_name(scope: VectorScope, scope_id: int) -> str:
    """Collection of one world's lore or one campaign's events, e.g. ``dm_lore_3``."""
    return f"dm_{scope.value}_{int(scope_id)}"


def is_lite(uri: str) -> bool:
    """True for a Milvus Lite path (no URL scheme)."""
    return "://" not in uri


def redact(uri: str) -> str:
    """The URI without credentials, safe to report."""
    if is_lite(uri):
        return uri
    parts = urlsplit(uri)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def lite_index(index_type: str) -> str:
    """Milvus Lite maps AUTOINDEX to HNSW, which measured slower to search here than FLAT (its per-row Python
    work dominates either way) and costs a minute per 100k rows to build, so Lite uses FLAT unless told."""
    return "FLAT" if index_type == "AUTOINDEX" else index_type


def audience_filter(max_audience: int) -> FilterExpr:
    """Rows a caller of this audience may see."""
    return FilterExpr("audience <= {max_audience}", {"max_audience": int(max_audience)})


def _check_not_locked(data_dir: Path) -> None:
    """Fail with a clear reason when another process holds the Milvus Lite directory's lock.

    pymilvus reports a held lock only as "Open local milvus failed"; probing the same advisory lock (and
    releasing it at once) lets the error, the health reason and the CLI say what is actually wrong.
    """
    lock = data_dir / "LOCK"
    if not lock.exists():
        return
    import fcntl

    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        raise RuntimeError(f"Milvus Lite data directory {data_dir} is locked by another process") from exc
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _cut(text: str) -> str:
    data = text.encode("utf-8")
    if len(data) <= MAX_TEXT_BYTES:
        return text
    return data[:MAX_TEXT_BYTES].decode("utf-8", "ignore")


class VectorStore:
    """Thread-safe wrapper of one ``MilvusClient`` with lazy (re)connection and collection management."""

    def __init__(
        self,
        uri: str,
        dim: int,
        *,
        index_type: str = "AUTOINDEX",
        token: str = "",
        timeout_s: float = 10.0,
        reconnect_after_s: float = 1.0,
        reconnect_max_s: float = 30.0,
    ) -> None:
        self.uri = uri
        self.dim = dim
        self.lite = is_lite(uri)
        self.index_type = lite_index(index_type) if self.lite else index_type
        self._token = token
        self._timeout_s = timeout_s
        self._reconnect_after_s = reconnect_after_s
        self._reconnect_max_s = max(reconnect_max_s, reconnect_after_s)
        self._failures = 0
        self._client: Any = None
        self._known: set[str] = set()
        self._lock = threading.RLock()
        self._retry_at = 0.0
        self.available: bool | None = None
        self.last_error = ""

    # --- connection --------------------------------------------------------------------------------------------

    def _connect(self) -> Any:
        with self._lock:
            if self._client is not None:
                return self._client
            now = time.monotonic()
            if now < self._retry_at:
                raise VectorStoreUnavailable(self.last_error or "vector store unavailable")
            try:
                from pymilvus import MilvusClient

                if self.lite:
                    Path(self.uri).parent.mkdir(parents=True, exist_ok=True)
                    _check_not_locked(Path(self.uri))
                    client = MilvusClient(self.uri)
                else:
                    client = MilvusClient(uri=self.uri, token=self._token, timeout=self._timeout_s)
                client.list_collections()  # a cheap call that proves the store answers
            except Exception as exc:
                self._fail(exc)
                raise VectorStoreUnavailable(self.last_error) from exc
            self._client = client
            self._ok()
            return client

    def _ok(self) -> None:
        self.available = True
        self.last_error = ""
        self._failures = 0

    def _fail(self, exc: BaseException) -> None:
        """Remember the failure; the next connection attempt waits 1, 2, 4... s up to the maximum."""
        self.available = False
        self.last_error = f"{type(exc).__name__}: {exc}"[:1000]
        delay = min(self._reconnect_max_s, self._reconnect_after_s * 2**self._failures)
        self._failures += 1
        self._retry_at = time.monotonic() + delay

    def _call(self, fn_name: str, *args: Any, **kwargs: Any) -> Any:
        client = self._connect()
        try:
            result = getattr(client, fn_name)(*args, **kwargs)
        except Exception as exc:
            with self._lock:
                self._fail(exc)
                if not self.lite:
                    self._drop_client()
            raise VectorStoreUnavailable(self.last_error) from exc
        self._ok()
        return result

    def _drop_client(self) -> None:
        client, self._client = self._client, None
        self._known = set()
        if client is not None:
            try:
                client.close()
            except Exception:  # pragma: no cover - best effort on a broken connection
                pass

    def connect(self) -> None:
        """Connect now (or raise VectorStoreUnavailable, respecting the reconnect back-off)."""
        self._connect()

    def ping(self) -> bool:
        """Try to reach the store (respecting the back-off); True when it answers."""
        try:
            self._call("list_collections")
        except VectorStoreUnavailable:
            return False
        return True

    def close(self) -> None:
        """Close the client; for Milvus Lite also stop the embedded server so its directory is released."""
        with self._lock:
            self._drop_client()
            if self.lite:
                try:
                    from milvus_lite.server_manager import server_manager_instance

                    server_manager_instance.release_server(self.uri)
                except Exception:  # pragma: no cover - best effort at shutdown
                    pass

    # --- collections -------------------------------------------------------------------------------------------

    def _ensure(self, name: str) -> None:
        if name in self._known:
            return
        with self._lock:
            if name in self._known:
                return
            client = self._connect()
            if self._call("has_collection", name):
                self._call("load_collection", name)
            else:
                from pymilvus import DataType, Function, FunctionType

                schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
                schema.add_field("id", DataType.INT64, is_primary=True)
                schema.add_field("vec", DataType.FLOAT_VECTOR, dim=self.dim)
                schema.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT_BYTES, enable_analyzer=True)
                schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
                schema.add_field("audience", DataType.INT8)
                schema.add_function(
                    Function(
                        name="bm25",
                        function_type=FunctionType.BM25,
                        input_field_names=["text"],
                        output_field_names=["sparse"],
                    )
                )
                index = client.prepare_index_params()
                index.add_index("vec", index_type=self.index_type, metric_type="COSINE")
                index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
                self._call("create_collection", name, schema=schema, index_params=index)
            self._known.add(name)

    def drop(self, scope: VectorScope, scope_id: int) -> None:
        """Remove a world's or campaign's collection (reindex starts from nothing)."""
        name = collection_name(scope, scope_id)
        with self._lock:
            if self._call("has_collection", name):
                self._call("drop_collection", name)
            self._known.discard(name)

    def count(self, scope: VectorScope, scope_id: int) -> int:
        """Rows in a collection (0 when it does not exist)."""
        name = collection_name(scope, scope_id)
        if not self._exists(name):
            return 0
        rows = self._call("query", name, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def ids(self, scope: VectorScope, scope_id: int) -> set[int]:
        """Every primary key in a collection (tests and consistency checks)."""
        name = collection_name(scope, scope_id)
        if not self._exists(name):
            return set()
        rows = self._call("query", name, filter="id >= 0", output_fields=["id"], limit=16384)
        return {int(r["id"]) for r in rows}

    def flush(self, scope: VectorScope, scope_id: int) -> None:
        """Seal buffered rows into an indexed segment (speeds up later searches)."""
        name = collection_name(scope, scope_id)
        if name in self._known:
            self._call("flush", name)

    # --- writes ------------------------------------------------------------------------------------------------

    def upsert(self, scope: VectorScope, scope_id: int, records: Sequence[VectorRecord]) -> None:
        """Insert or replace rows by id."""
        if not records:
            return
        name = collection_name(scope, scope_id)
        self._ensure(name)
        data = [
            {
                "id": int(r.id),
                "vec": np.asarray(r.vector, dtype=np.float32).tolist(),
                "text": _cut(r.text),
                "audience": int(r.audience),
            }
            for r in records
        ]
        self._call("upsert", name, data)

    def delete(self, scope: VectorScope, scope_id: int, ids: Sequence[int]) -> None:
        """Delete rows by id (absent ids are ignored)."""
        if not ids:
            return
        name = collection_name(scope, scope_id)
        if not self._exists(name):
            return
        self._call("delete", name, ids=[int(i) for i in ids])

    # --- search ------------------------------------------------------------------------------------------------

    def _exists(self, name: str) -> bool:
        """True when the collection exists; it is loaded (searchable) the first time this process sees it."""
        if name in self._known:
            return True
        with self._lock:
            if name in self._known:
                return True
            if not self._call("has_collection", name):
                return False
            # Collections come back "released" after a restart (Milvus Lite) or a server-side release.
            self._call("load_collection", name)
            self._known.add(name)
            return True

    def hybrid_search(
        self,
        scope: VectorScope,
        scope_id: int,
        vectors: np.ndarray,
        texts: Sequence[str],
        top_k: int,
        max_audience: int,
    ) -> list[list[Hit]]:
        """Dense + BM25 search fused with reciprocal rank fusion, one result list per query.

        ``vectors`` is (n, dim) and ``texts`` has n query strings; all n go to Milvus in one call.
        """
        from pymilvus import AnnSearchRequest, RRFRanker

        name = collection_name(scope, scope_id)
        n = len(texts)
        if not self._exists(name):
            return [[] for _ in range(n)]
        flt = audience_filter(max_audience).request_kwargs(templates_supported=not self.lite)
        dense = AnnSearchRequest(
            data=np.asarray(vectors, dtype=np.float32).tolist(),
            anns_field="vec",
            param={"metric_type": "COSINE"},
            limit=top_k,
            **flt,
        )
        sparse = AnnSearchRequest(
            data=[t if t.strip() else "-" for t in texts],
            anns_field="sparse",
            param={"metric_type": "BM25"},
            limit=top_k,
            **flt,
        )
        results = self._call("hybrid_search", name, [dense, sparse], RRFRanker(RRF_K), limit=top_k)
        return [[Hit(int(h["id"]), float(h["distance"])) for h in hits] for hits in results]

    def dense_search(
        self,
        scope: VectorScope,
        scope_id: int,
        vectors: np.ndarray,
        top_k: int,
        max_audience: int,
        exclude_ids: Sequence[int] = (),
    ) -> list[list[Hit]]:
        """Dense-only search (cosine similarity as score), one result list per query vector.

        ``exclude_ids`` are left out by the filter itself (pinned entries, which the caller already has), so
        they never take one of the ``top_k`` places.
        """
        name = collection_name(scope, scope_id)
        n = int(np.asarray(vectors).shape[0])
        if not self._exists(name):
            return [[] for _ in range(n)]
        expr = audience_filter(max_audience)
        if exclude_ids:
            expr = FilterExpr(
                "audience <= {max_audience} and id not in {exclude}",
                {"max_audience": int(max_audience), "exclude": sorted({int(i) for i in exclude_ids})},
            )
        flt = expr.search_kwargs(templates_supported=not self.lite)
        results = self._call(
            "search",
            name,
            data=np.asarray(vectors, dtype=np.float32).tolist(),
            anns_field="vec",
            limit=top_k,
            search_params={"metric_type": "COSINE"},
            **flt,
        )
        return [[Hit(int(h["id"]), float(h["distance"])) for h in hits] for hits in results]
