"""Narrate: screen the action, gather context, stream the model's narration through the output guard.

Context is the caller's pieces plus, when a campaign is given, what memory retrieves for the action; both are
trimmed to the model's window. Input moderation and retrieval run concurrently. A blocked input is refused
with its reason; a blocked output is cut where the guard stopped it and ends with a safe continuation
(finish_reason "moderated"). If the model server is unavailable before the first token, the procedural writer
narrates instead and the final message says so. With a campaign, the action and the narration are recorded as
events.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncGenerator

from prometheus_client import Histogram

from mesh import context as call_context
from mesh import metrics
from mesh.errors import Unavailable
from mesh.moderation import Moderator
from mesh.text import Chunk, GenParams, Prompt, Provenance, TextModel, build_prompt
from mesh.text.procedural import ProceduralBackend, load_tables
from narrative_svc.continuity import from_context
from narrative_svc.judge import model_judge
from narrative_svc.models import NarrationChunk, NarrationRequest, RetrievedContext
from narrative_svc.ports import MemoryPort
from narrative_svc.repair import ContinuityFilter, Repair, model_rewriter
from narrative_svc.screening import Screening


def stage_seconds() -> Histogram:
    """Where narration time goes inside the service: "prepare" (screening, prompt), "retrieval" (memory),
    "first_chunk_handoff" (the model's first text to the first message)."""
    return metrics.histogram(
        "dm_narrative_stage_seconds",
        "Time spent in narrative_svc stages (s).",
        ("stage",),
        buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
    )


class Narrator:
    """Streams narrations."""

    def __init__(
        self,
        model: TextModel,
        memory: MemoryPort,
        moderator: Moderator | None,
        *,
        context_budget: int = 1024,
        record_events: bool = True,
        continuity_guard: bool = True,
        continuity_judge: bool = False,
    ) -> None:
        self.model = model
        self.memory = memory
        self.moderator = moderator
        self.context_budget = context_budget
        self.record_events = record_events
        self.continuity_guard = continuity_guard
        self.continuity_judge = continuity_judge
        self.procedural = ProceduralBackend(context_window=max(model.context_window, 2048))

    async def _context(self, req: NarrationRequest) -> RetrievedContext:
        if not req.campaign_id or self.context_budget <= 0:
            return RetrievedContext(())
        return await self.memory.retrieve_context(
            world_id=req.world_id,
            campaign_id=req.campaign_id,
            query=req.action,
            token_budget=self.context_budget,
            audience=req.audience,
            character_ids=req.character_ids,
        )

    async def _timed_context(self, req: NarrationRequest) -> tuple[RetrievedContext, float]:
        started = time.perf_counter()
        retrieved = await self._context(req)
        return retrieved, time.perf_counter() - started

    async def narrate(self, req: NarrationRequest) -> AsyncGenerator[NarrationChunk, None]:
        """The narration stream: text chunks, then a final chunk with provenance and the finish reason."""
        started = time.perf_counter()
        screening = Screening(self.moderator, self.memory, req.campaign_id)
        # A caller that screened the action already (the gateway, in a turn) says so: one decision per input.
        screen_input = asyncio.sleep(0) if req.input_screened else screening.check_input(req.action, "action")
        _, (retrieved, retrieval_s) = await asyncio.gather(screen_input, self._timed_context(req))
        gathered = time.perf_counter()
        variables = {
            "action": req.action,
            "actor": req.actor,
            "tone": req.tone,
            "audience": req.audience,
            "outcomes": [o.as_variables() for o in req.outcomes],
        }
        prompt, max_tokens = build_prompt(
            self.model,
            "narrate",
            variables,
            (*req.context, *retrieved.items),
            req.max_tokens,
            overflow_field="action",
        )
        params = GenParams(max_tokens=max_tokens, temperature=req.temperature, seed=req.seed).with_seed()
        guard = screening.guard(req.action)
        continuity = self._continuity(prompt, params.seed)
        # Time spent here before the model is asked, retrieval excepted (it is its own histogram).
        stage_seconds().labels("prepare").observe(
            time.perf_counter() - gathered + (gathered - started - retrieval_s)
        )
        if req.campaign_id:
            stage_seconds().labels("retrieval").observe(retrieval_s)
        parts: list[str] = []
        index = 0
        finish = ""
        info: Provenance | None = None
        generation = self._generate(prompt, params)
        try:
            async for chunk in generation:
                if chunk.done:
                    info, finish = chunk.info, chunk.finish_reason
                    break
                text = chunk.text
                arrived = time.perf_counter()
                if continuity is not None:
                    text = await continuity.feed(text)  # held only until its sentence ends
                    if not text:
                        continue
                if guard is not None:
                    text, blocked = await guard.feed(text)
                    if blocked is not None:
                        screening.record(blocked)
                        finish = "moderated"
                        await generation.aclose()  # stop the model at once: nothing more of it is sent
                        break
                if text:
                    if index == 0:
                        stage_seconds().labels("first_chunk_handoff").observe(time.perf_counter() - arrived)
                    yield NarrationChunk(text, index, context=prompt.context if index == 0 else ())
                    if index == 0:
                        screening.start_writes()
                    parts.append(text)
                    index += 1
            if continuity is not None and finish != "moderated":
                tail = await continuity.finish()
                if tail and guard is not None:
                    tail, blocked = await guard.feed(tail)
                    if blocked is not None:
                        screening.record(blocked)
                        finish, tail = "moderated", ""
                if tail:
                    yield NarrationChunk(tail, index, context=prompt.context if index == 0 else ())
                    parts.append(tail)
                    index += 1
            if guard is not None and finish != "moderated":
                rest, decision = await guard.finish()
                screening.record(decision)
                if decision.allowed:
                    if rest:
                        yield NarrationChunk(rest, index, context=prompt.context if index == 0 else ())
                        parts.append(rest)
                        index += 1
                else:
                    finish = "moderated"
            if finish == "moderated":
                safe = self._safe_continuation(params.seed)
                text = ("\n\n" if parts else "") + safe
                yield NarrationChunk(text, index, context=prompt.context if index == 0 else ())
                parts.append(text)
                index += 1
            if info is None:  # the stream was cut by moderation before the model's final message
                model_name = str(getattr(self.model, "model", ""))
                info = Provenance(
                    self.model.backend, model_name, params.seed, self.model.backend == "procedural"
                )
            info.latency_ms = (time.perf_counter() - started) * 1000
            if self.record_events and req.campaign_id:
                repairs = continuity.repairs if continuity is not None else []
                await self._record(req, "".join(parts), info, finish, repairs)
        finally:
            await generation.aclose()
            await screening.drain()
        yield NarrationChunk("", index, done=True, finish_reason=finish or "stop", info=info)

    async def _generate(self, prompt: Prompt, params: GenParams) -> AsyncGenerator[Chunk, None]:
        """The model's stream, or the procedural writer's when the model is unavailable before any text."""
        stream = self.model.stream(prompt, params)
        try:
            first = await anext(stream)
        except Unavailable:
            await stream.aclose()
            async for chunk in self.procedural.stream(prompt, params):
                yield chunk
            return
        try:
            yield first
            async for chunk in stream:
                yield chunk
        finally:
            await stream.aclose()

    @staticmethod
    def _safe_continuation(seed: int) -> str:
        options = load_tables("narration")["safe_continuations"]
        return str(random.Random(f"safe:{seed}").choice(options))

    def _continuity(self, prompt: Prompt, seed: int) -> ContinuityFilter | None:
        """The continuity filter for this narration, or None when it is off or the context records no facts."""
        if not self.continuity_guard:
            return None
        facts = from_context(prompt.context)
        if facts.empty:
            return None
        # The procedural writer quotes the record; only a model's sentence is worth a second model call.
        by_model = self.model.backend != "procedural"
        rewrite = model_rewriter(self.model, seed) if by_model else None
        judge = model_judge(self.model, seed) if by_model and self.continuity_judge else None
        return ContinuityFilter(facts, rewrite, judge)

    async def _record(
        self, req: NarrationRequest, narration: str, info: Provenance, finish: str, repairs: list[Repair]
    ) -> None:
        base = call_context.request_id() or uuid.uuid4().hex
        meta = {
            "backend": info.backend,
            "model": info.model,
            "seed": info.seed,
            "procedural": info.procedural,
        }
        await self.memory.record_event(
            campaign_id=req.campaign_id,
            session_id=req.session_id,
            kind="player_action",
            actor=req.actor,
            content=req.action,
            audience="player",
            metadata={},
            request_id=f"{base}:action",
        )
        await self.memory.record_event(
            campaign_id=req.campaign_id,
            session_id=req.session_id,
            kind="dm_narration",
            actor="dm",
            content=narration,
            audience=req.audience,
            metadata={
                **meta,
                "finish_reason": finish or "stop",
                **({"continuity_repairs": [r.as_dict() for r in repairs]} if repairs else {}),
            },
            request_id=f"{base}:narration",
        )
