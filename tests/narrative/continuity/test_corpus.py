"""The rule-based continuity guard on the labelled corpus: precision >= 0.9 and recall >= 0.8."""

from __future__ import annotations

from tests.narrative.continuity.corpus import load, score


def test_corpus_is_big_and_balanced() -> None:
    _, snippets = load()
    bad = sum(s.contradicts for s in snippets)
    assert len(snippets) >= 60
    assert abs(bad - (len(snippets) - bad)) <= len(snippets) // 10
    kinds = {s.kind for s in snippets if s.contradicts}
    assert {
        "dead",
        "unconscious",
        "lost-item",
        "item-holder",
        "ruler",
        "deity",
        "npc-name",
        "location",
    } <= kinds
    assert {"ghost", "flashback", "talk-about", "memory"} <= {s.kind for s in snippets if not s.contradicts}


def test_guard_precision_and_recall() -> None:
    states, snippets = load()
    result = score(states, snippets)
    report = "\n".join(
        [f"missed [{s.kind}]: {s.text}" for s in result.misses]
        + [f"false alarm [{s.kind}]: {s.text}" for s in result.false_alarms]
    )
    assert result.precision >= 0.9, report
    assert result.recall >= 0.8, report
