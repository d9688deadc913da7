"""Multi-tenant vector layout: every world's lore in one collection, every campaign's events in another."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memory_svc.kinds import Audience, VectorScope
from memory_svc.reindex import migrate_layout
from memory_svc.retrieval import RetrievalRequest
from memory_svc.vector_store import VectorRecord, collection_name
from tests.memory.conftest import MemoryFactory, ingest_world, vector_store_for

DIM = 8
ids_st = st.lists(st.integers(1, 2**40), min_size=12, max_size=12, unique=True)


@pytest.mark.parametrize("milvus_backend", ["lite", "server"], indirect=True)
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scope_ids=ids_st, seed=st.integers(0, 2**32 - 1))
def test_ten_campaigns_in_two_worlds_share_one_collection(
    tmp_path_factory: pytest.TempPathFactory,
    milvus_backend: str,
    request: pytest.FixtureRequest,
    scope_ids: list[int],
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    store = vector_store_for(milvus_backend, tmp_path_factory.mktemp("tenants"), DIM, request)
    worlds, campaigns = scope_ids[:2], scope_ids[2:]
    rows: dict[tuple[VectorScope, int], set[int]] = {}
    next_id = int(rng.integers(1, 2**40))
    for scope, tenants in ((VectorScope.LORE, worlds), (VectorScope.EVENTS, campaigns)):
        for tenant in tenants:
            n = int(rng.integers(3, 12))
            ids = list(range(next_id, next_id + n))
            next_id += n
            vecs = rng.standard_normal((n, DIM)).astype(np.float32)
            store.upsert(
                scope,
                tenant,
                [VectorRecord(i, v, "", int(rng.integers(1, 3))) for i, v in zip(ids, vecs, strict=True)],
            )
            rows[(scope, tenant)] = set(ids)
    client = store._connect()
    mine = [n for n in client.list_collections() if n.startswith(f"{store.prefix}_")]
    assert sorted(mine) == sorted(
        [
            collection_name(VectorScope.LORE, DIM, store.prefix),
            collection_name(VectorScope.EVENTS, DIM, store.prefix),
        ]
    )
    queries = rng.standard_normal((4, DIM)).astype(np.float32)
    for (scope, tenant), ids in rows.items():
        for hits in store.dense_search(scope, tenant, queries, 100, int(Audience.DM)):
            assert {h.id for h in hits} == ids  # all of its own rows, none of another tenant's
        assert store.ids(scope, tenant) == ids and store.count(scope, tenant) == len(ids)
    # Deleting one campaign removes its vectors only.
    gone = campaigns[int(rng.integers(0, len(campaigns)))]
    store.drop(VectorScope.EVENTS, gone)
    for (scope, tenant), ids in rows.items():
        expected = set() if (scope, tenant) == (VectorScope.EVENTS, gone) else ids
        assert store.ids(scope, tenant) == expected
        hits = store.dense_search(scope, tenant, queries[:1], 100, int(Audience.DM))[0]
        assert {h.id for h in hits} == expected
    store.close()


def test_legacy_per_world_collection_is_migrated_from_sql(
    make_memory: MemoryFactory, world_copy: Path
) -> None:
    for doc in world_copy.glob("*.md"):
        if doc.name not in {"world.md", "glossary.md"}:
            doc.unlink()
    memory = make_memory()
    slug = ingest_world(memory, world_copy, drain=False)
    with memory.db.read() as session:
        from memory_svc import refs

        world_id = refs.world(session, slug).id
    # An index of the earlier layout: one collection for this world, with a stale row.
    from pymilvus import DataType

    client = memory.vectors._connect()
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=memory.embedder.dim)
    schema.add_field("audience", DataType.INT8)
    index = client.prepare_index_params()
    index.add_index("vec", index_type="FLAT", metric_type="COSINE")
    legacy = f"dm_lore_{world_id}"
    client.create_collection(legacy, schema=schema, index_params=index)
    client.insert(legacy, [{"id": 999_999, "vec": [0.1] * memory.embedder.dim, "audience": 1}])
    client.create_collection(f"dm_lore_{world_id + 1000}", schema=schema, index_params=index)  # world gone

    migrated = migrate_layout(memory.db, memory.embedder, memory.vectors)
    assert sorted(migrated) == sorted([legacy, f"dm_lore_{world_id + 1000}"])
    names = client.list_collections()
    assert legacy not in names and collection_name(VectorScope.LORE, memory.embedder.dim) in names
    assert memory.vectors.legacy_collections() == []
    live = memory.vectors.ids(VectorScope.LORE, world_id)
    assert live and 999_999 not in live
    ctx = memory.retriever.retrieve(RetrievalRequest(query="How are dates written?", world_id=slug))
    assert not ctx.degraded and any(p.title == "Glossary > Dates" for p in ctx.lore)
    assert migrate_layout(memory.db, memory.embedder, memory.vectors) == []
