"""The derived vector index in Milvus: one collection per kind (lore, events) and embedding dimension.

``MilvusClient`` takes either a Milvus Lite path (``.../milvus.db``, embedded, one process per directory) or an
``http://`` URI of Milvus standalone or a cluster; the code is the same. Every world's lore shares one
collection and every campaign's events another; the world or campaign id is the partition key (``tenant``), so
a search touches only its own tenant's partition, and the audience is a scalar field, so a player filter is a
comparison. A collection holds only the SQL row id, the dense embedding, the tenant and the audience: text and
keyword search stay in SQL. Every failure becomes ``VectorStoreUnavailable`` and is remembered for health
reporting; after a failure no reconnect is attempted until a short back-off passes, so callers degrade at once.
Every call has a deadline (a server that stops answering must not hang a caller), and a collection still
loading (after a server restart this takes tens of seconds) makes searches degrade instead of waiting for it.
"""

from __future__ import annotations

import os
import re
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
from memory_svc.search_batcher import DEFAULT_MAX_BATCH, DEFAULT_WINDOW_S, SearchBatcher, SearchKey
from mesh.errors import Unavailable

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


def collection_name(scope: VectorScope, dim: int, prefix: str = "dm") -> str:
    """The one collection holding every world's lore (or every campaign's events) embedded at ``dim``.

    Worlds and campaigns are tenants inside it (a partition-key field), not collections of their own: Milvus
    limits collections per cluster and pays memory per loaded collection, so thousands of campaigns must not mean
    thousands of collections. E.g. ``dm_lore_d384``.
    """
    return f"{prefix}_{scope.value}_d{int(dim)}"


def legacy_collection(name: str, prefix: str = "dm") -> tuple[VectorScope, int] | None:
    """The scope and id of a collection of the earlier layout, one per world (``dm_lore_3``) or campaign
    (``dm_events_7``); None for any other name."""
    match = re.match(rf"^{re.escape(prefix)}_(lore|events)_(\d+)$", name)
    if match is None:
        return None
    return VectorScope(match.group(1)), int(match.group(2))


def tenant_filter(
    scope_id: int, max_audience: int | None = None, exclude_ids: Sequence[int] = ()
) -> FilterExpr:
    """Rows of one world or campaign (and, optionally, of this audience, less some ids)."""
    parts = ["tenant == {tenant}"]
    params: dict[str, Any] = {"tenant": int(scope_id)}
    if max_audience is not None:
        parts.append("audience <= {max_audience}")
        params["max_audience"] = int(max_audience)
    if exclude_ids:
        parts.append("id not in {exclude}")
        params["exclude"] = sorted({int(i) for i in exclude_ids})
    return FilterExpr(" and ".join(parts), params)


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
        wait_timeout_s: float = 120.0,
        search_timeout_s: float = 5.0,
        reconnect_after_s: float = 1.0,
        reconnect_max_s: float = 30.0,
        prefix: str = "dm",
        batch_window_s: float = DEFAULT_WINDOW_S,
        batch_max: int = DEFAULT_MAX_BATCH,
    ) -> None:
        self.uri = uri
        #: Collection name prefix: deployments (or tests) sharing one server keep apart by it.
        self.prefix = prefix
        self.dim = dim
        self.lite = is_lite(uri)
        self.index_type = lite_index(index_type) if self.lite else index_type
        self._token = token
        #: Deadline of one call; calls that wait for the server to finish work (loading a collection, sealing
        #: segments) get ``wait_timeout_s``, and searches ``search_timeout_s``: a server recovering from a crash
        #: accepts searches but holds them until its query nodes are back, and a turn had better degrade to
        #: keyword search than wait for that.
        self._timeout_s = timeout_s
        self._wait_timeout_s = wait_timeout_s
        self._search_timeout_s = search_timeout_s
        self._reconnect_after_s = reconnect_after_s
        self._reconnect_max_s = max(reconnect_max_s, reconnect_after_s)
        self._failures = 0
        self._client: Any = None
        self._known: set[str] = set()
        self._loading: set[str] = set()
        self._lock = threading.RLock()
        self._retry_at = 0.0
        self.available: bool | None = None
        self.last_error = ""
        #: Concurrent dense searches of one collection, filter and limit share one Milvus search.
        self.batcher = SearchBatcher(self._search, batch_window_s, batch_max)

    # --- connection --------------------------------------------------------------------------------------------

    def _connect(self) -> Any:
        client = self._client  # connected: no lock, so health checks never queue behind a slow call
        if client is not None:
            return client
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
        kwargs.setdefault("timeout", self._timeout_s)
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
        if self._exists(name):
            return
        with self._lock:
            client = self._connect()
            if not self._call("has_collection", name):
                from pymilvus import DataType

                # Only what a dense search and its filters need, so every Milvus from 2.3 up serves it; the text
                # stays in SQL, which also does the keyword search.
                schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
                schema.add_field("id", DataType.INT64, is_primary=True)
                schema.add_field("vec", DataType.FLOAT_VECTOR, dim=self.dim)
                schema.add_field("tenant", DataType.INT64, is_partition_key=True)
                schema.add_field("audience", DataType.INT8)
                index = client.prepare_index_params()
                index.add_index(
                    "vec", index_type=self.index_type, metric_type="COSINE", **self._index_params()
                )
                self._call(
                    "create_collection",
                    name,
                    schema=schema,
                    index_params=index,
                    consistency_level="Session",
                    timeout=self._wait_timeout_s,
                )
            self._known.add(name)

    def _index_params(self) -> dict[str, Any]:
        if self.index_type == "HNSW":
            return {"params": {"M": 16, "efConstruction": 128}}
        return {}

    def _name(self, scope: VectorScope) -> str:
        return collection_name(scope, self.dim, self.prefix)

    def drop(self, scope: VectorScope, scope_id: int) -> None:
        """Remove every vector of one world or campaign (reindex starts from nothing); other tenants stay."""
        name = self._name(scope)
        if not self._exists(name):
            return
        # By primary key, in batches: Milvus 2.3 deletes only by primary-key expressions.
        for _ in range(1000):  # bounded: 16,384 ids per round
            ids = self.ids(scope, scope_id)
            if not ids:
                return
            self._call("delete", name, ids=sorted(ids))

    def count(self, scope: VectorScope, scope_id: int) -> int:
        """Vectors of one world or campaign (0 when there are none)."""
        name = self._name(scope)
        if not self._exists(name):
            return 0
        rows = self._call(
            "query", name, filter=tenant_filter(scope_id).rendered(), output_fields=["count(*)"]
        )
        return int(rows[0]["count(*)"]) if rows else 0

    def ids(self, scope: VectorScope, scope_id: int) -> set[int]:
        """Every primary key of one world or campaign (tests and consistency checks)."""
        name = self._name(scope)
        if not self._exists(name):
            return set()
        rows = self._call(
            "query", name, filter=tenant_filter(scope_id).rendered(), output_fields=["id"], limit=16384
        )
        return {int(r["id"]) for r in rows}

    def flush(self, scope: VectorScope, scope_id: int) -> None:
        """Seal buffered rows into an indexed segment (speeds up later searches)."""
        name = self._name(scope)
        if name in self._known:
            self._call("flush", name, timeout=self._wait_timeout_s)

    def legacy_collections(self) -> list[tuple[str, VectorScope, int]]:
        """Collections of the earlier one-per-world/campaign layout still present (migration input)."""
        out: list[tuple[str, VectorScope, int]] = []
        for name in sorted(self._call("list_collections")):
            found = legacy_collection(str(name), self.prefix)
            if found is not None:
                out.append((str(name), *found))
        return out

    def drop_collection(self, name: str) -> None:
        """Drop a whole collection by name (a migrated legacy one)."""
        with self._lock:
            if self._call("has_collection", name):
                self._call("drop_collection", name)
            self._known.discard(name)

    # --- writes ------------------------------------------------------------------------------------------------

    def upsert(self, scope: VectorScope, scope_id: int, records: Sequence[VectorRecord]) -> None:
        """Insert or replace rows by id in one world's or campaign's part of the collection."""
        if not records:
            return
        name = self._name(scope)
        self._ensure(name)
        data = [
            {
                "id": int(r.id),
                "vec": np.asarray(r.vector, dtype=np.float32).tolist(),
                "tenant": int(scope_id),
                "audience": int(r.audience),
            }
            for r in records
        ]
        if self.lite:
            self._call("upsert", name, data)
        else:
            # Milvus 2.3 cannot upsert into a collection with a partition key: delete, then insert.
            self._call("delete", name, ids=[row["id"] for row in data])
            self._call("insert", name, data)

    def delete(self, scope: VectorScope, scope_id: int, ids: Sequence[int]) -> None:
        """Delete rows by id (absent ids are ignored)."""
        if not ids:
            return
        name = self._name(scope)
        if not self._exists(name):
            return
        self._call("delete", name, ids=[int(i) for i in ids])

    # --- search ------------------------------------------------------------------------------------------------

    def _exists(self, name: str, load_timeout_s: float | None = None) -> bool:
        """True when the collection exists; it is loaded (searchable) the first time this process sees it.

        Raises VectorStoreUnavailable at once while another caller is loading it: the load is not held under
        the store's lock, so health checks and other collections go on meanwhile. The load waits up to
        ``load_timeout_s`` (default: the wait deadline); the server goes on loading after a caller gives up.
        """
        if name in self._known:
            return True
        with self._lock:
            if name in self._known:
                return True
            if name in self._loading:
                raise VectorStoreUnavailable(f"collection {name} is still loading")
            self._loading.add(name)
        try:
            if not self._call("has_collection", name):
                return False
            # Collections come back "released" after a restart (Milvus Lite) or a server-side release, and a
            # restarted server first recovers them.
            self._call("load_collection", name, timeout=load_timeout_s or self._wait_timeout_s)
            self._known.add(name)
            return True
        finally:
            with self._lock:
                self._loading.discard(name)

    def dense_search(
        self,
        scope: VectorScope,
        scope_id: int,
        vectors: np.ndarray,
        top_k: int,
        max_audience: int,
        exclude_ids: Sequence[int] = (),
    ) -> list[list[Hit]]:
        """Dense search in one world or campaign (cosine similarity as score), one result list per query vector.

        The tenant and audience are filters on scalar fields (the tenant is the partition key, so only its
        partition is searched). ``exclude_ids`` are left out by the filter itself (pinned entries, which the
        caller already has), so they never take one of the ``top_k`` places. Searches of the same tenant,
        audience and exclusions arriving together are sent as one (``SearchBatcher``).
        """
        name = self._name(scope)
        n = int(np.asarray(vectors).shape[0])
        # A server goes on loading after a search gives up waiting for it, so the next search finds it loaded;
        # Milvus Lite loads within the call, so a search there waits as long as a write would.
        load_timeout_s = None if self.lite else self._search_timeout_s
        if not self._exists(name, load_timeout_s=load_timeout_s):
            return [[] for _ in range(n)]
        # Rendered as literals (typed integers only): Milvus 2.3 servers and Milvus Lite both lack filter
        # templates. The rendered text is also the batch key: only identical filters share a search.
        flt = tenant_filter(scope_id, max_audience, exclude_ids).rendered()
        return self.batcher.search(SearchKey(name, flt, int(top_k)), np.asarray(vectors, dtype=np.float32))

    def _search(self, key: SearchKey, vectors: np.ndarray) -> list[list[Hit]]:
        """One Milvus search of every row of ``vectors`` under one filter (what a batch sends)."""
        results = self._call(
            "search",
            key.collection,
            data=vectors.tolist(),
            anns_field="vec",
            limit=key.limit,
            search_params={"metric_type": "COSINE"},
            output_fields=["id"],
            timeout=self._search_timeout_s,
            filter=key.filter,
        )
        return [[Hit(int(h["id"]), float(h["distance"])) for h in hits] for hits in results]
