"""The labelled continuity corpus (corpus.yaml): recorded states, snippets, and the guard's precision and recall."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from narrative_svc.continuity import CharacterRecord, Continuity
from narrative_svc.guard import check_sentence

CORPUS = Path(__file__).with_name("corpus.yaml")


@dataclass(frozen=True)
class Snippet:
    state: str
    kind: str
    text: str
    contradicts: bool


@dataclass(frozen=True)
class Score:
    true_pos: int
    false_pos: int
    false_neg: int
    true_neg: int
    misses: tuple[Snippet, ...]
    false_alarms: tuple[Snippet, ...]

    @property
    def precision(self) -> float:
        return self.true_pos / max(1, self.true_pos + self.false_pos)

    @property
    def recall(self) -> float:
        return self.true_pos / max(1, self.true_pos + self.false_neg)


def state(spec: dict[str, Any]) -> Continuity:
    """A recorded state of the corpus as the guard's facts."""
    characters = [
        CharacterRecord(
            name=c["name"],
            npc=c.get("npc", True),
            dead=c.get("dead", False),
            unconscious=c.get("unconscious", False),
            location=c.get("location", ""),
            carrying=tuple(c.get("carrying", ())),
            role=c.get("role", ""),
        )
        for c in spec.get("characters", [])
    ]
    return Continuity.build(
        characters,
        lost=spec.get("lost", ()),
        rulers=spec.get("rulers", {}),
        deities=spec.get("deities", {}),
        places=spec.get("places", ()),
    )


def load() -> tuple[dict[str, Continuity], list[Snippet]]:
    data = yaml.safe_load(CORPUS.read_text(encoding="utf-8"))
    states = {name: state(spec) for name, spec in data["states"].items()}
    snippets = [Snippet(s["state"], s["kind"], s["text"], bool(s["contradicts"])) for s in data["snippets"]]
    return states, snippets


def score(states: dict[str, Continuity], snippets: list[Snippet]) -> Score:
    tp = fp = fn = tn = 0
    misses: list[Snippet] = []
    alarms: list[Snippet] = []
    for s in snippets:
        flagged = check_sentence(s.text, states[s.state]) is not None
        if flagged and s.contradicts:
            tp += 1
        elif flagged:
            fp += 1
            alarms.append(s)
        elif s.contradicts:
            fn += 1
            misses.append(s)
        else:
            tn += 1
    return Score(tp, fp, fn, tn, tuple(misses), tuple(alarms))
