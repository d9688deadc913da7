"""Retrieval quality on a question set: hit@1, hit@5 and mean reciprocal rank of the packed context.

A question set names, for each question, the chunks (document path and heading path) that answer it. A
question is answered at rank r when the r-th lore piece of the packed context (pinned and searched lore merged
by score, best first) is one of them; only what survives the token budget counts, because only that reaches
the model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from memory_svc.kinds import Audience
from memory_svc.packing import Piece
from memory_svc.retrieval import RetrievedContext


@dataclass(frozen=True, slots=True)
class Answer:
    """A chunk that answers a question: its document and heading path (the entry title)."""

    path: str
    heading: str

    def matches(self, piece: Piece) -> bool:
        return piece.citation.startswith(f"{self.path} > {self.heading} (v")


@dataclass(frozen=True, slots=True)
class Question:
    """One question, who asks it, and the chunks that answer it."""

    text: str
    audience: Audience
    answers: tuple[Answer, ...]


@dataclass(frozen=True, slots=True)
class QuestionSet:
    """The questions about one world."""

    world: str
    questions: tuple[Question, ...]


@dataclass(frozen=True, slots=True)
class Scores:
    """Quality figures over a question set; ``ranks`` holds each question's rank (0 = not answered)."""

    hit_at_1: float
    hit_at_5: float
    mrr: float
    ranks: tuple[int, ...]
    #: Pieces a player was given that only a DM may see (must be 0).
    leaks: int


def load(path: Path) -> QuestionSet:
    """Read a question set file (YAML: ``world`` and ``questions`` with ``q``, ``audience``, ``answers``)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    questions = tuple(
        Question(
            text=str(item["q"]),
            audience=Audience.DM if item.get("audience", "player") == "dm" else Audience.PLAYER,
            answers=tuple(Answer(str(a["path"]), str(a["heading"])) for a in item["answers"]),
        )
        for item in raw["questions"]
    )
    return QuestionSet(world=str(raw["world"]), questions=questions)


def ranked_lore(context: RetrievedContext) -> list[Piece]:
    """The lore pieces a model would be given, pinned and searched together, best score first."""
    return sorted([*context.pinned, *context.lore], key=lambda p: -p.score)


def rank_of(question: Question, context: RetrievedContext) -> int:
    """1-based rank of the first answering piece, 0 when none survived the budget."""
    for i, piece in enumerate(ranked_lore(context), start=1):
        if any(a.matches(piece) for a in question.answers):
            return i
    return 0


def leaks(question: Question, context: RetrievedContext) -> int:
    """Pieces above the asker's audience (a DM-only chunk given to a player)."""
    every = [
        *context.pinned,
        *context.lore,
        *context.campaign,
        *context.character_states,
        *context.recent_events,
    ]
    return sum(1 for p in every if p.audience > int(question.audience))


def score(questions: Sequence[Question], ask: Callable[[Question], RetrievedContext]) -> Scores:
    """Ask every question and compute hit@1, hit@5 and MRR over the ranks."""
    ranks: list[int] = []
    leaked = 0
    for question in questions:
        context = ask(question)
        ranks.append(rank_of(question, context))
        leaked += leaks(question, context)
    n = max(1, len(ranks))
    return Scores(
        hit_at_1=sum(1 for r in ranks if r == 1) / n,
        hit_at_5=sum(1 for r in ranks if 1 <= r <= 5) / n,
        mrr=sum(1.0 / r for r in ranks if r) / n,
        ranks=tuple(ranks),
        leaks=leaked,
    )
