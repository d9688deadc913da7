"""Lore ingestion: the sample world goes in once; re-runs write nothing; an edit makes exactly one version."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from memory_svc.ingest import (
    Ingestion,
    SourceDocument,
    ensure_world_from_folder,
    ingest_documents,
    read_folder,
)
from memory_svc.kinds import Audience, VectorScope
from memory_svc.memory import Memory
from memory_svc.models import Base, LoreEntry
from mesh.errors import InvalidArgument
from tests.memory.conftest import SAMPLE_WORLD, MemoryFactory, ingest_world


def table_counts(memory: Memory) -> dict[str, int]:
    with memory.db.read() as session:
        return {
            name: int(session.scalar(sa.select(sa.func.count()).select_from(table)) or 0)
            for name, table in Base.metadata.tables.items()
        }


def world_id(memory: Memory, slug: str) -> int:
    with memory.db.read() as session:
        return int(
            session.execute(sa.text("SELECT id FROM worlds WHERE slug = :s"), {"s": slug}).scalar_one()
        )


def test_sample_world_ingests_and_a_rerun_writes_zero_rows_and_zero_vectors(
    make_memory: MemoryFactory,
) -> None:
    memory = make_memory()
    slug = ingest_world(memory)
    wid = world_id(memory, slug)
    before = table_counts(memory)
    vectors_before = memory.vectors.ids(VectorScope.LORE, wid)
    embedded_before = memory.embedder.documents_embedded
    stats_before = (memory.worker.stats.upserted, memory.worker.stats.deleted)

    documents = list(read_folder(SAMPLE_WORLD))
    assert before["lore_entries"] == len(vectors_before) > len(documents) >= 12
    kinds = {d.path for d in documents}
    assert {"geography.md", "religion.md", "nobility.md", "economy.md", "magic.md", "glossary.md"} <= kinds

    result = ingest_documents(memory.db, slug, read_folder(SAMPLE_WORLD), delete_missing=True)
    assert (result.created, result.updated, result.deleted, result.queued_for_embedding) == (0, 0, 0, 0)
    assert result.unchanged == result.chunks == before["lore_entries"]
    assert memory.outbox_pending() == 0
    assert memory.worker.drain() == 0
    assert table_counts(memory) == before
    assert memory.vectors.ids(VectorScope.LORE, wid) == vectors_before
    assert memory.embedder.documents_embedded == embedded_before
    assert (memory.worker.stats.upserted, memory.worker.stats.deleted) == stats_before


def test_one_line_edit_creates_one_version_and_reembeds_only_that_chunk(
    make_memory: MemoryFactory, world_copy: Path
) -> None:
    memory = make_memory()
    slug = ingest_world(memory, world_copy)
    wid = world_id(memory, slug)
    before = table_counts(memory)
    ids_before = memory.vectors.ids(VectorScope.LORE, wid)
    embedded_before = memory.embedder.documents_embedded

    doc = world_copy / "geography.md"
    text = doc.read_text(encoding="utf-8")
    assert text.count("forty miles of tidal creeks") == 1
    doc.write_text(
        text.replace("forty miles of tidal creeks", "fifty miles of tidal creeks"), encoding="utf-8"
    )

    result = ingest_documents(memory.db, slug, read_folder(world_copy), delete_missing=True)
    assert (result.created, result.updated, result.deleted, result.queued_for_embedding) == (0, 1, 0, 1)
    with memory.db.read() as session:
        versions = list(
            session.scalars(
                sa.select(LoreEntry)
                .join(LoreEntry.text)
                .where(LoreEntry.world_id == wid, LoreEntry.key.like("geography.md#%Brinefen#%"))
                .order_by(LoreEntry.version)
            ).unique()
        )
        changed = [v for v in versions if v.version == 2]
        assert len(changed) == 1
        new = changed[0]
        old = next(v for v in versions if v.key == new.key and v.version == 1)
        assert old.superseded and not old.deleted and old.superseded_at is not None
        assert new.live and "fifty miles" in new.text.content and "forty miles" in old.text.content

    memory.worker.drain()
    after = table_counts(memory)
    assert memory.embedder.documents_embedded == embedded_before + 1
    assert after["embeddings"] == before["embeddings"] + 1
    assert after["lore_entries"] == before["lore_entries"] + 1
    assert after["lore_texts"] == before["lore_texts"] + 1
    assert memory.vectors.ids(VectorScope.LORE, wid) == (ids_before - {old.id}) | {new.id}


def test_identical_text_is_stored_once(make_memory: MemoryFactory, tmp_path: Path) -> None:
    memory = make_memory()
    ensure = tmp_path / "twin"
    ensure.mkdir()
    para = "The bells of the drowned chapel ring at low tide, and nobody living has seen the ringer."
    for name in ("a.md", "b.md"):
        (ensure / name).write_text(
            f"---\nkind: lore\n---\n# {name}\n\n## Bells\n\n{para}\n", encoding="utf-8"
        )
    world = ensure_world_from_folder(memory.db, ensure)
    result = ingest_documents(memory.db, world.slug, read_folder(ensure))
    assert result.created == 2
    counts = table_counts(memory)
    assert counts["lore_entries"] == 2 and counts["lore_texts"] == 1
    memory.worker.drain()
    assert table_counts(memory)["embeddings"] == 2  # the titles differ, so the embedded texts differ


def test_removed_documents_and_sections_are_soft_deleted(
    make_memory: MemoryFactory, world_copy: Path
) -> None:
    memory = make_memory()
    slug = ingest_world(memory, world_copy)
    wid = world_id(memory, slug)
    with memory.db.read() as session:
        glossary = set(
            session.scalars(
                sa.select(LoreEntry.id).where(
                    LoreEntry.source_path == "glossary.md", LoreEntry.world_id == wid
                )
            )
        )
    assert glossary <= memory.vectors.ids(VectorScope.LORE, wid)
    (world_copy / "glossary.md").unlink()
    result = ingest_documents(memory.db, slug, read_folder(world_copy), delete_missing=True)
    assert result.deleted == len(glossary) and result.created == result.updated == 0
    memory.worker.drain()
    with memory.db.read() as session:
        rows = session.scalars(sa.select(LoreEntry).where(LoreEntry.id.in_(glossary))).unique().all()
        assert rows and all(r.deleted and r.deleted_at is not None for r in rows)
    assert not glossary & memory.vectors.ids(VectorScope.LORE, wid)


def test_audience_change_is_a_new_version_without_a_new_embedding(
    make_memory: MemoryFactory, world_copy: Path
) -> None:
    memory = make_memory()
    slug = ingest_world(memory, world_copy)
    embedded = memory.embedder.documents_embedded
    doc = world_copy / "geography.md"
    text = doc.read_text(encoding="utf-8")
    doc.write_text(text.replace("## The Brinefen\n", "## The Brinefen [DM only]\n", 1), encoding="utf-8")
    result = ingest_documents(memory.db, slug, read_folder(world_copy))
    assert result.updated >= 1 and result.created == 0
    memory.worker.drain()
    assert memory.embedder.documents_embedded == embedded
    with memory.db.read() as session:
        live = (
            session.scalars(
                sa.select(LoreEntry).where(
                    LoreEntry.key.like("geography.md#%Brinefen#%"), LoreEntry.superseded.is_(False)
                )
            )
            .unique()
            .all()
        )
        assert live and all(e.audience == Audience.DM for e in live)


def test_bad_documents_are_invalid_arguments_naming_the_field(make_memory: MemoryFactory) -> None:
    memory = make_memory()
    world = ensure_world_from_folder(memory.db, SAMPLE_WORLD)
    run = Ingestion(memory.db, world.slug, max_document_bytes=2048)
    with pytest.raises(InvalidArgument) as err:
        run.add(SourceDocument("big.md", "---\nkind: lore\n---\n" + "x" * 4096))
    assert err.value.violations[0][0] == "content" and "exceeds 2048" in err.value.violations[0][1]
    with pytest.raises(InvalidArgument) as err:
        run.add(SourceDocument("../escape.md", "---\nkind: lore\n---\ntext"))
    assert err.value.violations[0][0] == "path"
    with pytest.raises(InvalidArgument) as err:
        run.add(SourceDocument("bad.md", "---\nkind: nonsense\n---\ntext"))
    assert err.value.violations[0][0] == "content" and "bad.md" in err.value.violations[0][1]
