"""Hybrid retrieval: keyword hits from SQL full-text search fused with Milvus dense hits by reciprocal rank."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from memory_svc import keyword_search
from memory_svc.fusion import rrf
from memory_svc.ingest import ingest_documents, read_folder
from memory_svc.kinds import Audience, VectorScope
from memory_svc.lore_entries import live_entries
from memory_svc.memory import Memory
from memory_svc.retrieval import RetrievalRequest
from tests.memory.conftest import MemoryFactory, ingest_world

RARE_NAME = "Vorquelline"
HERMIT = f"""---
kind: lore
title: Hermits of the Downs
---
# Hermits of the Downs

## The Hut by the Chalk Pit

Past the third milestone a path leaves the drove road and winds between gorse and flint to a low turf hut.
Its keeper is {RARE_NAME}, who trades honey and mended nets for bread and asks travellers for news of the weather.
Sheep graze to the door; a dog sleeps by the fire; the kettle is always on.
"""


def words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


@pytest.fixture
def hermit_world(make_memory: MemoryFactory, world_copy: Path) -> tuple[Memory, str]:
    (world_copy / "hermits.md").write_text(HERMIT, encoding="utf-8")
    memory = make_memory()
    slug = ingest_world(memory, world_copy)
    return memory, slug


def lore_titles(memory: Memory, slug: str, query: str) -> list[str]:
    ctx = memory.retriever.retrieve(RetrievalRequest(query=query, world_id=slug, token_budget=1024))
    return [p.title for p in sorted([*ctx.pinned, *ctx.lore], key=lambda p: -p.score)]


def test_rrf_ranks_ids_found_by_both_lists_first() -> None:
    fused = rrf([[1, 2, 3], [3, 4]])
    assert [h.id for h in fused] == [3, 1, 2, 4]
    assert fused[0].score == pytest.approx(1 / 63 + 1 / 61)
    assert rrf([[], []]) == []


def test_function_words_are_not_searched_for_and_syntax_stays_quoted() -> None:
    assert keyword_search.match_expression("Who is the hermit of the Saltmere?") == '"hermit" OR "saltmere"'
    assert keyword_search.match_expression('NEAR(the "bell") OR *') == '"near" OR "bell"'
    assert keyword_search.match_expression("what is it about?") is None


@pytest.mark.parametrize("milvus_backend", ["lite", "server"], indirect=True)
def test_rare_exact_name_is_found_by_the_sql_keyword_side(hermit_world: tuple[Memory, str]) -> None:
    memory, slug = hermit_world
    with memory.db.read() as session:
        world_id = memory.retriever._scope(session, RetrievalRequest(query="x", world_id=slug))[0]
        keyword = keyword_search.lore_hits(
            session, memory.db.dialect, world_id, RARE_NAME, 8, Audience.PLAYER
        )
        entries = live_entries(session, world_id, [h.id for h in keyword], Audience.PLAYER)
        assert [entries[h.id].title for h in keyword] == ["Hermits of the Downs > The Hut by the Chalk Pit"]
    assert lore_titles(memory, slug, RARE_NAME)[0] == "Hermits of the Downs > The Hut by the Chalk Pit"


PARAPHRASES = [
    ("deity protecting mariners", "Religion and Pantheon > The Old Tide"),
    ("what weekdays exist", "Glossary > Dates"),
]


def test_paraphrase_with_no_shared_word_is_found_by_the_dense_side(hermit_world: tuple[Memory, str]) -> None:
    memory, slug = hermit_world
    for query, title in PARAPHRASES:
        with memory.db.read() as session:
            world_id = memory.retriever._scope(session, RetrievalRequest(query="x", world_id=slug))[0]
            keyword = keyword_search.lore_hits(
                session, memory.db.dialect, world_id, query, 50, Audience.PLAYER
            )
            found = live_entries(session, world_id, [h.id for h in keyword], Audience.PLAYER)
            every = live_entries(session, world_id, range(1, 10_000), Audience.PLAYER).values()
            chunk = next(e for e in every if e.title == title)
            assert not words(query) & words(f"{chunk.title}\n{chunk.text.content}"), "the query shares a word"
            assert chunk.id not in found  # keyword search cannot see it
        vector = memory.embedder.embed_query(query)
        dense = memory.vectors.dense_search(VectorScope.LORE, world_id, vector[None, :], 8, Audience.PLAYER)[
            0
        ]
        assert chunk.id in {h.id for h in dense}
        assert title in lore_titles(memory, slug, query)[:5]


def test_degraded_keyword_side_still_answers(make_memory: MemoryFactory, world_copy: Path) -> None:
    """With Milvus unreachable the rare name is still found (SQL alone), and the result says degraded."""
    (world_copy / "hermits.md").write_text(HERMIT, encoding="utf-8")
    memory = make_memory()
    slug = ingest_world(memory, world_copy, drain=False)
    memory.vectors.uri = "http://127.0.0.1:9"
    memory.vectors.lite = False
    ctx = memory.retriever.retrieve(RetrievalRequest(query=RARE_NAME, world_id=slug, token_budget=1024))
    assert ctx.degraded and ctx.lore[0].title == "Hermits of the Downs > The Hut by the Chalk Pit"
    ingest_documents(memory.db, slug, read_folder(world_copy), delete_missing=True)
