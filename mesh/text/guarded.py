"""Model prose with a procedural safety net, for the services that add words to computed mechanics.

npc_svc, item_svc and encounter_svc all ask a model for a few JSON fields of prose around numbers the rules
computed, check the answer (no number the rules did not produce), and fall back to their own procedural words
when the model is absent, unreachable, refusing, or its window is too small. This is that one path, with one
list of model failures, so the three cannot drift apart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mesh.errors import DeadlineExceeded, FailedPrecondition, ResourceExhausted, Unavailable
from mesh.text.model import TextModel
from mesh.text.types import GenParams, Prompt, Provenance

log = logging.getLogger("mesh.text.guarded")

#: What a model call may fail with that the procedural words stand in for (anything else is a bug and raises).
MODEL_FAILURES: tuple[type[Exception], ...] = (
    Unavailable,
    FailedPrecondition,
    DeadlineExceeded,
    ResourceExhausted,
)


@dataclass(frozen=True, slots=True)
class GuardedProse:
    """The words used and how they were obtained.

    ``replaced``: the model was asked for nothing or failed, and the procedural draft stands (``problems`` says
    why); ``repaired``/``fallback``: as in ``JsonResult`` (a bad first answer fixed, or rejected for the draft).
    """

    data: dict[str, Any]
    info: Provenance
    repaired: bool = False
    fallback: bool = False
    replaced: bool = False
    problems: tuple[str, ...] = ()


def procedural_info(seed: int, started: float | None = None) -> Provenance:
    """Provenance of procedural words."""
    latency = (time.perf_counter() - started) * 1000 if started is not None else 0.0
    return Provenance(backend="procedural", model="", seed=seed, procedural=True, latency_ms=latency)


def fit_prompt(
    model: TextModel, prompts: Sequence[Prompt], wanted: int, least: int, margin: int = 16
) -> tuple[Prompt, int] | None:
    """The first prompt that leaves at least ``least`` tokens for the answer in the model's window, and the
    answer budget (at most ``wanted``); None when none fits."""
    for prompt in prompts:
        room = model.context_window - model.count_messages(prompt.messages) - margin
        if room >= least:
            return prompt, min(wanted, room)
    return None


async def guarded_json(
    model: TextModel | None,
    prompts: Sequence[Prompt],
    schema: dict[str, Any],
    draft: dict[str, Any],
    *,
    seed: int,
    wanted: int,
    least: int,
    margin: int = 16,
    check: Callable[[dict[str, Any]], list[str]] | None = None,
    temperature: float = 0.8,
    what: str = "prose",
) -> GuardedProse:
    """The model's checked answer for the first prompt that fits, or ``draft`` (procedural) and why."""
    started = time.perf_counter()
    if model is None or model.backend == "procedural":
        return GuardedProse(draft, procedural_info(seed, started))
    fitted = fit_prompt(model, prompts, wanted, least, margin)
    if fitted is None:
        log.warning("%s prompt does not fit the model's window; procedural words used", what)
        problem = "the prompt does not fit the model's window"
        return GuardedProse(draft, procedural_info(seed, started), replaced=True, problems=(problem,))
    prompt, budget = fitted
    try:
        result = await model.complete_json(
            prompt,
            schema,
            GenParams(max_tokens=budget, temperature=temperature, seed=seed),
            fallback=lambda _seed: dict(draft),
            check=check,
        )
    except MODEL_FAILURES as exc:
        log.warning("text model failed, procedural %s used: %s", what, exc)
        return GuardedProse(draft, procedural_info(seed, started), replaced=True, problems=(str(exc),))
    if result.fallback:
        log.info("model %s rejected, procedural words used: %s", what, "; ".join(result.problems[:3]))
    return GuardedProse(result.data, result.info, result.repaired, result.fallback, False, result.problems)
