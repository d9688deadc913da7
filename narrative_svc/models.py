"""Domain requests and results of the narrative service (no protobuf, no grpc)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mesh.text import ContextItem, Provenance
from mesh.text.outcomes import Outcome

#: Context sources in the order they survive trimming (lower first).
PRIORITY = {"pinned": 0, "caller": 1, "character_state": 1, "lore": 2, "campaign": 3, "recent_event": 4}


@dataclass(frozen=True, slots=True)
class NarrationRequest:
    """A validated Narrate request."""

    action: str
    actor: str = ""
    campaign_id: str = ""
    world_id: str = ""
    session_id: str = ""
    character_ids: tuple[str, ...] = ()
    context: tuple[ContextItem, ...] = ()
    max_tokens: int = 300
    temperature: float = 0.8
    seed: int = 0
    audience: str = "player"
    tone: str = ""
    input_screened: bool = False
    outcomes: tuple[Outcome, ...] = ()


@dataclass(frozen=True, slots=True)
class NarrationChunk:
    """One message of the narration stream; ``context`` is set on the first, ``info`` on the last."""

    text: str
    index: int
    done: bool = False
    finish_reason: str = ""
    info: Provenance | None = None
    context: tuple[ContextItem, ...] = ()


@dataclass(frozen=True, slots=True)
class TwistRequest:
    """A validated PlotTwist request."""

    campaign_id: str = ""
    world_id: str = ""
    situation: str = ""
    seed: int = 0
    max_tokens: int = 600


@dataclass(frozen=True, slots=True)
class Twist:
    """A plot twist as the model (or the procedural writer) produced it."""

    title: str
    twist: str
    foreshadowing: tuple[str, ...]
    affected_npcs: tuple[str, ...]
    affected_factions: tuple[str, ...]
    timeline_note: str


@dataclass(frozen=True, slots=True)
class SummaryRequest:
    """A validated SummarizeSession request; ``level`` is "session" or "arc"."""

    campaign_id: str
    session_id: str = ""
    level: str = "session"
    seed: int = 0
    max_tokens: int = 400


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A campaign event as memory stores it."""

    id: str
    campaign_id: str
    session_id: str
    kind: str
    actor: str
    content: str
    audience: str = "player"
    metadata: dict[str, Any] = field(default_factory=dict)
    occur_time: float = 0.0
    request_id: str = ""


@dataclass(frozen=True, slots=True)
class RetrievedContext:
    """What memory returned for a query, flattened into prioritised items."""

    items: tuple[ContextItem, ...]
    degraded: bool = False
