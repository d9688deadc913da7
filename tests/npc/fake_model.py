"""A text model that answers with canned strings, to test what happens to bad model output."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from mesh.text import Chunk, GenParams, Prompt, Provenance, TextModel


class CannedModel(TextModel):
    """Returns ``answers`` in order for structured requests (the last one repeats); records the prompts."""

    backend = "fake"

    def __init__(self, answers: list[str]) -> None:
        super().__init__()
        self.answers = list(answers)
        self.seen: list[Prompt] = []

    @property
    def context_window(self) -> int:
        return 8192

    def count_tokens(self, text: str) -> int:
        return len(text) // 4 + 1

    async def stream(self, prompt: Prompt, params: GenParams) -> AsyncIterator[Chunk]:
        yield Chunk("", 0, done=True, finish_reason="stop", info=self._info(params.seed))

    def _info(self, seed: int) -> Provenance:
        return Provenance(backend=self.backend, model="canned", seed=seed, procedural=False, prompt_tokens=10)

    async def _json_attempt(
        self, prompt: Prompt, schema: dict[str, Any], params: GenParams
    ) -> tuple[str, Provenance]:
        self.seen.append(prompt)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer, self._info(params.seed)
