"""The continuity guard's cost and quality: per-sentence check time, time added before the first chunk, and the
rule-based guard's precision and recall on the labelled corpus (tests/narrative/continuity/corpus.yaml).

Run alone (``python bench/continuity.py``) or as part of ``python bench/narrative.py``.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mesh.text import ContextItem  # noqa: E402
from narrative_svc.continuity import from_context  # noqa: E402
from narrative_svc.guard import check_sentence  # noqa: E402
from narrative_svc.repair import ContinuityFilter  # noqa: E402
from tests.narrative.continuity.corpus import load, score  # noqa: E402

#: A turn's context as memory returns it: states (one dead NPC), events, lore with rulers and deities.
CONTEXT = (
    ContextItem(
        "Captain Aldric Voss (NPC, human veteran level 5): HP 0/58; conditions: dead.",
        source="character_state",
    ),
    ContextItem(
        "Marla Finch (NPC, human commoner level 1): HP 4/4; conditions: none.", source="character_state"
    ),
    ContextItem(
        "Kara (PC, elf rogue level 3): HP 0/21; conditions: unconscious; carrying: Dawnbreaker, rope.",
        source="character_state",
    ),
    ContextItem(
        "Queen Isolde rules Port Veyle. Thalassa, goddess of the sea, is feared by sailors.", source="pinned"
    ),
    ContextItem("The party met the barkeep named Marla Finch at the Gilded Gull.", source="recent_event"),
    *(
        ContextItem(f"The harbour lore entry {i} tells of ships and storms and salt.", source="lore")
        for i in range(8)
    ),
)
NARRATION = (
    "The tavern falls quiet as you step inside. Rain drums on the shutters, and somebody laughs too loudly. "
    "Marla Finch wipes the counter and nods toward the stairs. Kara lies still by the hearth, breathing shallowly. "
    "A sailor mutters a prayer to Thalassa, goddess of the sea. Outside, the bells of the harbour ring twice. "
    "What do you do?"
)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _stream_once(words: list[str]) -> tuple[float, float, int]:
    """Builds the facts and feeds a narration four words a chunk; (facts ms, first release ms, chunks held)."""
    t0 = time.perf_counter()
    facts = from_context(CONTEXT)
    built = time.perf_counter()
    flt = ContinuityFilter(facts)
    held = 0
    first_ms = 0.0
    for i in range(0, len(words), 4):
        t = time.perf_counter()
        out = await flt.feed("".join(words[i : i + 4]))
        if out and not first_ms:
            first_ms = (time.perf_counter() - t) * 1000
        elif not out and not first_ms:
            held += 1
    await flt.finish()
    return (built - t0) * 1000, first_ms, held


def measure(rounds: int = 200) -> dict[str, Any]:
    """The figures, measured now on this machine."""
    states, snippets = load()
    result = score(states, snippets)
    per_sentence: list[float] = []
    for _ in range(max(1, rounds // 20)):
        for s in snippets:
            t = time.perf_counter()
            check_sentence(s.text, states[s.state])
            per_sentence.append((time.perf_counter() - t) * 1000)
    words = [w + " " for w in NARRATION.split(" ")]
    runs = [asyncio.run(_stream_once(words)) for _ in range(rounds)]
    facts_ms = [r[0] for r in runs]
    first_ms = [r[1] for r in runs]
    added = [a + b for a, b, _ in runs]
    return {
        "corpus_snippets": len(snippets),
        "corpus_contradicting": sum(s.contradicts for s in snippets),
        "precision": result.precision,
        "recall": result.recall,
        "check_per_sentence_p50_ms": statistics.median(per_sentence),
        "check_per_sentence_p95_ms": pct(per_sentence, 0.95),
        "facts_build_p50_ms": statistics.median(facts_ms),
        "first_sentence_release_p50_ms": statistics.median(first_ms),
        "added_before_first_chunk_p50_ms": statistics.median(added),
        "added_before_first_chunk_p95_ms": pct(added, 0.95),
        "chunks_held_for_first_sentence": runs[0][2],
    }


def report(r: dict[str, Any]) -> None:
    print(
        f"Continuity guard corpus: {r['corpus_snippets']} snippets ({r['corpus_contradicting']} contradicting): "
        f"precision {r['precision']:.3f}, recall {r['recall']:.3f}"
    )
    print(
        f"Continuity guard per sentence: {r['check_per_sentence_p50_ms']:.3f} ms p50, "
        f"{r['check_per_sentence_p95_ms']:.3f} ms p95 (target < 5 ms p50)"
    )
    print(
        f"Continuity guard before the first chunk (CPU): {r['added_before_first_chunk_p50_ms']:.3f} ms p50, "
        f"{r['added_before_first_chunk_p95_ms']:.3f} ms p95 (facts from context {r['facts_build_p50_ms']:.3f} ms, "
        f"first sentence checked {r['first_sentence_release_p50_ms']:.3f} ms); the first chunk also waits for its "
        f"sentence to end: {r['chunks_held_for_first_sentence']} chunk(s) of 4 words held in this narration"
    )


if __name__ == "__main__":
    report(measure())
