"""The one interface every prose-writing service uses: ``TextModel``.

Backends implement streaming and single structured attempts; this base class adds what must behave the same
everywhere: whole-text completion, JSON-schema validation with one repair attempt, the caller's semantic check
("the model must not change a computed number") and the caller's procedural fallback.
"""

from __future__ import annotations

import abc
import dataclasses
import json
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any

from mesh.errors import Unavailable
from mesh.text.schema import validate_json
from mesh.text.templates import PromptLibrary, default_library
from mesh.text.types import Chunk, Completion, GenParams, JsonResult, Message, Prompt, Provenance

#: Tokens kept free when sizing the repair attempt, and the smallest completion worth a repair.
REPAIR_MARGIN = 16
MIN_REPAIR_TOKENS = 64

#: A caller's extra check on a schema-valid object; returns the problems found (empty = accepted).
Check = Callable[[dict[str, Any]], list[str]]
#: A caller's procedural replacement for an invalid answer, given the seed in use.
Fallback = Callable[[int], dict[str, Any]]


class ModelOutputInvalid(Unavailable):
    """The model's structured answer stayed invalid after the repair attempt and no fallback was given."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "text model returned invalid structured output: " + "; ".join(problems[:5]),
            reason="MODEL_OUTPUT_INVALID",
            domain="text-model",
        )


class TextModel(abc.ABC):
    """A text generator. ``stream`` yields chunks and ends with a ``done`` chunk carrying provenance."""

    #: Short backend name reported in provenance ("procedural", "vllm").
    backend: str = ""

    def __init__(self, prompts: PromptLibrary | None = None) -> None:
        self.prompts = prompts or default_library()

    # --- lifecycle -------------------------------------------------------------------------------------------
    async def start(self) -> None:  # noqa: B027 - optional hook, most backends need nothing
        """Connect, discover models; a backend that needs nothing does nothing."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and background tasks."""

    async def ready(self) -> tuple[bool, str]:
        """Whether the backend can serve now, and why not."""
        return True, ""

    # --- sizes -----------------------------------------------------------------------------------------------
    @property
    @abc.abstractmethod
    def context_window(self) -> int:
        """Tokens the model accepts, prompt and completion together."""

    @abc.abstractmethod
    def count_tokens(self, text: str) -> int:
        """A token count for ``text`` that does not under-estimate the model's own tokenizer."""

    def count_messages(self, messages: tuple[Message, ...] | list[Message]) -> int:
        """Tokens of a chat, including a per-message allowance for the chat template's markers."""
        return sum(self.count_tokens(m.content) + 8 for m in messages) + 8

    # --- generation ------------------------------------------------------------------------------------------
    @abc.abstractmethod
    def stream(self, prompt: Prompt, params: GenParams) -> AsyncGenerator[Chunk, None]:
        """Yield the text as it is produced; the last chunk has ``done`` set and carries provenance."""

    async def complete(self, prompt: Prompt, params: GenParams) -> Completion:
        """The whole text at once (backends may override with a non-streaming request)."""
        parts: list[str] = []
        async for chunk in self.stream(prompt, params):
            parts.append(chunk.text)
            if chunk.done:
                assert chunk.info is not None
                return Completion("".join(parts), chunk.finish_reason, chunk.info)
        raise Unavailable(
            "text stream ended without a final chunk", reason="STREAM_TRUNCATED", domain="text-model"
        )

    @abc.abstractmethod
    async def _json_attempt(
        self, prompt: Prompt, schema: dict[str, Any], params: GenParams
    ) -> tuple[str, Provenance]:
        """One structured request: the raw answer text (expected to be JSON) and its provenance."""

    async def complete_json(
        self,
        prompt: Prompt,
        schema: dict[str, Any],
        params: GenParams,
        *,
        fallback: Fallback | None = None,
        check: Check | None = None,
    ) -> JsonResult:
        """An object valid against ``schema`` (and ``check``): the model's answer, its repair, or the fallback.

        The first answer is parsed and validated; if it fails, the model gets one repair attempt that shows it
        the problems. If that fails too, ``fallback(seed)`` is used (marked procedural), or ``ModelOutputInvalid``
        is raised when the caller gave none.
        """
        params = params.with_seed()
        started = time.perf_counter()
        problems: list[str] = []
        text, info = await self._json_attempt(prompt, schema, params)
        data, errs = validate_json(text, schema, check)
        if data is not None:
            info.latency_ms = (time.perf_counter() - started) * 1000
            return JsonResult(data, info)
        problems.extend(f"attempt 1: {e}" for e in errs)
        repair, repair_params = self._repair_prompt(prompt, text, errs, schema, params)
        if repair is None:
            problems.append("attempt 2: the repair prompt does not fit the model's window")
        else:
            text2, info2 = await self._json_attempt(repair, schema, repair_params)
            info.prompt_tokens += info2.prompt_tokens
            info.completion_tokens += info2.completion_tokens
            data, errs = validate_json(text2, schema, check)
            if data is not None:
                info.latency_ms = (time.perf_counter() - started) * 1000
                return JsonResult(data, info, repaired=True, problems=tuple(problems))
            problems.extend(f"attempt 2: {e}" for e in errs)
        if fallback is None:
            raise ModelOutputInvalid(problems)
        return use_fallback(fallback, schema, check, params.seed, info, started, problems)

    def _repair_prompt(
        self, prompt: Prompt, answer: str, problems: list[str], schema: dict[str, Any], params: GenParams
    ) -> tuple[Prompt | None, GenParams]:
        """The repair prompt (quoting the schema only if it fits) and a completion budget that fits the window."""
        window = self.context_window
        for quoted_schema in (schema, None):
            repair = self.prompts.repair(prompt, answer, problems, quoted_schema)
            room = window - self.count_messages(repair.messages) - REPAIR_MARGIN
            if room >= min(params.max_tokens, MIN_REPAIR_TOKENS):
                return repair, dataclasses.replace(params, max_tokens=min(params.max_tokens, room))
        return None, params


def use_fallback(
    fallback: Fallback,
    schema: dict[str, Any],
    check: Check | None,
    seed: int,
    info: Provenance,
    started: float,
    problems: list[str],
) -> JsonResult:
    """Run the caller's procedural fallback; it must fit the schema (an invalid fallback is a caller bug).

    The caller's ``check`` is not applied: it guards against the model changing what the caller computed, and
    the fallback is the caller's own computation.
    """
    data = fallback(seed)
    valid, errs = validate_json(json.dumps(data), schema)
    if valid is None:
        raise ValueError(f"procedural fallback violates its own schema: {errs}")
    fb_info = Provenance(
        backend="procedural",
        model="",
        seed=seed,
        procedural=True,
        prompt_tokens=info.prompt_tokens,
        completion_tokens=info.completion_tokens,
        latency_ms=(time.perf_counter() - started) * 1000,
    )
    return JsonResult(valid, fb_info, fallback=True, problems=tuple(problems))
