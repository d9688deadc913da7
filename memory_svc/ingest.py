"""Ingest a world's documents (markdown with YAML front matter) into versioned lore entries.

Documents are parsed and chunked by ``lore`` (by heading, stable keys, normalised text, SHA-256). Each document
is one transaction: new keys become version 1, changed chunks a new version (the old one kept, superseded),
unchanged chunks write nothing, and chunks that disappeared from the document are soft-deleted. With
``delete_missing`` (a full sync) entries of documents not sent at all are soft-deleted too. Every change
queues its vector-index change in the same transaction; the outbox worker embeds them afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lore.chunking import Chunk, chunk_document
from lore.documents import LoreDocument, parse_document_text
from lore.errors import LoreFormatError
from memory_svc import refs
from memory_svc.catalog import create_world
from memory_svc.db import Database
from memory_svc.kinds import Audience
from memory_svc.lore_entries import (
    EntryFields,
    NewVersion,
    TextStore,
    insert_versions,
    same_version,
    soft_delete,
)
from memory_svc.models import LoreEntry, World
from mesh.errors import InvalidArgument, Violations

DEFAULT_MAX_DOCUMENT_BYTES = 1024 * 1024


@dataclass
class IngestResult:
    """Counts of one ingest run."""

    documents: int = 0
    chunks: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    queued_for_embedding: int = 0


@dataclass(frozen=True, slots=True)
class SourceDocument:
    """A document as sent: its path inside the world folder and its text."""

    path: str
    content: str


def chunk_fields(document: LoreDocument, chunk: Chunk) -> EntryFields:
    """The entry fields of a chunk. The document's structured facts ride on its first chunk's metadata."""
    metadata: dict[str, Any] = {
        "kind": document.kind,
        "heading_path": list(chunk.heading_path),
        "part": chunk.part,
        "ordinal": chunk.ordinal,
        "tags": list(chunk.tags),
    }
    if chunk.ordinal == 0 and document.metadata:
        metadata["facts"] = dict(document.metadata)
    return EntryFields(
        title=chunk.title,
        content=chunk.text,
        category=document.kind,
        keywords=chunk.keywords,
        metadata=metadata,
        audience=int(Audience.DM if chunk.dm_only else Audience.PLAYER),
        pinned=chunk.pinned,
        source_path=document.path,
    ).normalised()


def parse(source: SourceDocument, index: int, max_bytes: int) -> LoreDocument:
    """Validate and parse one sent document; problems are INVALID_ARGUMENT naming the field and the file."""
    v = Violations()
    path = source.path.strip()
    v.check(bool(path), "path", f"document {index}: must not be empty")
    if path:
        v.check(
            not Path(path).is_absolute() and ".." not in Path(path).parts and len(path) <= 400,
            "path",
            f"document {index}: must be a relative path inside the world folder (at most 400 characters)",
        )
        v.check(path.endswith(".md"), "path", f"document {index}: must be a markdown file (.md)")
    size = len(source.content.encode("utf-8"))
    v.check(size <= max_bytes, "content", f"document {index} ({path}): {size} bytes exceeds {max_bytes}")
    v.check(bool(source.content.strip()), "content", f"document {index} ({path}): must not be empty")
    v.raise_if_any()
    try:
        return parse_document_text(source.content, path)
    except LoreFormatError as exc:
        raise InvalidArgument([("content", str(exc))]) from exc


def _ingest_document(session: Session, world_id: int, document: LoreDocument, result: IngestResult) -> None:
    chunks = chunk_document(document)
    result.chunks += len(chunks)
    existing: dict[str, LoreEntry] = {
        e.key: e
        for e in session.scalars(
            select(LoreEntry).where(
                LoreEntry.world_id == world_id,
                LoreEntry.source_path == document.path,
                LoreEntry.superseded.is_(False),
            )
        ).unique()
    }
    fresh_keys = [c.key for c in chunks if c.key not in existing]
    last_versions: dict[str, int] = {}
    for start in range(0, len(fresh_keys), 500):
        part = fresh_keys[start : start + 500]
        rows = session.execute(
            select(LoreEntry.key, func.max(LoreEntry.version))
            .where(LoreEntry.world_id == world_id, LoreEntry.key.in_(part))
            .group_by(LoreEntry.key)
        )
        last_versions.update((key, int(version)) for key, version in rows)
    items: list[NewVersion] = []
    for chunk in chunks:
        fields = chunk_fields(document, chunk)
        previous = existing.pop(chunk.key, None)
        if previous is None:
            last = last_versions.get(chunk.key, 0)
            items.append(NewVersion(chunk.key, fields, chunk.content_hash, last + 1))
            result.created += last == 0
            result.updated += last != 0
        elif previous.deleted or not same_version(previous, fields, chunk.content_hash):
            items.append(NewVersion(chunk.key, fields, chunk.content_hash, previous.version + 1, previous.id))
            result.updated += 1
        else:
            result.unchanged += 1
    insert_versions(session, TextStore(session), world_id, items)
    result.queued_for_embedding += len(items)
    gone = [e for e in existing.values() if not e.deleted]
    soft_delete(session, gone)
    result.deleted += len(gone)


class Ingestion:
    """One ingest run, fed a document at a time (the RPC's stream, or a folder), each in its own transaction."""

    def __init__(
        self,
        db: Database,
        world_ref: str,
        *,
        delete_missing: bool = False,
        max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
    ) -> None:
        self.db = db
        self.delete_missing = delete_missing
        self.max_document_bytes = max_document_bytes
        self.result = IngestResult()
        self._seen: set[str] = set()
        with db.read() as session:
            self.world_id = refs.world(session, world_ref).id

    def add(self, source: SourceDocument) -> IngestResult:
        """Parse, chunk and store one document; returns the running counts."""
        index = self.result.documents
        document = parse(source, index, self.max_document_bytes)
        if document.path in self._seen:
            raise InvalidArgument([("path", f"document {index}: {document.path} was already sent")])
        self._seen.add(document.path)
        with self.db.write() as session:
            _ingest_document(session, self.world_id, document, self.result)
        self.result.documents += 1
        return self.result

    def finish(self) -> IngestResult:
        """End the run: with ``delete_missing``, soft-delete entries of documents that were not sent."""
        if self.delete_missing:
            with self.db.write() as session:
                stale = [
                    e
                    for e in session.scalars(
                        select(LoreEntry).where(
                            LoreEntry.world_id == self.world_id,
                            LoreEntry.superseded.is_(False),
                            LoreEntry.deleted.is_(False),
                        )
                    ).unique()
                    if e.source_path not in self._seen
                ]
                soft_delete(session, stale)
                self.result.deleted += len(stale)
        return self.result


def ingest_documents(
    db: Database,
    world_ref: str,
    documents: Iterable[SourceDocument],
    *,
    delete_missing: bool = False,
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
    progress: Callable[[SourceDocument, IngestResult], None] | None = None,
) -> IngestResult:
    """Ingest documents one transaction each; returns the counts. Documents may be a lazy stream."""
    run = Ingestion(db, world_ref, delete_missing=delete_missing, max_document_bytes=max_document_bytes)
    for source in documents:
        result = run.add(source)
        if progress is not None:
            progress(source, result)
    return run.finish()


def document_paths(root: Path) -> Iterator[Path]:
    """Markdown files of a world folder in a stable order, skipping hidden and ``_``-prefixed parts."""
    for path in sorted(root.rglob("*.md")):
        rel = path.relative_to(root)
        if not any(part.startswith((".", "_")) for part in rel.parts):
            yield path


def read_folder(root: Path) -> Iterator[SourceDocument]:
    """The documents of a world folder as they would be streamed."""
    for path in document_paths(root):
        yield SourceDocument(path.relative_to(root).as_posix(), path.read_text(encoding="utf-8"))


def ensure_world_from_folder(db: Database, root: Path) -> World:
    """The world a folder describes (its ``kind: world`` document), created when missing."""
    world_doc = root / "world.md"
    slug, name, summary = root.name, root.name, ""
    if world_doc.is_file():
        document = parse_document_text(world_doc.read_text(encoding="utf-8"), "world.md")
        facts = document.metadata
        slug = str(facts.get("id") or slug)
        name = str(facts.get("name") or document.title or slug)
        summary = str(facts.get("summary") or "")[:4000]
    world, _ = create_world(db, slug, name, summary)
    return world
