"""The memory service's parts wired together from settings: database, embedder, vector store, worker, retriever.

The gRPC servicer, the CLI and the benchmark all build one ``Memory`` so they run the same code paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from memory_svc.db import Database
from memory_svc.embeddings import Embedder
from memory_svc.models import OutboxRow
from memory_svc.outbox import OutboxWorker
from memory_svc.retrieval import Retriever
from memory_svc.tokens import TokenCounter
from memory_svc.vector_store import VectorStore, VectorStoreUnavailable, redact
from mesh.milvus_server import EMBEDDED_SERVER, EmbeddedMilvus

TOKENIZER_NAME = "all-MiniLM-L6-v2 WordPiece (bert-base-uncased vocabulary)"


@dataclass(frozen=True, slots=True)
class IndexStatus:
    """State of the derived vector index."""

    vector_store_available: bool
    outbox_pending: int
    last_error: str
    vector_store_uri: str


class Memory:
    """Everything the memory service needs, built from ``mesh.settings.Settings`` (or explicit parts)."""

    def __init__(
        self,
        db: Database,
        embedder: Embedder,
        vectors: VectorStore,
        *,
        outbox_batch_size: int = 256,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        poll_s: float = 1.0,
        max_document_bytes: int = 1024 * 1024,
    ) -> None:
        self.db = db
        self.embedder = embedder
        self.vectors = vectors
        self.counter = TokenCounter(embedder.model_path, TOKENIZER_NAME)
        self.worker = OutboxWorker(
            db,
            embedder,
            vectors,
            batch_size=outbox_batch_size,
            backoff_initial_s=backoff_initial_s,
            backoff_max_s=backoff_max_s,
            poll_s=poll_s,
        )
        self.retriever = Retriever(db, embedder, vectors, self.counter)
        self.max_document_bytes = max_document_bytes
        #: The embedded Milvus server this memory started (``DM_MILVUS_URI=embedded-server``), stopped on close.
        self.server: EmbeddedMilvus | None = None

    @classmethod
    def from_settings(cls, settings: Any, embedder: Embedder | None = None) -> Memory:
        """Build from mesh settings; pass ``embedder`` to share one loaded model (tests, benchmarks)."""
        db = Database(settings.database_url)
        embedder = embedder or Embedder(
            settings.embedding_model,
            dtype=settings.memory_embedding_dtype,
            batch_size=settings.memory_embedding_batch_size,
        )
        uri = settings.milvus_uri
        server = None
        if uri == EMBEDDED_SERVER:
            server = EmbeddedMilvus(Path(settings.data_dir) / "milvus-server")
            uri = server.start()
        vectors = VectorStore(
            uri,
            embedder.dim,
            index_type=settings.memory_vector_index,
            batch_window_s=settings.memory_search_batch_window_s,
            batch_max=settings.memory_search_batch_max,
        )
        memory = cls(
            db,
            embedder,
            vectors,
            outbox_batch_size=settings.memory_outbox_batch_size,
            backoff_initial_s=settings.memory_outbox_backoff_initial_s,
            backoff_max_s=settings.memory_outbox_backoff_max_s,
            poll_s=settings.memory_outbox_poll_s,
            max_document_bytes=settings.memory_max_document_bytes,
        )
        memory.server = server
        return memory

    def migrate(self) -> None:
        """Apply pending schema migrations."""
        self.db.upgrade()

    def migrate_vector_layout(self) -> list[str]:
        """Move an index of the earlier one-collection-per-world/campaign layout into the shared collections."""
        from memory_svc.reindex import migrate_layout

        try:
            return migrate_layout(self.db, self.embedder, self.vectors)
        except VectorStoreUnavailable:
            return []  # retried at the next start; retrieval degrades to SQL keyword search meanwhile

    def outbox_pending(self) -> int:
        """Index changes not yet applied."""
        with self.db.read() as session:
            return int(session.scalar(select(func.count()).select_from(OutboxRow)) or 0)

    def index_status(self) -> IndexStatus:
        """Reachability of Milvus (tried now, within the reconnect back-off) and the outbox backlog."""
        available = self.vectors.ping()
        return IndexStatus(
            vector_store_available=available,
            outbox_pending=self.outbox_pending(),
            last_error=self.vectors.last_error or self.worker.stats.last_error if not available else "",
            vector_store_uri=redact(self.vectors.uri),
        )

    def close(self) -> None:
        """Release Milvus and the database."""
        self.vectors.close()
        self.db.dispose()
        if self.server is not None:
            self.server.stop()
            self.server = None
