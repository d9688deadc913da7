"""The vector outbox: SQL writes queue index changes in their own transaction; a worker applies them to Milvus.

Because the outbox row commits with the change it mirrors, the index can lag but never miss a change, and an
acknowledged write never depends on Milvus being up. The worker takes batches in id order, coalesces repeated
changes of one row (the last wins), turns an upsert of a row that is no longer live (superseded, deleted) into
a delete, embeds through the SQL-backed cache, writes to Milvus, and only then deletes the outbox rows. A failed
batch stays queued with exponential back-off and jitter and is retried until it succeeds.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from memory_svc.columns import utcnow
from memory_svc.db import Database
from memory_svc.embeddings import Embedder
from memory_svc.kinds import OutboxOp, VectorScope
from memory_svc.models import Event, LoreEntry, LoreKeyword, LoreText, OutboxRow
from memory_svc.vector_store import VectorRecord, VectorStore, VectorStoreUnavailable

log = logging.getLogger(__name__)

#: Rows written to a collection since its last flush before the worker seals them into an indexed segment.
FLUSH_AFTER_ROWS = 2000


def enqueue(session: Session, scope: VectorScope, scope_id: int, row_ids: Iterable[int], op: OutboxOp) -> int:
    """Queue index changes for rows in the caller's transaction; returns how many were queued."""
    rows = [{"scope": scope.value, "scope_id": scope_id, "row_id": rid, "op": op.value} for rid in row_ids]
    if rows:
        session.execute(insert(OutboxRow), rows)
    return len(rows)


def lore_embedding_text(title: str, content: str) -> str:
    """What the model embeds for a lore entry: its heading path gives short sections their context."""
    return f"{title}\n{content}" if title else content


def lore_search_text(title: str, keywords: Iterable[str], content: str) -> str:
    """What BM25 indexes for a lore entry: title, keywords and text."""
    return "\n".join(part for part in (title, " ".join(keywords), content) if part)


def event_text(actor: str, content: str) -> str:
    """What is embedded and indexed for a campaign event."""
    return f"{actor}: {content}" if actor else content


def vector_records(
    db: Database, embedder: Embedder, scope: VectorScope, ids: list[int]
) -> tuple[list[VectorRecord], list[int]]:
    """Vector records of the live rows among ``ids`` (embedded through the cache), and the ids not live."""
    if not ids:
        return [], []
    embed_texts: list[str] = []
    search_texts: list[str] = []
    live: list[tuple[int, int]] = []
    with db.read() as session:
        if scope is VectorScope.LORE:
            keywords: dict[int, list[str]] = {}
            for entry_id, keyword in session.execute(
                select(LoreKeyword.entry_id, LoreKeyword.keyword)
                .where(LoreKeyword.entry_id.in_(ids))
                .order_by(LoreKeyword.entry_id, LoreKeyword.position)
            ):
                keywords.setdefault(entry_id, []).append(keyword)
            rows = session.execute(
                select(LoreEntry.id, LoreEntry.audience, LoreEntry.title, LoreText.content)
                .join(LoreText, LoreText.id == LoreEntry.text_id)
                .where(LoreEntry.id.in_(ids), LoreEntry.superseded.is_(False), LoreEntry.deleted.is_(False))
            )
            for entry_id, audience, title, content in rows:
                live.append((entry_id, audience))
                embed_texts.append(lore_embedding_text(title, content))
                search_texts.append(lore_search_text(title, keywords.get(entry_id, []), content))
        else:
            rows = session.execute(
                select(Event.id, Event.audience, Event.actor, Event.content).where(Event.id.in_(ids))
            )
            for event_id, audience, actor, content in rows:
                live.append((event_id, audience))
                text = event_text(actor, content)
                embed_texts.append(text)
                search_texts.append(text)
    vectors = embedder.embed_documents(db, embed_texts)
    records = [
        VectorRecord(id=rid, vector=vec, text=text, audience=aud)
        for (rid, aud), vec, text in zip(live, vectors, search_texts, strict=True)
    ]
    live_ids = {rid for rid, _ in live}
    return records, [rid for rid in ids if rid not in live_ids]


@dataclass
class WorkerStats:
    """Counters of what the worker did (tests and benchmarks read them)."""

    upserted: int = 0
    deleted: int = 0
    batches: int = 0
    failures: int = 0
    last_error: str = ""
    #: Seconds spent writing to Milvus (upserts and deletes).
    vector_seconds: float = 0.0


class OutboxWorker:
    """Applies queued index changes to Milvus, in batches, until the outbox is empty."""

    def __init__(
        self,
        db: Database,
        embedder: Embedder,
        vectors: VectorStore,
        *,
        batch_size: int = 256,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        poll_s: float = 1.0,
    ) -> None:
        self.db = db
        self.embedder = embedder
        self.vectors = vectors
        self.batch_size = batch_size
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.poll_s = poll_s
        self.stats = WorkerStats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._lock = threading.Lock()
        self._unflushed: dict[tuple[VectorScope, int], int] = {}

    # --- state -------------------------------------------------------------------------------------------------

    def pending(self) -> int:
        """Outbox rows not yet applied (including those waiting out a back-off)."""
        with self.db.read() as session:
            return int(session.scalar(select(func.count()).select_from(OutboxRow)) or 0)

    def notify(self) -> None:
        """Wake the worker now (a write just queued rows); safe from any thread."""
        loop, wake = self._loop, self._wake
        if loop is None or wake is None:
            return
        try:
            if asyncio.get_running_loop() is loop:
                wake.set()
                return
        except RuntimeError:
            pass
        loop.call_soon_threadsafe(wake.set)

    def seconds_until_due(self) -> float:
        """How long until the earliest queued row may be tried (0 when one is due now; poll_s when none)."""
        with self.db.read() as session:
            due = session.scalar(select(func.min(OutboxRow.available_at)))
        if due is None:
            return self.poll_s
        return float(max(0.0, min(self.poll_s, (due - utcnow()).total_seconds())))

    # --- work --------------------------------------------------------------------------------------------------

    def drain_once(self) -> int:
        """Apply one batch of due rows; returns how many outbox rows it completed (0 = nothing due).

        Raises VectorStoreUnavailable after scheduling the batch's retry when Milvus fails.
        """
        with self._lock:
            with self.db.read() as session:
                batch = list(
                    session.scalars(
                        select(OutboxRow)
                        .where(OutboxRow.available_at <= utcnow())
                        .order_by(OutboxRow.id)
                        .limit(self.batch_size)
                    )
                )
            if not batch:
                self._flush_pending(force=True)
                return 0
            try:
                self._apply(batch)
            except Exception as exc:
                self._retry_later(batch, exc)
                if isinstance(exc, VectorStoreUnavailable):
                    raise
                raise VectorStoreUnavailable(f"outbox batch failed: {exc}") from exc
            with self.db.write() as session:
                session.execute(delete(OutboxRow).where(OutboxRow.id.in_([r.id for r in batch])))
            self.stats.batches += 1
            self._flush_pending(force=False)
            return len(batch)

    def drain(self, progress: Callable[[int], None] | None = None, max_batches: int | None = None) -> int:
        """Apply due batches until none is due; returns rows completed. Raises on the first failing batch."""
        total = 0
        batches = 0
        while max_batches is None or batches < max_batches:
            done = self.drain_once()
            if done == 0:
                break
            total += done
            batches += 1
            if progress is not None:
                progress(done)
        return total

    async def run(self, stop: asyncio.Event) -> None:
        """Drain forever (until ``stop``); between batches it sleeps only while nothing is due or notified."""
        self._loop = asyncio.get_running_loop()
        self._wake = wake = asyncio.Event()
        try:
            while not stop.is_set():
                wake.clear()
                try:
                    done = await asyncio.to_thread(self.drain_once)
                except VectorStoreUnavailable as exc:
                    log.warning("vector outbox batch failed; will retry", extra={"error": str(exc)})
                    done = 0
                except Exception:  # keep the worker alive; a failed batch is already rescheduled
                    log.exception("vector outbox worker error")
                    done = 0
                if done:
                    continue
                try:
                    wait = await asyncio.to_thread(self.seconds_until_due)
                except Exception:
                    log.exception("vector outbox worker could not read the outbox")
                    wait = self.poll_s
                waiters = {asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())}
                _, pending = await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
                for task in pending:
                    task.cancel()
        finally:
            self._loop = self._wake = None

    # --- internals ---------------------------------------------------------------------------------------------

    def _apply(self, batch: list[OutboxRow]) -> None:
        self.vectors.connect()  # fail fast, before spending CPU on embeddings, while Milvus is down
        final: dict[tuple[str, int], dict[int, str]] = {}
        for row in batch:  # id order: the last change of a row wins
            final.setdefault((row.scope, row.scope_id), {})[row.row_id] = row.op
        for (scope_name, scope_id), ops in final.items():
            scope = VectorScope(scope_name)
            upserts = [rid for rid, op in ops.items() if op == OutboxOp.UPSERT.value]
            deletes = [rid for rid, op in ops.items() if op == OutboxOp.DELETE.value]
            records, gone = vector_records(self.db, self.embedder, scope, upserts)
            deletes.extend(gone)
            started = time.perf_counter()
            if records:
                self.vectors.upsert(scope, scope_id, records)
                self.stats.upserted += len(records)
                key = (scope, scope_id)
                self._unflushed[key] = self._unflushed.get(key, 0) + len(records)
            if deletes:
                self.vectors.delete(scope, scope_id, deletes)
                self.stats.deleted += len(deletes)
            self.stats.vector_seconds += time.perf_counter() - started

    def _retry_later(self, batch: list[OutboxRow], exc: BaseException) -> None:
        attempts = max(r.attempts for r in batch) + 1
        delay = min(self.backoff_max_s, self.backoff_initial_s * 2 ** (attempts - 1))
        delay *= random.uniform(0.5, 1.0)
        message = f"{type(exc).__name__}: {exc}"[:1000]
        self.stats.failures += 1
        self.stats.last_error = message
        with self.db.write() as session:
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_([r.id for r in batch]))
                .values(
                    attempts=OutboxRow.attempts + 1,
                    available_at=utcnow() + timedelta(seconds=delay),
                    last_error=message,
                )
            )

    def _flush_pending(self, force: bool) -> None:
        for key, count in list(self._unflushed.items()):
            if count >= FLUSH_AFTER_ROWS or (force and count >= FLUSH_AFTER_ROWS // 4):
                try:
                    self.vectors.flush(*key)
                except VectorStoreUnavailable:
                    return
                self._unflushed.pop(key, None)
