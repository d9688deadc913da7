"""RetrieveContext: hybrid hits joined back to SQL, pinned facts, states, recent events, packed into a budget."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from memory_svc import campaign_log, catalog, characters, lore_entries
from memory_svc.campaign_log import EventInput
from memory_svc.characters import CharacterInput, StateInput
from memory_svc.db import Database
from memory_svc.kinds import Audience, ContextSource, EventKind
from memory_svc.memory import Memory
from memory_svc.models import LoreEntry
from memory_svc.retrieval import RetrievalRequest, RetrievedContext
from memory_svc.vector_store import VectorStore
from mesh.errors import InvalidArgument, NotFound
from tests.memory.conftest import MemoryFactory, ingest_world
from tests.support.fiction import out_of_fiction

SECRET_QUERIES = (
    "Who is Ithrax the Cinder Sleeper and what lies beneath the Emberspine?",
    "What really happened in the Ashfall and the Kindling?",
    "What does Lantern-Bishop Hollis Venn and the Kindled cult want?",
    "What lies in the Cinder Vault? Which rumours are true?",
    "The secret of the Lantern of Saint Hesper",
)


def all_pieces(ctx: RetrievedContext) -> list:  # type: ignore[type-arg]
    return [*ctx.pinned, *ctx.lore, *ctx.campaign, *ctx.character_states, *ctx.recent_events]


def dm_only_texts(memory: Memory) -> set[str]:
    with memory.db.read() as session:
        rows = session.scalars(sa.select(LoreEntry).where(LoreEntry.audience == int(Audience.DM))).unique()
        return {row.text.content for row in rows}


@pytest.fixture
def world(make_memory: MemoryFactory) -> tuple[Memory, str]:
    memory = make_memory()
    return memory, ingest_world(memory)


@pytest.mark.parametrize("milvus_backend", ["lite", "server"], indirect=True)
def test_player_retrieval_never_contains_a_dm_only_secret(world: tuple[Memory, str]) -> None:
    memory, slug = world
    secrets = dm_only_texts(memory)
    assert len(secrets) >= 5
    dm_saw_secret = False
    for query in SECRET_QUERIES:
        base = RetrievalRequest(query=query, world_id=slug, token_budget=32768, top_k=100)
        player = memory.retriever.retrieve(base)
        assert not player.degraded and player.lore
        for piece in all_pieces(player):
            assert piece.audience == Audience.PLAYER
            assert piece.text not in secrets
        dm = memory.retriever.retrieve(replace(base, audience=Audience.DM))
        dm_saw_secret |= any(p.text in secrets for p in all_pieces(dm))
    assert dm_saw_secret, "the DM should see the secrets these queries are about"


RULES_QUERIES = (
    "How are encounters balanced? XP budgets, difficulty and the encounter service",
    "What do things cost in gp? Prices, crowns and the 5e rules",
    "How is an archetype's stat block scaled by challenge rating?",
    "Random encounter table: what do I roll while travelling the Emberspine?",
)


def test_player_retrieval_is_told_in_the_world_s_voice(world: tuple[Memory, str]) -> None:
    """Rules notes (XP budgets, stat blocks, dice tables) reach the DM's context, never a player's."""
    memory, slug = world
    dm_saw_rules = False
    for query in RULES_QUERIES:
        base = RetrievalRequest(query=query, world_id=slug, token_budget=32768, top_k=100)
        player = memory.retriever.retrieve(base)
        assert player.lore
        leaks = {p.text[:60]: out_of_fiction(p.text) for p in all_pieces(player) if out_of_fiction(p.text)}
        assert not leaks, (query, leaks)
        dm = memory.retriever.retrieve(replace(base, audience=Audience.DM))
        dm_saw_rules |= any(out_of_fiction(p.text) for p in all_pieces(dm))
    assert dm_saw_rules, "the DM should still be given the rules notes"


def test_soft_deleted_and_superseded_lore_never_come_back(world: tuple[Memory, str]) -> None:
    memory, slug = world
    query = "The Brinefen salt marsh, its stilt villages and the salt roads"
    req = RetrievalRequest(query=query, world_id=slug, token_budget=32768, top_k=20)
    first = memory.retriever.retrieve(req)
    top = first.lore[0]
    assert "Brinefen" in top.title or "Brinefen" in top.text

    deleted = lore_entries.delete_entry(memory.db, top.source_id, "")
    assert deleted.deleted
    # Milvus still holds the vector until the outbox drains: the SQL join must drop it anyway.
    for ctx in (memory.retriever.retrieve(req), (memory.worker.drain(), memory.retriever.retrieve(req))[1]):
        assert top.source_id not in {p.source_id for p in all_pieces(ctx)}
        assert top.text not in {p.text for p in all_pieces(ctx)}

    second = memory.retriever.retrieve(req).lore[0]
    updated, new_version = lore_entries.update_entry(
        memory.db, second.source_id, "", second.text + "\n\nThe reeds whisper of a drowned bell.", "", []
    )
    assert new_version and updated.version == 2
    for ctx in (memory.retriever.retrieve(req), (memory.worker.drain(), memory.retriever.retrieve(req))[1]):
        ids = {p.source_id for p in all_pieces(ctx)}
        assert second.source_id not in ids
    assert str(updated.id) in {p.source_id for p in memory.retriever.retrieve(req).lore}


def _campaign_with_history(memory: Memory, slug: str) -> tuple[str, str]:
    campaign = catalog.create_campaign(memory.db, slug, "The Smoke Road")
    cid = str(campaign.id)
    hero = characters.create_character(
        memory.db,
        cid,
        CharacterInput(name="Mira Ashdown", ancestry="human", character_class="ranger", level=4),
        StateInput(31, 31),
    )
    characters.update_state(memory.db, str(hero.id), StateInput(17, 31, conditions=("poisoned",)), "s1")
    events = [
        (EventKind.PLAYER_ACTION, "Mira", "Mira bargains with the ferryman of the salt roads for passage."),
        (EventKind.DM_NARRATION, "", "The ferryman poles the punt into the fog; the reeds hiss with salt."),
        (EventKind.DECISION, "Mira", "Mira swears to return the ferryman's drowned bell to the chapel."),
        (EventKind.NOTE, "", "The party rests at an inn in Cindermoot and buys lamp oil."),
        (EventKind.PLAYER_ACTION, "Mira", "Mira asks the innkeeper about the smoke over the Emberspine."),
    ]
    for i, (kind, actor, text) in enumerate(events):
        campaign_log.record_event(memory.db, cid, EventInput(kind=kind, content=text, actor=actor), f"e{i}")
    campaign_log.record_event(
        memory.db,
        cid,
        EventInput(
            kind=EventKind.NOTE, content="DM note: the ferryman is a Kindled spy.", audience=Audience.DM
        ),
        "secret-note",
    )
    memory.worker.drain()
    return cid, str(hero.id)


def test_context_has_pinned_facts_states_recent_events_and_separate_lore_and_campaign_hits(
    world: tuple[Memory, str],
) -> None:
    memory, slug = world
    cid, hero = _campaign_with_history(memory, slug)
    ctx = memory.retriever.retrieve(
        RetrievalRequest(
            query="What did Mira promise the ferryman about the drowned bell?",
            campaign_id=cid,
            character_ids=(hero,),
            recent_events=2,
            token_budget=32768,
        )
    )
    with memory.db.read() as session:
        pinned_ids = {
            str(e.id)
            for e in lore_entries.pinned_entries(session, ctx_world_id(memory.db, slug), Audience.PLAYER)
        }
    assert pinned_ids and {p.source_id for p in ctx.pinned} == pinned_ids
    assert all(p.source is ContextSource.LORE for p in ctx.lore)
    assert all(p.source is ContextSource.CAMPAIGN for p in ctx.campaign)
    assert ctx.campaign and "drowned bell" in ctx.campaign[0].text
    assert [p.text for p in ctx.recent_events] == [
        "Mira asks the innkeeper about the smoke over the Emberspine.",
        "The party rests at an inn in Cindermoot and buys lamp oil.",
    ]
    (state,) = ctx.character_states
    assert "Mira Ashdown" in state.text and "HP 17/31" in state.text and "poisoned" in state.text
    assert "Kindled spy" not in " ".join(p.text for p in all_pieces(ctx))
    texts = [p.text for p in all_pieces(ctx)]
    assert len(texts) == len(set(texts)), "a text appears twice"
    assert ctx.tokens_used == sum(p.tokens for p in all_pieces(ctx)) <= ctx.token_budget
    for piece in all_pieces(ctx):
        assert piece.tokens == memory.counter.count(
            f"{piece.title}\n{piece.text}" if piece.title else piece.text
        )
    assert ctx.lore == sorted(ctx.lore, key=lambda p: -p.score)


def ctx_world_id(db: Database, slug: str) -> int:
    return catalog.get_world(db, slug).id


def test_budget_packs_by_priority(world: tuple[Memory, str]) -> None:
    memory, slug = world
    cid, hero = _campaign_with_history(memory, slug)
    request = RetrievalRequest(
        query="the ferryman", campaign_id=cid, character_ids=(hero,), token_budget=32768
    )
    full = memory.retriever.retrieve(request)
    pinned_tokens = sum(p.tokens for p in full.pinned)
    assert pinned_tokens > 600  # the sample world pins two whole documents

    small = memory.retriever.retrieve(replace(request, token_budget=600))
    assert small.tokens_used <= 600
    # Pinned facts come first but take at most a quarter of the budget before the campaign's state and recent events;
    # the pinned pieces kept keep their order.
    kept = [p.source_id for p in small.pinned]
    order = [p.source_id for p in full.pinned]
    assert kept and kept == [sid for sid in order if sid in kept]
    assert len(small.character_states) == 1 and small.recent_events
    assert sum(p.tokens for p in small.pinned) < pinned_tokens

    # Search hits that answer the query come before the pinned facts that did not fit in their share: with room
    # for all pinned facts but not for the hits as well, hits are kept and the least relevant pinned facts go.
    roomy = memory.retriever.retrieve(replace(request, token_budget=pinned_tokens + 400))
    assert roomy.character_states and roomy.tokens_used <= pinned_tokens + 400
    assert roomy.lore or roomy.campaign
    roomy_ids = [p.source_id for p in roomy.pinned]
    assert roomy_ids == [p.source_id for p in full.pinned if p.source_id in roomy_ids]
    assert len(roomy_ids) < len(full.pinned)
    # Pinned facts come most relevant first (they join the same rank fusion as the hits).
    assert [p.score for p in full.pinned] == sorted((p.score for p in full.pinned), reverse=True)


def test_degraded_retrieval_uses_sql_keyword_search(make_memory: MemoryFactory, tmp_path: Path) -> None:
    memory = make_memory()
    slug = ingest_world(memory, drain=False)
    broken = Memory(memory.db, memory.embedder, VectorStore("http://127.0.0.1:9", 384, timeout_s=1.0))
    ctx = broken.retriever.retrieve(
        RetrievalRequest(query="salt roads of the Brinefen", world_id=slug, token_budget=32768)
    )
    assert ctx.degraded
    assert ctx.lore and any("salt" in p.text.lower() for p in ctx.lore)
    secret = broken.retriever.retrieve(RetrievalRequest(query="Ithrax Cinder Sleeper", world_id=slug))
    assert all(p.audience == Audience.PLAYER for p in all_pieces(secret))
    broken.close()


def test_query_text_with_expression_syntax_is_data(world: tuple[Memory, str]) -> None:
    memory, slug = world
    for query in ('" or audience >= 0 or "', "audience <= 2 || id > 0", "salt') OR 1=1 --", 'NEAR("a" "b")'):
        ctx = memory.retriever.retrieve(
            RetrievalRequest(query=query, world_id=slug, token_budget=32768, top_k=50)
        )
        assert all(p.audience == Audience.PLAYER for p in all_pieces(ctx))
    with pytest.raises(InvalidArgument):
        memory.retriever.retrieve(RetrievalRequest(query="x", world_id='ashen-reach" or "1"=="1'))
    with pytest.raises(NotFound):
        memory.retriever.retrieve(RetrievalRequest(query="x", campaign_id="987654"))


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": "x" * 4001}, "query"),
        ({"token_budget": -1}, "token_budget"),
        ({"token_budget": 40000}, "token_budget"),
        ({"top_k": 101}, "top_k"),
        ({"recent_events": 51}, "recent_events"),
        ({"world_id": ""}, "world_id"),
    ],
)
def test_bad_requests_name_the_field(request_fields: dict[str, object], field: str) -> None:
    fields: dict[str, object] = {"query": "where", "world_id": "w", **request_fields}
    with pytest.raises(InvalidArgument) as err:
        RetrievalRequest(**fields).checked()  # type: ignore[arg-type]
    assert field in {f for f, _ in err.value.violations}
