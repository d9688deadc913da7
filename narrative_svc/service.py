"""The NarrativeService servicer: validates requests, maps protos to domain values and back, nothing else."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

import grpc

from dungeonmaster.v1 import common_pb2, memory_pb2, narrative_pb2, narrative_pb2_grpc
from mesh.errors import Violations
from mesh.health import Readiness
from mesh.moderation import Moderator, get_moderator
from mesh.server import ServiceSpec
from mesh.settings import Settings
from mesh.text import ContextItem, TextModel, get_text_model
from mesh.text.info_proto import info_proto
from mesh.text.outcomes import DEGREES, Outcome
from narrative_svc.memory_client import (
    SOURCE_ENUM,
    GrpcMemory,
    audience_enum,
    event_to_proto,
    item_from_piece,
)
from narrative_svc.models import PRIORITY, NarrationRequest, SummaryRequest, TwistRequest
from narrative_svc.narrator import Narrator
from narrative_svc.ports import MemoryPort
from narrative_svc.summaries import Summarizer
from narrative_svc.twists import TwistWriter

SERVICE_NAME = narrative_pb2.DESCRIPTOR.services_by_name["NarrativeService"].full_name
MAX_TOKENS = 4096
MAX_TEXT = 4000
MAX_OUTCOMES = 8


def piece_proto(item: ContextItem, model: TextModel) -> memory_pb2.ContextPiece:
    """A context item as the contract's ContextPiece (tokens counted by the model in use)."""
    return memory_pb2.ContextPiece(
        source=SOURCE_ENUM.get(item.source, memory_pb2.CONTEXT_SOURCE_UNSPECIFIED),
        source_id=item.source_id,
        citation=item.citation,
        title=item.title,
        text=item.text,
        score=item.score,
        tokens=model.count_tokens(item.text),
        audience=audience_enum(item.audience),  # type: ignore[arg-type]
    )


def _tokens(v: Violations, value: int, default: int, field: str) -> int:
    if value == 0:
        return default
    v.check(
        1 <= value <= MAX_TOKENS,
        field,
        f"must be between 1 and {MAX_TOKENS} (0 = default {default}), got {value}",
    )
    return value


def outcomes_from_proto(
    v: Violations, outcomes: Sequence[narrative_pb2.NarrationOutcome]
) -> tuple[Outcome, ...]:
    """The decided outcomes of a Narrate request, each field checked (violations collected in ``v``)."""
    v.check(len(outcomes) <= MAX_OUTCOMES, "outcomes", f"at most {MAX_OUTCOMES}")
    result = []
    for i, o in enumerate(outcomes[:MAX_OUTCOMES]):
        v.check(len(o.statement) <= 1000, f"outcomes[{i}].statement", "at most 1000 characters")
        v.check(
            1 <= len(o.check.strip()) <= 40 or (bool(o.statement.strip()) and not o.check.strip()),
            f"outcomes[{i}].check",
            "must be 1-40 characters (or empty with a statement)",
        )
        v.check(len(o.actor) <= 100, f"outcomes[{i}].actor", "at most 100 characters")
        v.check(
            o.degree in ("", *DEGREES),
            f"outcomes[{i}].degree",
            f"must be one of {', '.join(DEGREES)} (or empty)",
        )
        degree = o.degree or ("success" if o.success else "failure")
        v.check(
            (degree in ("critical", "success")) == o.success,
            f"outcomes[{i}].degree",
            f"{degree!r} contradicts success={o.success}",
        )
        result.append(
            Outcome(o.actor.strip(), o.check.strip(), o.success, degree, o.total, o.dc, o.statement.strip())
        )
    return tuple(result)


def _audience(value: int) -> str:
    return "dm" if value == common_pb2.AUDIENCE_DM else "player"


class NarrativeServicer(narrative_pb2_grpc.NarrativeServiceServicer):
    """Narrate, PlotTwist and SummarizeSession over the domain objects."""

    def __init__(
        self, narrator: Narrator, twists: TwistWriter, summarizer: Summarizer, model: TextModel
    ) -> None:
        self.narrator = narrator
        self.twists = twists
        self.summarizer = summarizer
        self.model = model

    async def Narrate(
        self, request: narrative_pb2.NarrateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[narrative_pb2.NarrateResponse]:
        v = Violations()
        v.check(bool(request.action.strip()), "action", "must not be empty")
        v.check(len(request.action) <= MAX_TEXT, "action", f"must be at most {MAX_TEXT} characters")
        max_tokens = _tokens(v, request.max_tokens, 300, "max_tokens")
        temperature = request.temperature if request.temperature != 0 else 0.8
        v.check(
            0 <= request.temperature <= 2,
            "temperature",
            f"must be between 0 and 2, got {request.temperature:g}",
        )
        for i, piece in enumerate(request.context):
            v.check(bool(piece.text.strip()), f"context[{i}].text", "must not be empty")
        outcomes = outcomes_from_proto(v, request.outcomes)
        v.raise_if_any()
        caller = tuple(
            ContextItem(
                text=p.text,
                title=p.title,
                source="caller",
                source_id=p.source_id,
                citation=p.citation,
                score=p.score,
                priority=PRIORITY["caller"],
                audience=_audience(p.audience),
            )
            if p.source == memory_pb2.CONTEXT_SOURCE_UNSPECIFIED
            else item_from_piece(p)
            for p in request.context
        )
        domain = NarrationRequest(
            action=request.action.strip(),
            actor=request.actor.strip(),
            campaign_id=request.campaign_id,
            world_id=request.world_id,
            session_id=request.session_id,
            character_ids=tuple(request.character_ids),
            context=caller,
            max_tokens=max_tokens,
            temperature=temperature,
            seed=request.seed,
            audience=_audience(request.audience),
            tone=request.tone.strip(),
            input_screened=request.input_screened,
            outcomes=outcomes,
        )
        # Closed explicitly when the call ends early, so the model request stops with it.
        async with contextlib.aclosing(self.narrator.narrate(domain)) as chunks:
            async for chunk in chunks:
                reply = narrative_pb2.NarrateResponse(text=chunk.text, index=chunk.index, done=chunk.done)
                if chunk.context:
                    reply.context.extend(piece_proto(c, self.model) for c in chunk.context)
                if chunk.done:
                    reply.info.CopyFrom(info_proto(chunk.info))
                    reply.finish_reason = chunk.finish_reason
                yield reply

    async def PlotTwist(
        self, request: narrative_pb2.PlotTwistRequest, context: grpc.aio.ServicerContext
    ) -> narrative_pb2.PlotTwistResponse:
        v = Violations()
        v.check(len(request.situation) <= MAX_TEXT, "situation", f"must be at most {MAX_TEXT} characters")
        max_tokens = _tokens(v, request.max_tokens, 600, "max_tokens")
        v.raise_if_any()
        twist, result = await self.twists.plot_twist(
            TwistRequest(
                campaign_id=request.campaign_id,
                world_id=request.world_id,
                situation=request.situation.strip(),
                seed=request.seed,
                max_tokens=max_tokens,
            )
        )
        return narrative_pb2.PlotTwistResponse(
            twist=narrative_pb2.PlotTwist(
                title=twist.title,
                twist=twist.twist,
                foreshadowing=list(twist.foreshadowing),
                affected_npcs=list(twist.affected_npcs),
                affected_factions=list(twist.affected_factions),
                timeline_note=twist.timeline_note,
            ),
            info=info_proto(result.info),
        )

    async def SummarizeSession(
        self, request: narrative_pb2.SummarizeSessionRequest, context: grpc.aio.ServicerContext
    ) -> narrative_pb2.SummarizeSessionResponse:
        arc = request.level == narrative_pb2.SUMMARY_LEVEL_ARC
        v = Violations()
        v.check(bool(request.campaign_id.strip()), "campaign_id", "must not be empty")
        if not arc:
            v.check(bool(request.session_id.strip()), "session_id", "must not be empty for a session summary")
        max_tokens = _tokens(v, request.max_tokens, 400, "max_tokens")
        v.raise_if_any()
        result = await self.summarizer.summarize(
            SummaryRequest(
                campaign_id=request.campaign_id,
                session_id=request.session_id,
                level="arc" if arc else "session",
                seed=request.seed,
                max_tokens=max_tokens,
            )
        )
        return narrative_pb2.SummarizeSessionResponse(
            summary=result.summary,
            event=event_to_proto(result.event),
            source_events=result.source_events,
            info=info_proto(result.info),
        )


def build_spec(
    settings: Settings,
    *,
    model: TextModel | None = None,
    memory: MemoryPort | None = None,
    moderator: Moderator | None = None,
) -> ServiceSpec:
    """The narrative service: text model from the settings (or ``model``), memory over gRPC, moderation."""
    text = model or get_text_model(settings)
    mem: MemoryPort = memory or GrpcMemory(settings)
    mod = moderator if moderator is not None else get_moderator(settings)
    narrator = Narrator(
        text,
        mem,
        mod,
        context_budget=settings.narrative_context_budget,
        record_events=settings.narrative_record_events,
        continuity_guard=settings.narrative_continuity_guard,
        continuity_judge=settings.narrative_continuity_judge,
    )
    servicer = NarrativeServicer(
        narrator,
        TwistWriter(text, mem, context_budget=settings.narrative_context_budget),
        Summarizer(text, mem),
        text,
    )

    def register(server: grpc.aio.Server) -> None:
        narrative_pb2_grpc.add_NarrativeServiceServicer_to_server(servicer, server)

    async def readiness() -> Readiness:
        ok, why = await text.ready()
        if ok:
            return Readiness(ready=True, reason=f"text backend {text.backend} ready")
        # Narration still works: the procedural writer stands in while the model servers are down.
        return Readiness(ready=True, reason=why, degraded=["text-model"])

    async def shutdown() -> None:
        await text.close()
        if mod is not None:
            await mod.close()
        await mem.close()

    return ServiceSpec(
        name="narrative",
        service_names=[SERVICE_NAME],
        register=register,
        readiness=readiness,
        startup=text.start,
        shutdown=shutdown,
    )
