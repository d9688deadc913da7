"""A whole turn: screen, remember, retrieve, plan, build and narrate concurrently, record, report.

The order of work: the player's action is recorded (its idempotency key tells a replay from a new turn) while
the campaign and the context are fetched; then narration streams while the encounter, NPC and item the plan
calls for are built concurrently, and a picture is requested in the background. Narration chunks and built
things are yielded as they arrive. Memory and narration are required: their failure fails the turn. The
builders and the image are optional: their failure becomes a warning and the turn goes on.

No gRPC here: the services are reached through the ``Services`` protocol and fail with ``mesh.errors``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
import time
from collections.abc import AsyncGenerator, Awaitable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from google.protobuf import message as pb_message

from dungeonmaster.v1 import (
    common_pb2,
    encounter_pb2,
    item_pb2,
    memory_pb2,
    narrative_pb2,
    npc_pb2,
    visual_pb2,
)
from gateway import combat_turn
from gateway.builds import audience_for, image_request, item_request
from gateway.cast import cast_of, check_name, check_request, degree_name, party_of
from gateway.planner import _FIGHT, Planner, TurnPlan
from mesh import errors
from mesh.moderation import Decision, Moderator

log = logging.getLogger("gateway.turn")

DIFFICULTIES: dict[str, encounter_pb2.Difficulty.ValueType] = {
    "easy": encounter_pb2.DIFFICULTY_EASY,
    "medium": encounter_pb2.DIFFICULTY_MEDIUM,
    "hard": encounter_pb2.DIFFICULTY_HARD,
    "deadly": encounter_pb2.DIFFICULTY_DEADLY,
}

#: Most foes a turn's encounter brings: more than a table can follow in narration or play round by round.
TURN_MAX_FOES = 6

#: How many pages of narration events a replay searches for the stored narration (100 events each).
REPLAY_PAGES = 5


class Services(combat_turn.CombatServices, Protocol):
    """What a turn needs from the mesh (implemented over gRPC by ``gateway.clients.ServiceClients``)."""

    async def get_campaign(self, campaign_id: str) -> memory_pb2.Campaign: ...
    async def get_world(self, world_id: str) -> memory_pb2.World: ...
    async def retrieve(
        self, request: memory_pb2.RetrieveContextRequest
    ) -> memory_pb2.RetrieveContextResponse: ...
    async def record_event(
        self, request: memory_pb2.RecordEventRequest
    ) -> memory_pb2.RecordEventResponse: ...
    async def log_moderation(self, decision: memory_pb2.ModerationDecision) -> None: ...
    async def get_character(self, request: memory_pb2.GetCharacterRequest) -> memory_pb2.Character: ...
    async def resolve_check(
        self, request: encounter_pb2.ResolveCheckRequest
    ) -> encounter_pb2.ResolveCheckResponse: ...
    def narrate(
        self, request: narrative_pb2.NarrateRequest
    ) -> AsyncGenerator[narrative_pb2.NarrateResponse, None]: ...
    async def generate_npc(self, request: npc_pb2.GenerateNpcRequest) -> npc_pb2.GenerateNpcResponse: ...
    async def generate_item(self, request: item_pb2.GenerateItemRequest) -> item_pb2.GenerateItemResponse: ...
    async def generate_image(
        self, request: visual_pb2.GenerateImageRequest
    ) -> visual_pb2.GenerateImageResponse: ...


# --- events a turn yields --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContextUsed:
    """The context the narration was given."""

    pieces: tuple[memory_pb2.ContextPiece, ...]
    degraded: bool


@dataclass(frozen=True, slots=True)
class Narration:
    """A narration chunk."""

    text: str
    index: int


@dataclass(frozen=True, slots=True)
class Built:
    """Something built for the turn: kind is "encounter", "npc", "item" or "image"."""

    kind: str
    payload: pb_message.Message
    ref: str = ""
    """The NPC's memory character id, or the image's SHA-256."""


@dataclass(frozen=True, slots=True)
class Checked:
    """A check rolled for the action, before any narration."""

    result: common_pb2.CheckResult
    event_id: str
    reason: str
    replayed: bool


@dataclass(frozen=True, slots=True)
class Warning:
    """An optional part failed."""

    component: str
    message: str


@dataclass(frozen=True, slots=True)
class Done:
    """The end of the turn."""

    completion_tokens: int
    prompt_tokens: int
    timings_ms: dict[str, float]
    recorded_event_ids: tuple[str, ...]
    replayed: bool
    info: common_pb2.GenerationInfo
    plan_reasons: tuple[str, ...] = ()
    plan_source: str = ""


Fought = combat_turn.Fought

TurnEvent = ContextUsed | Checked | Fought | Narration | Built | Warning | Done


@dataclass(frozen=True, slots=True)
class TurnSettings:
    """The knobs of a turn (from ``mesh.settings``)."""

    token_budget: int = 3072
    recent_events: int = 8
    default_terrain: str = "grassland"


@dataclass
class _Outcome:
    """What the concurrent parts of a turn produced, for recording and the done event."""

    narration: list[str] = field(default_factory=list)
    info: common_pb2.GenerationInfo = field(default_factory=common_pb2.GenerationInfo)
    encounter: encounter_pb2.Encounter | None = None
    npc: npc_pb2.Npc | None = None
    npc_character_id: str = ""
    item: item_pb2.MagicItem | None = None
    timings: dict[str, float] = field(default_factory=dict)
    plan: TurnPlan | None = None


@dataclass(frozen=True, slots=True)
class _TurnState:
    """The values every part of one turn works from, made once in ``play`` (what changes is in ``out``)."""

    req: Any
    dm: bool
    seed: int
    out: _Outcome
    queue: asyncio.Queue[TurnEvent | _Failure | _End]
    world_id: str = ""
    plan: TurnPlan = field(default_factory=TurnPlan)

    @property
    def audience(self) -> common_pb2.Audience.ValueType:
        return audience_for(self.dm)


def derive_seed(seed: int, part: str) -> int:
    """A per-part seed from the turn's seed, so each builder is deterministic and independent."""
    digest = hashlib.sha256(f"{seed}:{part}".encode()).digest()
    return int.from_bytes(digest[:7], "big") or 1


def player_safe_npc(npc: npc_pb2.Npc) -> npc_pb2.Npc:
    """A copy of an NPC without its DM-only secrets."""
    safe = npc_pb2.Npc()
    safe.CopyFrom(npc)
    del safe.secrets[:]
    return safe


class TurnRunner:
    """Plays turns against the services."""

    def __init__(
        self,
        services: Services,
        planner: Planner,
        settings: TurnSettings | None = None,
        moderator: Moderator | None = None,
    ) -> None:
        self.services = services
        self.planner = planner
        self.settings = settings or TurnSettings()
        self.moderator = moderator
        self._worlds: dict[str, str] = {}

    async def screen(self, text: str, campaign_id: str) -> Decision | None:
        """Screen the player's input before anything is recorded; a blocked input is refused with its reason.

        A refusal is logged to memory's moderation log before the error; an allowed input's decision is logged
        by the caller alongside its other first calls (``log_decision``), so screening adds no round trip.
        """
        if self.moderator is None:
            return None
        decision = await self.moderator.screen(text, "input")
        if not decision.allowed:
            await self.log_decision(decision, campaign_id)
            raise errors.InvalidArgument([("input", decision.reason or "blocked by moderation")])
        return decision

    async def log_decision(self, decision: Decision | None, campaign_id: str) -> None:
        """Write a decision to the moderation log; best effort. The only input decision of a turn: narrative_svc is
        told (``input_screened``) not to screen the input again."""
        if decision is None:
            return
        try:
            await self.services.log_moderation(_decision_proto(decision, campaign_id))
        except errors.DomainError as exc:
            log.warning("moderation log write failed: %s", exc.message)

    async def world_of(self, campaign_id: str) -> str:
        """The slug of the campaign's world (cached: a campaign never changes world).

        The slug, not memory's numeric id: the builders know worlds by their lore folder's slug.
        """
        world = self._worlds.get(campaign_id)
        if world is None:
            campaign = await self.services.get_campaign(campaign_id)
            world = (await self.services.get_world(campaign.world_id)).slug or campaign.world_id
            self._worlds[campaign_id] = world
            if len(self._worlds) > 10_000:
                self._worlds.pop(next(iter(self._worlds)))
        return world

    async def play(self, req: Any, role: str) -> AsyncGenerator[TurnEvent, None]:
        """Play ``req`` (a validated ``PlayTurnRequest``) for a caller of ``role``; yields the turn's events."""
        started = time.perf_counter()
        # Events of the concurrent parts go through one queue in arrival order (step 3).
        queue: asyncio.Queue[TurnEvent | _Failure | _End] = asyncio.Queue()
        state = _TurnState(
            req=req,
            dm=role in ("dm", "service"),
            seed=req.seed or secrets.randbelow(2**31 - 1) + 1,
            out=_Outcome(),
            queue=queue,
        )
        audience, seed, out = state.audience, state.seed, state.out

        # 1. screen the input; remember the action (a duplicate means a replay), find the world, retrieve context.
        t0 = time.perf_counter()
        decision = await self.screen(req.input, req.campaign_id)
        out.timings["screening"] = _ms(t0)
        # A fight in progress: the acting character's words are its action, refused out of turn before anything
        # is recorded.
        fighting = None
        if req.character_id:
            fighting = await combat_turn.active_combat(self.services, req.campaign_id)
            if fighting is not None and fighting.current != req.character_id:
                # A replay of a turn played earlier in the fight is answered from the log, not refused.
                if await self._stored_narration(req) is None:
                    combat_turn.ensure_turn(fighting, req.character_id)
        t0 = time.perf_counter()
        action_req = memory_pb2.RecordEventRequest(
            campaign_id=req.campaign_id,
            request_id=f"{req.turn_id}/action",
            event=memory_pb2.Event(
                session_id=req.session_id,
                kind=memory_pb2.EVENT_KIND_PLAYER_ACTION,
                actor=req.actor,
                content=req.input,
                audience=common_pb2.AUDIENCE_PLAYER,
                metadata_json=json.dumps({"turn_id": req.turn_id}),
            ),
        )
        world_id, action, context, _, cast, plan = await _gather(
            self.world_of(req.campaign_id),
            self.services.record_event(action_req),
            self.services.retrieve(
                memory_pb2.RetrieveContextRequest(
                    campaign_id=req.campaign_id,
                    query=req.input,
                    token_budget=self.settings.token_budget,
                    # Narration is read to the table: DM-only lore stays out of it unless the DM plays privately.
                    audience=audience if req.private else common_pb2.AUDIENCE_PLAYER,
                    character_ids=list(req.character_ids),
                    recent_events=self.settings.recent_events,
                )
            ),
            self.log_decision(decision, req.campaign_id),
            cast_of(self.services, req, audience),
            self._plan(state),
        )
        state = replace(state, world_id=world_id, plan=plan)
        out.timings["retrieval"] = _ms(t0)
        recorded = [action.event.id]

        # 2. decide before narrating: a fight step is resolved, or an uncertain action rolled as a check.
        fought: Fought | None = None
        if cast.can_roll and (fighting is not None or (plan.encounter and _FIGHT.search(req.input.lower()))):
            fight = await self._fight(state, fighting, cast, action.duplicate)
            if isinstance(fight, Warning):
                yield fight
            elif fight is not None:
                fought = fight
                if fought.started and out.encounter is not None:
                    yield Built("encounter", out.encounter)
                yield fought
            if fighting is not None or fought is not None:  # no new encounter and no check in a fight
                plan = out.plan = replace(plan, encounter=False, check_kind="")
                state = replace(state, plan=plan)
        checked: Checked | None = None
        if plan.check is not None and cast.can_roll:
            rolled = await self._check(state)
            if isinstance(rolled, Checked):
                checked = rolled
                if not rolled.replayed:
                    recorded.append(rolled.event_id)
                if not rolled.result.success:  # a failed search finds nothing: no item is built for the turn
                    plan = out.plan = replace(plan, item=False)
                    state = replace(state, plan=plan)
            yield rolled

        if action.duplicate:
            stored = await self._stored_narration(req)
            if stored is not None:
                yield Narration(stored.content, 0)
                out.timings["total"] = _ms(started)
                yield Done(0, 0, out.timings, (action.event.id, stored.id), True, common_pb2.GenerationInfo())
                return

        pieces = (
            *context.pinned,
            *context.lore,
            *context.campaign,
            *context.character_states,
            *context.recent_events,
        )
        yield ContextUsed(tuple(pieces), context.degraded)

        # 3. narrate and build concurrently; events go through the queue in arrival order.
        tasks: list[asyncio.Task[None]] = []
        npc_ready: asyncio.Future[npc_pb2.Npc | None] = asyncio.get_running_loop().create_future()

        def spawn(coro: Awaitable[None], name: str) -> None:
            tasks.append(asyncio.ensure_future(_producer(coro, queue, name)))
            pending.add(name)

        pending: set[str] = set()

        narrate_req = narrative_pb2.NarrateRequest(
            world_id=world_id,
            session_id=req.session_id,
            action=req.input,
            actor=cast.actor,
            character_ids=list(req.character_ids),
            context=pieces,
            max_tokens=req.max_tokens or 300,
            seed=derive_seed(seed, "narration"),
            audience=audience,
            outcomes=fought.outcomes()
            if fought
            else [_narration_outcome(checked.result, cast.actor)]
            if checked
            else [],
            input_screened=self.moderator is not None,  # screened above: not screened again downstream
        )
        spawn(self._narrate(state, narrate_req), "narration")
        spawn(self._build(state, npc_ready), "builders")
        if req.want_image:
            spawn(self._image(state, npc_ready), "image")
        recorded_turn = False
        try:
            while pending:
                event = await queue.get()
                if isinstance(event, _End):
                    pending.discard(event.name)
                    if not recorded_turn and not pending & {"narration", "builders"}:
                        # Narration and builders are done: record the turn, even while a picture is still coming.
                        recorded.extend(await self._record(state))
                        recorded_turn = True
                    continue
                if isinstance(event, _Failure):
                    raise event.error
                yield event
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
            if not npc_ready.done():
                npc_ready.cancel()

        out.timings["total"] = _ms(started)
        yield Done(
            completion_tokens=out.info.completion_tokens,
            prompt_tokens=out.info.prompt_tokens,
            timings_ms=out.timings,
            recorded_event_ids=tuple(recorded),
            replayed=False,
            info=out.info,
            plan_reasons=out.plan.reasons if out.plan else (),
            plan_source=out.plan.source if out.plan else "",
        )

    # --- parts ---------------------------------------------------------------------------------------------

    async def _narrate(self, state: _TurnState, request: narrative_pb2.NarrateRequest) -> None:
        out, queue = state.out, state.queue
        t0 = time.perf_counter()
        index = 0
        async with contextlib.aclosing(self.services.narrate(request)) as replies:
            async for reply in replies:
                if reply.text:
                    out.narration.append(reply.text)
                    await queue.put(Narration(reply.text, index))
                    index += 1
                if reply.done:
                    out.info.CopyFrom(reply.info)
        out.timings["model"] = _ms(t0)

    async def _build(self, state: _TurnState, npc_ready: asyncio.Future[npc_pb2.Npc | None]) -> None:
        out = state.out
        plan = out.plan or TurnPlan()
        if not plan.npc and not npc_ready.done():
            npc_ready.set_result(None)
        parts: list[Awaitable[None]] = []
        if plan.encounter:
            parts.append(self._optional(state, "encounter", self._encounter(state, plan)))
        if plan.npc:
            parts.append(self._optional(state, "npc", self._npc(state, plan, npc_ready)))
        if plan.item:
            parts.append(self._optional(state, "item", self._item(state)))
        try:
            await asyncio.gather(*parts)
        finally:
            if not npc_ready.done():
                npc_ready.set_result(out.npc)

    async def _plan(self, state: _TurnState) -> TurnPlan:
        t0 = time.perf_counter()
        plan = await self.planner.plan(state.req.input, derive_seed(state.seed, "plan"))
        state.out.timings["planning"] = _ms(t0)
        state.out.plan = plan
        return plan

    async def _fight(
        self,
        state: _TurnState,
        fighting: encounter_pb2.CombatState | None,
        cast: Any,
        replay: bool,
    ) -> Fought | Warning | None:
        """Act in the fight in progress, or start one against the turn's encounter (a start failing is a warning).

        A replayed turn does not act again (its narration is the recorded one)."""
        req, out = state.req, state.out
        t0 = time.perf_counter()
        try:
            if fighting is not None:
                if replay:
                    return None
                return await combat_turn.act(self.services, req, fighting, cast.character)
            started = await combat_turn.start(
                self.services,
                req,
                self._encounter_request(state, state.plan),
                derive_seed(state.seed, "combat"),
            )
            if started is None:
                return None
            out.encounter = started[0]
            return started[1]
        except errors.DomainError as exc:
            if fighting is not None or isinstance(exc, errors.NotFound | errors.PermissionDenied):
                raise
            log.warning("turn fight failed to start: %s", exc.message)
            return Warning("combat", exc.message)
        finally:
            out.timings["combat"] = _ms(t0)

    def _encounter_request(self, state: _TurnState, plan: TurnPlan) -> encounter_pb2.GenerateEncounterRequest:
        """The turn's GenerateEncounter call (the party is filled in by the caller)."""
        return encounter_pb2.GenerateEncounterRequest(
            terrain=plan.terrain or self.settings.default_terrain,
            world_id=state.world_id,
            difficulty=DIFFICULTIES.get(plan.difficulty, encounter_pb2.DIFFICULTY_MEDIUM),
            theme=plan.theme,
            seed=derive_seed(state.seed, "encounter"),
            max_creatures=TURN_MAX_FOES,
            audience=state.audience,
        )

    async def _check(self, state: _TurnState) -> Checked | Warning:
        """Roll the planned check (idempotent under the turn id); a failure is a warning, the turn goes on."""
        req, seed, plan, out = state.req, state.seed, state.plan, state.out
        check = plan.check
        assert check is not None
        t0 = time.perf_counter()
        reason = next((r for r in plan.reasons if "check" in r), "")
        try:
            reply = await self.services.resolve_check(
                check_request(req, check, derive_seed(seed, "check"), req.input)
            )
        except errors.DomainError as exc:
            if isinstance(exc, errors.NotFound | errors.PermissionDenied):
                raise
            log.warning("turn check failed: %s", exc.message)
            return Warning("check", exc.message)
        finally:
            out.timings["check"] = _ms(t0)
        return Checked(reply.result, reply.event_id, reason, reply.replayed)

    async def _optional(self, state: _TurnState, component: str, work: Awaitable[None]) -> None:
        """Run an optional part; a failure becomes a warning event instead of failing the turn."""
        out, queue = state.out, state.queue
        t0 = time.perf_counter()
        try:
            await work
        except errors.DomainError as exc:
            log.warning("turn part %s failed: %s", component, exc.message)
            await queue.put(Warning(component, exc.message))
        except Exception as exc:
            log.exception("turn part %s failed", component)
            await queue.put(Warning(component, f"{component} failed: {type(exc).__name__}"))
        finally:
            out.timings[component] = _ms(t0)

    async def _encounter(self, state: _TurnState, plan: TurnPlan) -> None:
        party = await party_of(self.services, state.req)
        if not party.members:
            raise errors.FailedPrecondition(
                "an encounter needs the party (PlayTurnRequest.party, or the campaign's player characters)"
            )
        request = self._encounter_request(state, plan)
        request.party.CopyFrom(party)
        reply = await self.services.generate_encounter(request)
        state.out.encounter = reply.encounter
        await state.queue.put(Built("encounter", reply.encounter))

    async def _npc(
        self, state: _TurnState, plan: TurnPlan, npc_ready: asyncio.Future[npc_pb2.Npc | None]
    ) -> None:
        out = state.out
        request = npc_pb2.GenerateNpcRequest(
            world_id=state.world_id,
            archetype=plan.npc_archetype,
            seed=derive_seed(state.seed, "npc"),
            campaign_id=state.req.campaign_id,
            save=True,
        )
        try:
            reply = await self.services.generate_npc(request)
        except errors.InvalidArgument:
            if not plan.npc_archetype:
                raise
            request.archetype = ""  # this world has no such archetype: let the seed choose one
            reply = await self.services.generate_npc(request)
        out.npc, out.npc_character_id = reply.npc, reply.character_id
        if not npc_ready.done():
            npc_ready.set_result(reply.npc)
        shown = reply.npc if state.dm else player_safe_npc(reply.npc)
        await state.queue.put(Built("npc", shown, reply.character_id))

    async def _item(self, state: _TurnState) -> None:
        part_seed = derive_seed(state.seed, "item")
        reply = await self.services.generate_item(item_request(state.world_id, state.req.party, part_seed))
        state.out.item = reply.item
        await state.queue.put(Built("item", reply.item))

    async def _image(self, state: _TurnState, npc_ready: asyncio.Future[npc_pb2.Npc | None]) -> None:
        """A portrait of the NPC met, else a picture of the scene; a failure is a warning."""
        req, out, queue = state.req, state.out, state.queue
        t0 = time.perf_counter()
        try:
            npc = await asyncio.shield(npc_ready)
            if npc is not None:
                kind, prompt = visual_pb2.IMAGE_KIND_PORTRAIT, f"{npc.name}, {npc.description}"
            else:
                kind, prompt = visual_pb2.IMAGE_KIND_SCENE, req.input
            reply = await self.services.generate_image(
                image_request(kind, prompt, state.world_id, req.campaign_id, derive_seed(state.seed, "image"))
            )
            await queue.put(Built("image", reply.image, reply.image.sha256))
        except errors.DomainError as exc:
            await queue.put(Warning("visual", exc.message))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("turn image failed")
            await queue.put(Warning("visual", f"image failed: {type(exc).__name__}"))
        finally:
            out.timings["image"] = _ms(t0)

    async def _record(self, state: _TurnState) -> list[str]:
        """Record the narration and what was built, each idempotent under the turn id (required: memory)."""
        req, out = state.req, state.out
        t0 = time.perf_counter()
        events: list[tuple[str, memory_pb2.EventKind.ValueType, str, dict[str, Any]]] = [
            (
                "narration",
                memory_pb2.EVENT_KIND_DM_NARRATION,
                "".join(out.narration),
                {"turn_id": req.turn_id, "backend": out.info.backend, "seed": out.info.seed},
            )
        ]
        if out.encounter is not None:
            enc = out.encounter
            events.append(
                (
                    "encounter",
                    memory_pb2.EVENT_KIND_ENCOUNTER,
                    f"{enc.title}: {enc.description}".strip(": "),
                    {"turn_id": req.turn_id, "encounter_id": enc.id, "terrain": enc.terrain},
                )
            )
        if out.npc is not None:
            npc = out.npc
            who = ", ".join(p for p in (npc.name, npc.title) if p)
            events.append(
                (
                    "npc",
                    memory_pb2.EVENT_KIND_NOTE,
                    f"Met {who}: {npc.description}".strip(),
                    {"turn_id": req.turn_id, "character_id": out.npc_character_id, "npc_id": npc.id},
                )
            )
        if out.item is not None:
            item = out.item
            events.append(
                (
                    "item",
                    memory_pb2.EVENT_KIND_NOTE,
                    f"Found {item.name}: {item.description}".strip(),
                    {"turn_id": req.turn_id, "item_id": item.id},
                )
            )
        replies = await _gather(
            *(
                self.services.record_event(
                    memory_pb2.RecordEventRequest(
                        campaign_id=req.campaign_id,
                        request_id=f"{req.turn_id}/{part}",
                        event=memory_pb2.Event(
                            session_id=req.session_id,
                            kind=kind,
                            actor="DM" if part == "narration" else req.actor,
                            content=content,
                            audience=common_pb2.AUDIENCE_PLAYER,
                            metadata_json=json.dumps(meta),
                        ),
                    )
                )
                for part, kind, content, meta in events
                if content
            )
        )
        out.timings["recording"] = _ms(t0)
        return [r.event.id for r in replies]

    async def _stored_narration(self, req: Any) -> memory_pb2.Event | None:
        """The narration recorded by an earlier play of this turn id, if it got that far."""
        wanted = f"{req.turn_id}/narration"
        token = ""
        for _ in range(REPLAY_PAGES):
            page = await self.services.list_events(
                memory_pb2.ListEventsRequest(
                    campaign_id=req.campaign_id,
                    kinds=[memory_pb2.EVENT_KIND_DM_NARRATION],
                    page_size=100,
                    page_token=token,
                    audience=common_pb2.AUDIENCE_PLAYER,
                )
            )
            for event in page.events:
                if event.request_id == wanted:
                    return event
            token = page.next_page_token
            if not token:
                break
        return None


@dataclass(frozen=True, slots=True)
class _End:
    """A concurrent part of the turn has finished."""

    name: str


@dataclass(frozen=True, slots=True)
class _Failure:
    """A required part failed: the turn fails with this error."""

    error: BaseException


async def _producer(work: Awaitable[None], queue: asyncio.Queue[Any], name: str) -> None:
    """Run one concurrent part; always signal its end (None), and hand a failure to the consumer."""
    try:
        await work
    except asyncio.CancelledError:
        raise
    except BaseException as exc:  # the consumer re-raises it in the handler's task
        await queue.put(_Failure(exc))
    finally:
        queue.put_nowait(_End(name))


async def _gather(*aws: Awaitable[Any]) -> list[Any]:
    """Like asyncio.gather, but the first failure cancels the rest (no orphaned downstream calls)."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _decision_proto(decision: Decision, campaign_id: str) -> memory_pb2.ModerationDecision:
    return memory_pb2.ModerationDecision(
        campaign_id=campaign_id,
        direction=decision.direction,
        allowed=decision.allowed,
        categories=list(decision.categories),
        backend=decision.backend,
        reason=decision.reason,
        text_sha256=decision.text_sha256,
    )


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000.0, 3)


def _narration_outcome(result: common_pb2.CheckResult, actor: str) -> narrative_pb2.NarrationOutcome:
    """A rolled check as the outcome the narration must honour."""
    return narrative_pb2.NarrationOutcome(
        actor=result.character_name or actor,
        check=check_name(result),
        success=result.success,
        degree=degree_name(result),
        total=result.total,
        dc=result.dc,
    )
