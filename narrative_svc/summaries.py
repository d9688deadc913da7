"""SummarizeSession: compress events into a summary event stored back in memory.

Hierarchical, so long campaigns stay within the window: a session's events become a session summary; the
session summaries since the last arc summary become an arc summary. A session too long for one prompt is
summarised in parts that fit the window, and the parts are summarised again (map, then reduce).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from mesh import context as call_context
from mesh.errors import FailedPrecondition
from mesh.text import ContextItem, GenParams, Provenance, TextModel, build_prompt
from mesh.text.window import MARGIN_TOKENS, MIN_ITEM_TOKENS, fit_context
from narrative_svc.models import EventRecord, SummaryRequest
from narrative_svc.ports import MemoryPort

#: Kinds that are themselves summaries, never summarised again at the session level.
SUMMARY_KINDS = ("session_summary", "arc_summary")
#: Most rounds of reduce before giving up (each round shrinks the input several times over).
MAX_ROUNDS = 4


@dataclass(frozen=True, slots=True)
class SummaryResult:
    """The summary, the stored event, how many events went in, and provenance."""

    summary: str
    event: EventRecord
    source_events: int
    info: Provenance


def as_item(event: EventRecord) -> ContextItem:
    """An event as a prompt item (title: kind and actor)."""
    title = event.kind.replace("_", " ") + (f" by {event.actor}" if event.actor else "")
    return ContextItem(event.content, title=title, source="event", source_id=event.id)


class Summarizer:
    """Writes session and arc summaries."""

    def __init__(self, model: TextModel, memory: MemoryPort) -> None:
        self.model = model
        self.memory = memory

    async def _sources(self, req: SummaryRequest) -> list[EventRecord]:
        if req.level == "arc":
            events = await self.memory.list_events(campaign_id=req.campaign_id, kinds=SUMMARY_KINDS)
            last_arc = max((i for i, e in enumerate(events) if e.kind == "arc_summary"), default=-1)
            return [e for e in events[last_arc + 1 :] if e.kind == "session_summary"]
        events = await self.memory.list_events(campaign_id=req.campaign_id, session_id=req.session_id)
        return [e for e in events if e.kind not in SUMMARY_KINDS]

    async def summarize(self, req: SummaryRequest) -> SummaryResult:
        """Summarise and store; FailedPrecondition when there is nothing to summarise."""
        events = await self._sources(req)
        if not events:
            what = (
                "session summaries since the last arc summary"
                if req.level == "arc"
                else "events in this session"
            )
            raise FailedPrecondition(f"nothing to summarise: no {what}")
        params = GenParams(max_tokens=req.max_tokens, temperature=0.3, seed=req.seed).with_seed()
        items = [as_item(e) for e in events]
        text, info = await self._reduce(items, req.level, params)
        kind = "arc_summary" if req.level == "arc" else "session_summary"
        base = call_context.request_id() or uuid.uuid4().hex
        event = await self.memory.record_event(
            campaign_id=req.campaign_id,
            session_id=req.session_id if req.level != "arc" else "",
            kind=kind,
            actor="chronicler",
            content=text,
            audience="dm",
            metadata={
                "source_events": len(events),
                "source_event_ids": [e.id for e in events],
                "backend": info.backend,
                "model": info.model,
                "procedural": info.procedural,
                "seed": info.seed,
            },
            request_id=f"{base}:{kind}",
        )
        return SummaryResult(text, event, len(events), info)

    async def _reduce(
        self, items: list[ContextItem], level: str, params: GenParams
    ) -> tuple[str, Provenance]:
        """Summarise ``items``, in window-sized parts when they do not fit one prompt."""
        total: Provenance | None = None
        for _ in range(MAX_ROUNDS):
            texts = []
            for part, room in self._partition(items, level, params.max_tokens):
                prompt, max_tokens = build_prompt(
                    self.model, "summarize", {"level": level}, part, min(params.max_tokens, room)
                )
                done = await self.model.complete(
                    prompt, GenParams(max_tokens=max_tokens, temperature=params.temperature, seed=params.seed)
                )
                texts.append(done.text.strip())
                total = _add(total, done.info)
            if len(texts) == 1:
                assert total is not None
                return texts[0], total
            items = [ContextItem(t, title=f"part {i + 1}", source="summary") for i, t in enumerate(texts)]
        raise FailedPrecondition("too much to summarise within the model's window")

    def _partition(
        self, items: list[ContextItem], level: str, max_tokens: int
    ) -> list[tuple[list[ContextItem], int]]:
        """Consecutive runs of items (oldest first) that each fit one prompt, with the completion room left.

        A third of the window (or ``max_tokens`` if smaller) is reserved for each part's completion.
        """
        window = self.model.context_window
        bare = self.model.count_messages(self.model.prompts.messages("summarize", {"level": level}, ()))
        bare += MARGIN_TOKENS
        budget = max(MIN_ITEM_TOKENS, window - bare - min(max_tokens, window // 3))
        parts: list[tuple[list[ContextItem], int]] = []
        current: list[ContextItem] = []
        used = 0
        for item in items:
            cost = self.model.count_tokens(item.text) + self.model.count_tokens(item.title) + 4
            if current and used + cost > budget:
                parts.append((current, window - bare - used))
                current, used = [], 0
            if cost > budget:  # one huge event: cut it to the budget rather than fail
                item = fit_context([item], budget, self.model)[0]
                cost = budget
            current.append(item)
            used += cost
        parts.append((current, window - bare - used))
        return parts


def _add(total: Provenance | None, info: Provenance) -> Provenance:
    if total is None:
        return Provenance(**{k: getattr(info, k) for k in info.__slots__})
    total.prompt_tokens += info.prompt_tokens
    total.completion_tokens += info.completion_tokens
    total.latency_ms += info.latency_ms
    total.procedural = total.procedural or info.procedural
    return total
