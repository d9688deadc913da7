"""Retrieval quality on the sample world's question set at the default turn budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from memory_svc import question_set
from memory_svc.kinds import Audience
from memory_svc.retrieval import RetrievalRequest, RetrievedContext
from mesh.settings import Settings
from tests.memory.conftest import MemoryFactory, ingest_world

QUESTIONS = Path(__file__).with_name("questions.yaml")


def test_question_set_names_real_chunks_and_is_large_enough(make_memory: MemoryFactory) -> None:
    qs = question_set.load(QUESTIONS)
    assert len(qs.questions) >= 40
    assert sum(1 for q in qs.questions if q.audience == Audience.PLAYER) >= 40
    memory = make_memory()
    ingest_world(memory, drain=False)
    from sqlalchemy import select

    from memory_svc.models import LoreEntry

    with memory.db.read() as session:
        entries = {(e.source_path, e.title, e.audience) for e in session.scalars(select(LoreEntry)).unique()}
    by_heading = {(path, title): audience for path, title, audience in entries}
    for q in qs.questions:
        for answer in q.answers:
            key = (answer.path, answer.heading)
            assert key in by_heading, f"{q.text!r}: no chunk {key}"
            # A player question is only answered by what a player may see.
            assert by_heading[key] <= int(q.audience), f"{q.text!r}: {key} is DM-only"


@pytest.mark.parametrize("milvus_backend", ["lite", "server"], indirect=True)
def test_hit_at_5_at_the_default_turn_budget(make_memory: MemoryFactory) -> None:
    qs = question_set.load(QUESTIONS)
    memory = make_memory()
    slug = ingest_world(memory)
    assert slug == qs.world
    budget = Settings().narrative_context_budget
    embedded = memory.embedder.documents_embedded

    def ask(q: question_set.Question) -> RetrievedContext:
        return memory.retriever.retrieve(
            RetrievalRequest(query=q.text, world_id=slug, token_budget=budget, audience=q.audience)
        )

    scores = question_set.score(qs.questions, ask)
    print(
        f"\n{len(qs.questions)} questions at {budget} tokens: hit@1 {scores.hit_at_1:.2f}, "
        f"hit@5 {scores.hit_at_5:.2f}, MRR {scores.mrr:.3f}"
    )
    assert scores.hit_at_5 >= 0.85, scores.ranks
    assert scores.leaks == 0
    # Pinned entries are scored from the SQL embedding cache: retrieval never runs documents through the model.
    assert memory.embedder.documents_embedded == embedded

    # DM questions asked by a player get none of their (DM-only) answers.
    for q in qs.questions:
        if q.audience == Audience.DM:
            ctx = memory.retriever.retrieve(
                RetrievalRequest(query=q.text, world_id=slug, token_budget=budget)
            )
            assert question_set.rank_of(q, ctx) == 0
            assert all(p.audience == Audience.PLAYER for p in question_set.ranked_lore(ctx))
