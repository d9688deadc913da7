"""Value types shared by every text backend: messages, parameters, chunks, results and their provenance.

Kept free of I/O and of any backend so callers (npc_svc, item_svc, narrative_svc...) depend only on these.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]

#: Largest seed sent to a model server (vLLM takes a signed 64-bit int; proto seeds are int64).
MAX_SEED = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message."""

    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class ContextItem:
    """A piece of retrieved context (lore, a campaign fact, a character state) the prose may draw on.

    ``priority`` orders what survives trimming to the model's window: lower numbers are kept first.
    """

    text: str
    title: str = ""
    source: str = ""
    source_id: str = ""
    citation: str = ""
    score: float = 0.0
    priority: int = 5
    audience: str = "player"


@dataclass(frozen=True, slots=True)
class Prompt:
    """What a backend is asked to write.

    ``messages`` is the rendered chat for a language model. ``task``, ``variables`` and ``context`` carry the same
    request in structured form so the procedural backend can write from tables without parsing prose.
    """

    task: str
    messages: tuple[Message, ...]
    variables: dict[str, Any] = field(default_factory=dict)
    context: tuple[ContextItem, ...] = ()


@dataclass(frozen=True, slots=True)
class GenParams:
    """Sampling parameters; ``seed`` 0 means "pick one" (the chosen seed is echoed in the provenance)."""

    max_tokens: int = 300
    temperature: float = 0.8
    top_p: float = 0.95
    seed: int = 0
    stop: tuple[str, ...] = ()

    def with_seed(self) -> GenParams:
        """A copy with a concrete seed: the given one, or a random one when it is 0."""
        if self.seed:
            return self
        return GenParams(
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            seed=secrets.randbelow(2**31 - 1) + 1,
            stop=self.stop,
        )


@dataclass(slots=True)
class Provenance:
    """How a result was produced; mirrors ``dungeonmaster.v1.GenerationInfo`` field for field."""

    backend: str
    model: str
    seed: int
    procedural: bool
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of streamed text. The last chunk of a stream has ``done`` set, and carries provenance and the
    finish reason ("stop", "length"); its text may be empty."""

    text: str
    index: int
    done: bool = False
    finish_reason: str = ""
    info: Provenance | None = None


@dataclass(frozen=True, slots=True)
class Completion:
    """A whole generated text with its provenance."""

    text: str
    finish_reason: str
    info: Provenance


@dataclass(frozen=True, slots=True)
class JsonResult:
    """A structured result: the validated object and how it was obtained.

    ``repaired`` is true when the first answer was invalid and the repair attempt fixed it; ``fallback`` is true
    when the caller's procedural fallback was used instead of the model's answer (``info.procedural`` is then
    true as well); ``problems`` lists what was wrong with the rejected answers.
    """

    data: dict[str, Any]
    info: Provenance
    repaired: bool = False
    fallback: bool = False
    problems: tuple[str, ...] = ()
