"""Milvus filters: templates with typed parameters; for Milvus Lite the values are rendered as literals only."""

from __future__ import annotations

import numpy as np
import pytest
from milvus_lite.search.filter import parse_expr

from memory_svc.kinds import VectorScope
from memory_svc.milvus_filters import FilterExpr, literal
from memory_svc.vector_store import VectorRecord, VectorStore, tenant_filter

HOSTILE = [
    '" or 1 == 1 or "',
    "' or id > 0 or '",
    'a\\" || true || \\"',
    "line\nbreak\ttab\rreturn",
    "audience <= 2",
    "{max_audience}",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_string_parameters_stay_one_literal(value: str) -> None:
    expr = FilterExpr("name == {v}", {"v": value})
    tree = parse_expr(expr.rendered())
    assert type(tree).__name__ == "CmpOp" and tree.op == "=="
    assert type(tree.right).__name__ == "StringLit" and tree.right.value == value


def test_numbers_lists_and_booleans_render_by_type() -> None:
    assert literal(3) == "3" and literal(True) == "true" and literal(2.5) == "2.5"
    assert literal([1, 'a"b']) == '[1, "a\\"b"]'
    with pytest.raises(ValueError):
        literal(float("nan"))
    with pytest.raises(TypeError):
        literal(object())  # type: ignore[arg-type]


def test_template_and_parameters_must_match() -> None:
    with pytest.raises(ValueError):
        FilterExpr("audience <= {a}", {"b": 1})


def test_template_kwargs_for_real_milvus_and_rendered_for_lite() -> None:
    f = tenant_filter(7, 1, [3, 2])
    assert f.search_kwargs(True) == {
        "filter": "tenant == {tenant} and audience <= {max_audience} and id not in {exclude}",
        "filter_params": {"tenant": 7, "max_audience": 1, "exclude": [2, 3]},
    }
    assert f.request_kwargs(False) == {"expr": "tenant == 7 and audience <= 1 and id not in [2, 3]"}


def test_audience_filter_applies_in_milvus_lite(tmp_path: object) -> None:
    store = VectorStore(f"{tmp_path}/milvus.db", 4)
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((6, 4)).astype(np.float32)
    store.upsert(
        VectorScope.LORE,
        1,
        [VectorRecord(i, vecs[i], f"word{i} shared", 1 + i % 2) for i in range(6)],
    )
    player = store.dense_search(VectorScope.LORE, 1, vecs[:1], 6, 1)[0]
    dm = store.dense_search(VectorScope.LORE, 1, vecs[:1], 6, 2)[0]
    assert {h.id for h in player} == {0, 2, 4}
    assert {h.id for h in dm} == set(range(6))
    assert store.count(VectorScope.LORE, 1) == 6
    store.delete(VectorScope.LORE, 1, [0, 1])
    assert store.ids(VectorScope.LORE, 1) == {2, 3, 4, 5}
    store.close()


def test_lite_uses_flat_for_autoindex_and_servers_keep_it(tmp_path: object) -> None:
    assert VectorStore(f"{tmp_path}/m.db", 4, index_type="AUTOINDEX").index_type == "FLAT"
    assert VectorStore(f"{tmp_path}/m.db", 4, index_type="HNSW").index_type == "HNSW"
    assert VectorStore("http://milvus:19530", 4, index_type="AUTOINDEX").index_type == "AUTOINDEX"
