"""PlotTwist: a structured twist, validated against its schema and against the campaign's known cast.

The model answers in JSON (``response_format`` json_schema); the answer must name only NPCs and factions the
campaign knows. An answer that stays invalid after one repair is replaced by the procedural writer's twist,
and the result says so. The twist is recorded as a DM-only note so later narration can foreshadow it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from mesh import context as call_context
from mesh.text import GenParams, JsonResult, TextModel, build_prompt
from mesh.text.procedural import ProceduralBackend, write_plot_twist
from narrative_svc.models import RetrievedContext, Twist, TwistRequest
from narrative_svc.ports import MemoryPort

_TEXT = {"type": "string", "minLength": 1, "maxLength": 300}
_NAMES = {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 80}, "maxItems": 6}

#: The JSON schema the model's twist must satisfy (string lengths bounded so a model cannot ramble forever).
TWIST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "minLength": 1, "maxLength": 80},
        "twist": {"type": "string", "minLength": 1, "maxLength": 600},
        "foreshadowing": {"type": "array", "items": _TEXT, "minItems": 1, "maxItems": 5},
        "affected_npcs": _NAMES,
        "affected_factions": _NAMES,
        "timeline_note": _TEXT,
    },
    "required": ["title", "twist", "foreshadowing", "affected_npcs", "affected_factions", "timeline_note"],
    "additionalProperties": False,
}


def cast_check(npcs: list[str], factions: list[str]) -> Callable[[dict[str, Any]], list[str]]:
    """A check that the twist names only known NPCs and factions (when the campaign has any on record)."""
    known_npcs = {n.casefold() for n in npcs}
    known_factions = {f.casefold() for f in factions}

    def check(data: dict[str, Any]) -> list[str]:
        problems = []
        if known_npcs:
            unknown = [n for n in data["affected_npcs"] if n.casefold() not in known_npcs]
            if unknown:
                problems.append(f"affected_npcs: unknown NPCs {unknown}; choose from {sorted(npcs)}")
        if known_factions:
            unknown = [f for f in data["affected_factions"] if f.casefold() not in known_factions]
            if unknown:
                problems.append(
                    f"affected_factions: unknown factions {unknown}; choose from {sorted(factions)}"
                )
        return problems

    return check


class TwistWriter:
    """Invents plot twists."""

    def __init__(self, model: TextModel, memory: MemoryPort, *, context_budget: int = 1024) -> None:
        self.model = model
        self.memory = memory
        self.context_budget = context_budget

    async def _gather(self, req: TwistRequest) -> tuple[RetrievedContext, list[str], list[str]]:
        if not req.campaign_id:
            return RetrievedContext(()), [], []
        retrieved, npcs, factions = await asyncio.gather(
            self.memory.retrieve_context(
                world_id=req.world_id,
                campaign_id=req.campaign_id,
                query=req.situation or "history timeline factions secrets",
                token_budget=self.context_budget,
                audience="dm",
            ),
            self.memory.list_npcs(req.campaign_id),
            self.memory.list_factions(req.campaign_id),
        )
        return retrieved, npcs, factions

    async def plot_twist(self, req: TwistRequest) -> tuple[Twist, JsonResult]:
        """The twist and how it was produced (``result.fallback`` when the procedural writer stood in)."""
        retrieved, npcs, factions = await self._gather(req)
        variables = {"situation": req.situation, "npcs": npcs, "factions": factions}
        prompt, max_tokens = build_prompt(
            self.model, "plot_twist", variables, retrieved.items, req.max_tokens, overflow_field="situation"
        )
        params = GenParams(max_tokens=max_tokens, temperature=0.9, seed=req.seed)

        def fallback(seed: int) -> dict[str, Any]:
            return write_plot_twist(prompt, ProceduralBackend.rng(prompt, seed))

        result = await self.model.complete_json(
            prompt, TWIST_SCHEMA, params, fallback=fallback, check=cast_check(npcs, factions)
        )
        twist = to_twist(result.data)
        if req.campaign_id:
            await self._record(req, twist, result)
        return twist, result

    async def _record(self, req: TwistRequest, twist: Twist, result: JsonResult) -> None:
        base = call_context.request_id() or uuid.uuid4().hex
        await self.memory.record_event(
            campaign_id=req.campaign_id,
            session_id="",
            kind="note",
            actor="dm",
            content=f"Plot twist planned: {twist.title}. {twist.twist}",
            audience="dm",
            metadata={
                "plot_twist": result.data,
                "backend": result.info.backend,
                "procedural": result.info.procedural,
            },
            request_id=f"{base}:twist",
        )


def to_twist(data: dict[str, Any]) -> Twist:
    """A validated twist object as a domain value."""
    return Twist(
        title=str(data["title"]),
        twist=str(data["twist"]),
        foreshadowing=tuple(str(x) for x in data["foreshadowing"]),
        affected_npcs=tuple(str(x) for x in data["affected_npcs"]),
        affected_factions=tuple(str(x) for x in data["affected_factions"]),
        timeline_note=str(data["timeline_note"]),
    )
