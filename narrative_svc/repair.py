"""Repairing a sentence that contradicts the record, and the streaming filter that applies the guard.

A contradicting sentence is regenerated once with the violated fact stated; the new sentence is kept only if it
passes the guard and keeps every number of the original (numbers come from the rules and are never changed
here). Otherwise the sentence is dropped. Every repair is logged with the fact it broke and returned to the
caller, which records it with the narration.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from mesh import metrics
from mesh.errors import DomainError
from mesh.text import GenParams, Message, Prompt, TextModel
from narrative_svc.continuity import Continuity
from narrative_svc.guard import SentenceBuffer, Violation, check_sentence
from narrative_svc.judge import Judge

log = logging.getLogger("narrative_svc.continuity")
_NUMBER = re.compile(r"\d+")

#: A rewriter: (sentence, violation) -> the rewritten sentence, or None when it cannot.
Rewriter = Callable[[str, Violation], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class Repair:
    """One repaired sentence: the fact it broke, the rule that saw it, what was done, and the text before/after."""

    fact: str
    rule: str
    action: str  # "regenerated" or "dropped"
    original: str
    replacement: str

    def as_dict(self) -> dict[str, str]:
        return {
            "fact": self.fact,
            "rule": self.rule,
            "action": self.action,
            "original": self.original,
            "replacement": self.replacement,
        }


def model_rewriter(model: TextModel, seed: int) -> Rewriter:
    """Asks ``model`` once to rewrite the sentence so it agrees with the fact it broke."""

    async def rewrite(sentence: str, violation: Violation) -> str | None:
        prompt = Prompt(
            task="continuity_repair",
            messages=(
                Message(
                    "system",
                    "You correct one sentence of a game master's narration so it agrees with the campaign record. "
                    f"Fact: {violation.fact.statement} Keep every number exactly as it is. "
                    "Answer with the corrected sentence only.",
                ),
                Message("user", sentence.strip()),
            ),
        )
        try:
            done = await model.complete(prompt, GenParams(max_tokens=80, temperature=0.2, seed=seed))
        except DomainError as exc:
            log.warning("continuity repair could not reach the model: %s", exc)
            return None
        return done.text.strip().strip('"') or None

    return rewrite


def _keeps_numbers(original: str, new: str) -> bool:
    return sorted(_NUMBER.findall(original)) == sorted(_NUMBER.findall(new))


async def repair(sentence: str, violation: Violation, facts: Continuity, rewrite: Rewriter | None) -> Repair:
    """Regenerate ``sentence`` once with the fact stated; keep it if consistent and numbers are intact, else drop."""
    new = await rewrite(sentence, violation) if rewrite is not None else None
    trailing = sentence[len(sentence.rstrip()) :]
    if (
        new
        and check_sentence(new, facts) is None
        and _keeps_numbers(sentence, new)
        and len(new) < 4 * len(sentence)
    ):
        result = Repair(
            violation.fact.statement, violation.rule, "regenerated", sentence.strip(), new + trailing
        )
    else:
        result = Repair(violation.fact.statement, violation.rule, "dropped", sentence.strip(), "")
    metrics.counter(
        "dm_narrative_continuity_repairs_total",
        "Narration sentences repaired by the continuity guard.",
        ("action",),
    ).labels(result.action).inc()
    log.warning(
        "continuity repair: %s (%s)",
        result.action,
        result.fact,
        extra={
            "continuity_fact": result.fact,
            "continuity_rule": result.rule,
            "continuity_action": result.action,
        },
    )
    return result


class ContinuityFilter:
    """Applies the guard to a stream: releases each sentence once it ends and is checked (or repaired)."""

    def __init__(
        self, facts: Continuity, rewrite: Rewriter | None = None, judge: Judge | None = None
    ) -> None:
        self.facts = facts
        self.rewrite = rewrite
        self.judge = judge
        self.buffer = SentenceBuffer()
        self.repairs: list[Repair] = []

    async def feed(self, text: str) -> str:
        """The checked text that ``text`` completes (possibly empty while a sentence is still arriving)."""
        return "".join([await self._checked(s) for s in self.buffer.feed(text)])

    async def finish(self) -> str:
        """The checked remainder at the end of the stream."""
        rest = self.buffer.flush()
        return await self._checked(rest) if rest.strip() else rest

    async def _checked(self, sentence: str) -> str:
        violation = check_sentence(sentence, self.facts)
        if violation is None and self.judge is not None and sentence.strip():
            violation = await self.judge(sentence, self.facts)  # only what the rules passed
        if violation is None:
            return sentence
        fixed = await repair(sentence, violation, self.facts, self.rewrite)
        self.repairs.append(fixed)
        return fixed.replacement
