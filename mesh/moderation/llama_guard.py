"""The Llama Guard moderator: a Llama Guard 3 or 4 model served by vLLM classifies each text.

The prompt is Llama Guard's own classification prompt (categories S1-S14, the conversation, the instruction to
answer ``safe`` or ``unsafe`` plus a category line) sent raw to ``/v1/completions``, so it works whatever chat
template the server has. Only the categories listed in ``enforce`` block; the others are logged. Streams are
screened per sentence: text is released once the sentence it belongs to has been judged safe.
"""

from __future__ import annotations

import re
from typing import Literal

import httpx

from mesh.errors import Unavailable
from mesh.moderation.types import (
    CATEGORIES,
    Decision,
    Direction,
    Moderator,
    StreamGuard,
    describe,
    sha256_text,
)
from mesh.text.endpoints import EndpointPool

Dialect = Literal["llama-guard-3", "llama-guard-4"]

_SPECIAL: dict[str, tuple[str, str]] = {
    # (prefix up to the user turn's content, suffix that opens the assistant turn)
    "llama-guard-3": (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n",
        "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    ),
    "llama-guard-4": (
        "<|begin_of_text|><|header_start|>user<|header_end|>\n\n",
        "<|eot|><|header_start|>assistant<|header_end|>\n\n",
    ),
}
_SENTENCE_END = re.compile(r"[.!?…]['\")\]]?\s")


def guard_prompt(
    text: str, direction: Direction, prompt: str = "", dialect: Dialect = "llama-guard-3"
) -> str:
    """Llama Guard's classification prompt for the last user message (input) or agent message (output)."""
    role = "User" if direction == "input" else "Agent"
    policy = "according our safety policy" if dialect == "llama-guard-3" else "according to our safety policy"
    categories = "\n".join(f"{code}: {name}." for code, name in CATEGORIES.items())
    turns = [f"User: {text}"] if direction == "input" else [f"User: {prompt}", f"Agent: {text}"]
    conversation = "\n\n".join(turns)
    head, tail = _SPECIAL[dialect]
    return (
        f"{head}Task: Check if there is unsafe content in '{role}' messages in conversations {policy} "
        "with the below categories.\n\n"
        f"<BEGIN UNSAFE CONTENT CATEGORIES>\n{categories}\n<END UNSAFE CONTENT CATEGORIES>\n\n"
        f"<BEGIN CONVERSATION>\n\n{conversation}\n\n<END CONVERSATION>\n\n"
        f"Provide your safety assessment for ONLY THE LAST {role} message in the above conversation:\n"
        " - First line must read 'safe' or 'unsafe'.\n"
        " - If unsafe, a second line must include a comma-separated list of violated categories."
        f"{tail}"
    )


def parse_verdict(answer: str) -> tuple[bool, tuple[str, ...]]:
    """``(safe, categories)`` from ``"safe"`` or ``"unsafe\\nS1,S10"``; ValueError for anything else."""
    lines = [line.strip() for line in answer.strip().splitlines() if line.strip()]
    if not lines:
        raise ValueError("empty Llama Guard answer")
    verdict = lines[0].lower()
    if verdict == "safe":
        return True, ()
    if verdict != "unsafe":
        raise ValueError(f"unexpected Llama Guard answer: {answer[:80]!r}")
    codes = re.findall(r"S\d{1,2}", lines[1].upper()) if len(lines) > 1 else []
    return False, tuple(dict.fromkeys(codes))


class LlamaGuardModerator(Moderator):
    """Asks a Llama Guard model on one or more vLLM servers; tries the next server when one fails."""

    name = "llama-guard"

    def __init__(
        self,
        urls: list[str],
        *,
        model: str = "",
        enforce: tuple[str, ...] = (),
        dialect: Dialect = "llama-guard-3",
        timeout_s: float = 10.0,
    ) -> None:
        self.pool = EndpointPool(urls)
        self.model = model
        self.enforce = frozenset(enforce or CATEGORIES)
        self.dialect = dialect
        self.timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_s)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _model_name(self, base_url: str) -> str:
        if not self.model:
            listing = (await self.client.get(base_url + "/v1/models")).raise_for_status().json()
            self.model = str(listing["data"][0]["id"])
        return self.model

    async def classify(
        self, text: str, direction: Direction, prompt: str = ""
    ) -> tuple[bool, tuple[str, ...]]:
        """Llama Guard's verdict on ``text``; Unavailable when no server gives a readable answer."""
        body_prompt = guard_prompt(text, direction, prompt, self.dialect)
        errors: list[str] = []
        tried: set[str] = set()
        for _ in self.pool.endpoints:
            endpoint = self.pool.choose(exclude=tried)
            tried.add(endpoint.base_url)
            self.pool.acquire(endpoint)
            try:
                body = {
                    "model": await self._model_name(endpoint.base_url),
                    "prompt": body_prompt,
                    "max_tokens": 20,
                    "temperature": 0.0,
                }
                reply = await self.client.post(endpoint.base_url + "/v1/completions", json=body)
                reply.raise_for_status()
                verdict = parse_verdict(str(reply.json()["choices"][0]["text"]))
                self.pool.mark_success(endpoint)
                return verdict
            except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
                self.pool.mark_failure(endpoint)
                errors.append(f"{endpoint.base_url}: {type(exc).__name__}: {exc}")
            finally:
                self.pool.release(endpoint)
        raise Unavailable(
            "content moderation unavailable: " + "; ".join(errors), "MODERATION_UNAVAILABLE", "llama-guard"
        )

    def decide(self, text: str, direction: Direction, safe: bool, categories: tuple[str, ...]) -> Decision:
        """Block only on enforced categories; the others are reported but allowed."""
        blocking = tuple(c for c in categories if c in self.enforce)
        digest = sha256_text(text)
        if safe or not blocking:
            reason = "judged safe" if safe else f"flagged but not enforced: {describe(categories)}"
            return Decision(True, direction, self.name, categories, reason, digest)
        return Decision(
            False,
            direction,
            self.name,
            categories,
            f"{direction} blocked by Llama Guard: {describe(blocking)}",
            digest,
        )

    async def screen(self, text: str, direction: Direction, prompt: str = "") -> Decision:
        safe, categories = await self.classify(text, direction, prompt)
        return self.decide(text, direction, safe, categories)

    def guard(self, prompt: str = "") -> StreamGuard:
        return SentenceStreamGuard(self, prompt)


class SentenceStreamGuard(StreamGuard):
    """Screens the output so far at each sentence end and releases the sentences judged safe."""

    def __init__(self, moderator: LlamaGuardModerator, prompt: str) -> None:
        self.moderator = moderator
        self.prompt = prompt
        self.released = ""
        self.pending = ""

    async def _judge(self, text: str) -> Decision:
        return await self.moderator.screen(text, "output", self.prompt)

    async def feed(self, text: str) -> tuple[str, Decision | None]:
        self.pending += text
        ends = list(_SENTENCE_END.finditer(self.pending))
        if not ends:
            return "", None
        cut = ends[-1].end()
        decision = await self._judge(self.released + self.pending[:cut])
        if not decision.allowed:
            return "", decision
        out, self.pending = self.pending[:cut], self.pending[cut:]
        self.released += out
        return out, None

    async def finish(self) -> tuple[str, Decision]:
        full = self.released + self.pending
        decision = await self._judge(full)
        if not decision.allowed:
            return "", decision
        out, self.pending = self.pending, ""
        self.released += out
        return out, decision
