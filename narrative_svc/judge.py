"""An optional model judge for what the continuity rules cannot see (off by default: one model call a sentence).

Asked only about a sentence the rules passed, with the campaign's facts stated; it answers a JSON verdict
(``{"contradicts": bool, "fact": str}``) from the same model server, constrained by a schema. A failed or
unreachable judge lets the sentence through (the rules already passed it) and says so in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from mesh.text import GenParams, Message, Prompt, TextModel
from mesh.text.guarded import MODEL_FAILURES
from narrative_svc.continuity import Continuity, Fact
from narrative_svc.guard import Violation

log = logging.getLogger("narrative_svc.continuity")

VERDICT_SCHEMA = {
    "type": "object",
    "properties": {
        "contradicts": {"type": "boolean"},
        "fact": {"type": "string", "maxLength": 300},
    },
    "required": ["contradicts", "fact"],
    "additionalProperties": False,
}

#: A judge: (sentence, facts) -> the violation it sees, or None.
Judge = Callable[[str, Continuity], Awaitable[Violation | None]]


def model_judge(model: TextModel, seed: int) -> Judge:
    """A judge asking ``model`` for a JSON verdict on one sentence against the stated facts."""

    async def judge(sentence: str, facts: Continuity) -> Violation | None:
        record = " ".join(facts.statements()) or "Nothing is recorded."
        prompt = Prompt(
            task="continuity_judge",
            messages=(
                Message(
                    "system",
                    "You check one sentence of a game master's narration against the campaign record. "
                    f"Record: {record} Does the sentence contradict the record? Answer with JSON: "
                    '{"contradicts": true or false, "fact": "the recorded fact it contradicts, or empty"}.',
                ),
                Message("user", sentence.strip()),
            ),
        )
        try:
            verdict = await model.complete_json(
                prompt, VERDICT_SCHEMA, GenParams(max_tokens=80, temperature=0.0, seed=seed)
            )
        except MODEL_FAILURES as exc:
            log.warning("continuity judge unavailable, sentence passed on the rules alone: %s", exc)
            return None
        if not verdict.data.get("contradicts"):
            return None
        stated = str(verdict.data.get("fact", "")).strip() or "the campaign record"
        return Violation(Fact("judged", stated), "model-judge", sentence)

    return judge
