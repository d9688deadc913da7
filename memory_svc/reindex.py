"""Rebuild the vector index from SQL: delete a world's or campaign's vectors and refill them from live rows.

SQL is the source of truth, so this is always safe: vectors come from the embedding cache (the model only
runs for texts never embedded), rows are read in id order in batches, and deleted or superseded lore is
simply not written. Pending outbox rows for the same scope stay queued and are applied on top (idempotent).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from memory_svc import refs
from memory_svc.db import Database
from memory_svc.embeddings import Embedder
from memory_svc.kinds import VectorScope
from memory_svc.models import Campaign, Event, LoreEntry, World
from memory_svc.outbox import vector_records
from memory_svc.vector_store import VectorStore, collection_name

BATCH = 512


@dataclass(frozen=True, slots=True)
class ReindexResult:
    """Vectors written and the collections rebuilt."""

    vectors: int
    collections: list[str]


def _scopes(db: Database, world_ref: str, campaign_ref: str) -> list[tuple[VectorScope, int]]:
    with db.read() as session:
        if not world_ref and not campaign_ref:
            worlds = [(VectorScope.LORE, wid) for wid in session.scalars(select(World.id).order_by(World.id))]
            campaigns = [
                (VectorScope.EVENTS, cid)
                for cid in session.scalars(select(Campaign.id).order_by(Campaign.id))
            ]
            return worlds + campaigns
        scopes: list[tuple[VectorScope, int]] = []
        if world_ref:
            scopes.append((VectorScope.LORE, refs.world(session, world_ref).id))
        if campaign_ref:
            scopes.append((VectorScope.EVENTS, refs.campaign(session, campaign_ref).id))
        return scopes


def _live_ids(db: Database, scope: VectorScope, scope_id: int, after: int) -> list[int]:
    with db.read() as session:
        if scope is VectorScope.LORE:
            query = select(LoreEntry.id).where(
                LoreEntry.world_id == scope_id,
                LoreEntry.superseded.is_(False),
                LoreEntry.deleted.is_(False),
                LoreEntry.id > after,
            )
            return list(session.scalars(query.order_by(LoreEntry.id).limit(BATCH)))
        query = select(Event.id).where(Event.campaign_id == scope_id, Event.id > after)
        return list(session.scalars(query.order_by(Event.id).limit(BATCH)))


def reindex(
    db: Database,
    embedder: Embedder,
    vectors: VectorStore,
    world_ref: str = "",
    campaign_ref: str = "",
    progress: Callable[[int], None] | None = None,
) -> ReindexResult:
    """Rebuild the named world's and/or campaign's collections (everything when both are empty)."""
    total = 0
    names: list[str] = []
    for scope, scope_id in _scopes(db, world_ref, campaign_ref):
        vectors.drop(scope, scope_id)
        after = 0
        while True:
            ids = _live_ids(db, scope, scope_id, after)
            if not ids:
                break
            records, _ = vector_records(db, embedder, scope, ids)
            vectors.upsert(scope, scope_id, records)
            total += len(records)
            after = ids[-1]
            if progress is not None:
                progress(len(records))
        vectors.flush(scope, scope_id)
        names.append(f"{collection_name(scope, vectors.dim)} ({scope.value} {scope_id})")
    return ReindexResult(total, names)


def migrate_layout(db: Database, embedder: Embedder, vectors: VectorStore) -> list[str]:
    """Move an index of the earlier one-collection-per-world/campaign layout into the shared collections.

    Each legacy collection's world or campaign is reindexed from SQL (the source of truth; vectors come from the
    embedding cache) into the shared collection, then the legacy collection is dropped. Scopes whose SQL rows are
    gone just lose their legacy collection. Returns the names of the collections migrated.
    """
    migrated: list[str] = []
    for name, scope, scope_id in vectors.legacy_collections():
        with db.read() as session:
            model = World if scope is VectorScope.LORE else Campaign
            exists = session.get(model, scope_id) is not None
        if exists:
            ref = str(scope_id)
            reindex(db, embedder, vectors, *((ref, "") if scope is VectorScope.LORE else ("", ref)))
        vectors.drop_collection(name)
        migrated.append(name)
    return migrated
