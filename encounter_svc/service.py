"""The EncounterService servicer: validates request fields, maps protos to domain calls and back, nothing else."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from dungeonmaster.v1 import common_pb2, encounter_pb2, encounter_pb2_grpc
from encounter_svc import convert
from encounter_svc.builder import MAX_CREATURES_LIMIT, MAX_GROUP_COUNT, CreatureRef, explain
from encounter_svc.check_memory import GrpcCheckMemory
from encounter_svc.checks import CheckMemory, CheckRequest, resolve_check
from encounter_svc.combat_convert import declared_from_pb, events_pb, state_pb
from encounter_svc.combat_memory import GrpcCombatMemory
from encounter_svc.combats import CombatMemory, Combats, StartSpec
from encounter_svc.encounters import Encounters, GenerateSpec
from encounter_svc.models import PartyMember
from mesh.character_proto import CHECK_KINDS, DIFFICULTIES, ability_name, check_result_pb
from mesh.errors import InvalidArgument, Unavailable, Violations
from mesh.health import Readiness
from mesh.server import ServiceSpec
from mesh.settings import Settings
from mesh.text import TextModel, get_text_model
from mesh.text.info_proto import info_proto
from rules.challenge import CHALLENGE_RATINGS, MAX_LEVEL, MIN_LEVEL, XP_BY_CR, format_cr
from rules.difficulty import REQUESTABLE
from rules.terrain import check_terrain

SERVICE_NAME = encounter_pb2.DESCRIPTOR.services_by_name["EncounterService"].full_name
MAX_PARTY = 12
DEFAULT_MAX_CREATURES = 12
MAX_THEME = 200
MAX_REFS = 100
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def party_members(v: Violations, party: common_pb2.Party, field: str = "party") -> tuple[PartyMember, ...]:
    """The party as domain members, each bad field recorded as ``party.members[i].level``."""
    members = party.members
    if not members:
        v.add(f"{field}.members", "list at least one character")
    elif len(members) > MAX_PARTY:
        v.add(f"{field}.members", f"at most {MAX_PARTY} characters, got {len(members)}")
    for i, m in enumerate(members):
        v.check(
            MIN_LEVEL <= m.level <= MAX_LEVEL,
            f"{field}.members[{i}].level",
            f"character level must be {MIN_LEVEL}-{MAX_LEVEL}, got {m.level}",
        )
    return tuple(PartyMember(level=m.level, name=m.name, character_class=m.character_class) for m in members)


def difficulty(v: Violations, req: encounter_pb2.GenerateEncounterRequest) -> str:
    """The requested difficulty's domain name; unspecified means the rule set's middle band."""
    rule_set = int(req.rule_set)
    if rule_set not in convert.DEFAULT_DIFFICULTY:
        v.add("rule_set", f"unknown rule set {rule_set}; valid: RULE_SET_DMG_2014, RULE_SET_DMG_2024")
        return ""
    if req.difficulty == encounter_pb2.DIFFICULTY_UNSPECIFIED:
        return convert.DEFAULT_DIFFICULTY[rule_set].value
    wanted = convert.DIFFICULTY_FROM_ENUM.get(int(req.difficulty))
    allowed = convert.RULE_SET_DIFFICULTIES.get(rule_set, REQUESTABLE)
    if wanted not in allowed:
        name = convert.difficulty_enum_name(wanted) if wanted else str(int(req.difficulty))
        valid = ", ".join(convert.difficulty_enum_name(d) for d in allowed)
        what = (
            "is not a difficulty one can ask for" if wanted not in REQUESTABLE else "is not of this rule set"
        )
        v.add("difficulty", f"{name} {what}; valid: {valid}")
        return ""
    assert wanted is not None
    return wanted.value


def creature_refs(v: Violations, refs: list[encounter_pb2.CreatureRef]) -> list[CreatureRef]:
    """EvaluateEncounter's creatures; an empty ``monster`` means "by challenge rating"."""
    if not refs:
        v.add("creatures", "list at least one creature")
    elif len(refs) > MAX_REFS:
        v.add("creatures", f"at most {MAX_REFS} entries, got {len(refs)}")
    out: list[CreatureRef] = []
    for i, ref in enumerate(refs):
        v.check(
            1 <= ref.count <= MAX_GROUP_COUNT,
            f"creatures[{i}].count",
            f"must be 1-{MAX_GROUP_COUNT}, got {ref.count}",
        )
        monster = ref.monster.strip().lower()
        if monster:
            out.append(CreatureRef(monster=monster, count=ref.count))
            continue
        if ref.challenge_rating not in XP_BY_CR:
            valid = ", ".join(format_cr(c) for c in CHALLENGE_RATINGS)
            v.add(
                f"creatures[{i}].challenge_rating",
                f"give a monster or a challenge rating of {valid}; got {ref.challenge_rating:g}",
            )
        out.append(CreatureRef(challenge_rating=ref.challenge_rating, count=ref.count))
    return out


def is_dm(audience: int) -> bool:
    return audience == common_pb2.AUDIENCE_DM


class EncounterServicer(encounter_pb2_grpc.EncounterServiceServicer):
    """GenerateEncounter, EvaluateEncounter, GetMonster, ListMonsters and RollDice over ``Encounters``;
    ResolveCheck over campaign memory (``CheckMemory``); fights over ``Combats``."""

    def __init__(self, encounters: Encounters, checks: CheckMemory, combats: Combats | None = None) -> None:
        self.encounters = encounters
        self.checks = checks
        self.combats = combats or Combats(_NoCombatMemory())

    async def GenerateEncounter(
        self, request: encounter_pb2.GenerateEncounterRequest, context: grpc.aio.ServicerContext
    ) -> encounter_pb2.GenerateEncounterResponse:
        v = Violations()
        party = party_members(v, request.party)
        wanted = difficulty(v, request)
        terrain, region = request.terrain.strip(), request.region.strip()
        if terrain and region:
            v.add("region", "give either a terrain or a region, not both")
        elif not terrain and not region:
            v.add("terrain", "give a terrain or a region (its terrains are used)")
        elif terrain:
            try:
                check_terrain(terrain, "terrain")
            except InvalidArgument as exc:
                v.extend(exc.violations)
        kind = convert.KIND_FROM_ENUM.get(int(request.kind))
        if kind is None:
            v.add("kind", f"unknown encounter kind {int(request.kind)}")
        max_creatures = request.max_creatures or DEFAULT_MAX_CREATURES
        v.check(
            1 <= max_creatures <= MAX_CREATURES_LIMIT,
            "max_creatures",
            f"must be 1-{MAX_CREATURES_LIMIT} (0 = {DEFAULT_MAX_CREATURES}), got {request.max_creatures}",
        )
        v.check(len(request.theme) <= MAX_THEME, "theme", f"at most {MAX_THEME} characters")
        v.raise_if_any()
        assert kind is not None
        result = await self.encounters.generate(
            GenerateSpec(
                party=party,
                difficulty=wanted,
                terrain=terrain,
                region=region,
                world_id=request.world_id,
                kind=kind.value,
                theme=request.theme.strip(),
                seed=request.seed,
                max_creatures=max_creatures,
                dm=is_dm(request.audience),
            )
        )
        e = result.encounter
        return encounter_pb2.GenerateEncounterResponse(
            encounter=convert.encounter_proto(e, [m.level for m in party], result.world),
            info=info_proto(result.info),
            unmet_reason=e.unmet_reason,
        )

    async def EvaluateEncounter(
        self, request: encounter_pb2.EvaluateEncounterRequest, context: grpc.aio.ServicerContext
    ) -> encounter_pb2.EvaluateEncounterResponse:
        v = Violations()
        party = party_members(v, request.party)
        refs = creature_refs(v, list(request.creatures))
        v.raise_if_any()
        levels = [m.level for m in party]
        _, xp = await self.encounters.evaluate(levels, refs, request.world_id, is_dm(request.audience))
        return encounter_pb2.EvaluateEncounterResponse(xp=convert.xp_proto(xp, levels, notes=explain(xp)))

    async def GetMonster(
        self, request: encounter_pb2.GetMonsterRequest, context: grpc.aio.ServicerContext
    ) -> encounter_pb2.GetMonsterResponse:
        index = request.monster.strip().lower()
        if not index:
            raise InvalidArgument([("monster", "must not be empty, e.g. 'goblin'")])
        found = await self.encounters.monster(index, request.world_id, is_dm(request.audience))
        return encounter_pb2.GetMonsterResponse(
            stat_block=convert.stat_block_proto(found.block), terrains=list(found.terrains)
        )

    async def ListMonsters(
        self, request: encounter_pb2.ListMonstersRequest, context: grpc.aio.ServicerContext
    ) -> encounter_pb2.ListMonstersResponse:
        v = Violations()
        size = request.page_size or DEFAULT_PAGE_SIZE
        v.check(
            1 <= size <= MAX_PAGE_SIZE,
            "page_size",
            f"must be 1-{MAX_PAGE_SIZE} (0 = {DEFAULT_PAGE_SIZE}), got {request.page_size}",
        )
        terrain = request.terrain.strip().lower()
        dm = is_dm(request.audience)
        key = convert.filter_key(
            terrain,
            request.min_challenge_rating,
            request.max_challenge_rating,
            request.world_id.strip(),
            dm,
        )
        offset = 0
        try:
            offset = convert.decode_page_token(request.page_token, key)
        except InvalidArgument as exc:
            v.extend(exc.violations)
        v.raise_if_any()
        listed = await self.encounters.list_monsters(
            terrain, request.min_challenge_rating, request.max_challenge_rating, request.world_id, dm
        )
        page = listed[offset : offset + size]
        more = offset + size < len(listed)
        return encounter_pb2.ListMonstersResponse(
            monsters=[convert.monster_summary(m.block, m.terrains) for m in page],
            next_page_token=convert.encode_page_token(offset + size, key) if more else "",
        )

    async def RollDice(
        self, request: encounter_pb2.RollDiceRequest, context: grpc.aio.ServicerContext
    ) -> encounter_pb2.RollDiceResponse:
        outcome, seed = self.encounters.roll(request.notation, request.seed, field="notation")
        return encounter_pb2.RollDiceResponse(total=outcome.total, detail=outcome.detail, seed=seed)

    async def ResolveCheck(
        self, request: encounter_pb2.ResolveCheckRequest, context: grpc.aio.ServicerContext
    ) -> encounter_pb2.ResolveCheckResponse:
        v = Violations()
        v.check(bool(request.campaign_id.strip()), "campaign_id", "required")
        v.check(bool(request.character_id.strip()), "character_id", "required: a stored player character")
        kind = CHECK_KINDS.get(request.kind, "")
        v.check(
            bool(kind),
            "kind",
            "give CHECK_KIND_ABILITY, CHECK_KIND_SKILL or CHECK_KIND_SAVE",
        )
        what = ""
        if kind == "skill":
            what = request.skill
            v.check(bool(what.strip()), "skill", "required for a skill check, e.g. 'investigation'")
        elif kind:
            v.check(not request.skill, "skill", "only for CHECK_KIND_SKILL; give ability instead")
            try:
                what = ability_name(request.ability, "ability")
            except InvalidArgument as exc:
                v.extend(exc.violations)
        difficulty = DIFFICULTIES.get(request.difficulty)
        v.check(
            request.difficulty == common_pb2.CHECK_DIFFICULTY_UNSPECIFIED or difficulty is not None,
            "difficulty",
            "unknown difficulty; valid: "
            + ", ".join(common_pb2.CheckDifficulty.Name(d) for d in DIFFICULTIES),
        )
        v.check(bool(request.dc) or difficulty is not None, "dc", "give a dc (1-40) or a difficulty")
        v.check(request.seed >= 0, "seed", "must not be negative")
        v.raise_if_any()
        resolved = await resolve_check(
            self.checks,
            CheckRequest(
                campaign_id=request.campaign_id.strip(),
                character_id=request.character_id.strip(),
                kind=kind,
                what=what,
                dc=request.dc or None,
                difficulty=difficulty,
                advantage=request.advantage,
                disadvantage=request.disadvantage,
                check_id=request.check_id,
                seed=request.seed or None,
                session_id=request.session_id,
                turn_id=request.turn_id,
                reason=request.reason,
                needs_sight=request.needs_sight,
                needs_hearing=request.needs_hearing,
            ),
        )
        return encounter_pb2.ResolveCheckResponse(
            result=check_result_pb(resolved.result, resolved.character_id, resolved.character_name),
            event_id=resolved.event_id,
            replayed=resolved.replayed,
        )

    # ---- combat (domain in encounter_svc.combats) ----------------------------------------------------------

    async def StartCombat(
        self, request: encounter_pb2.StartCombatRequest, context: grpc.aio.ServicerContext
    ) -> encounter_pb2.StartCombatResponse:
        state, events = await self.combats.start(
            StartSpec(
                campaign_id=request.campaign_id.strip(),
                character_ids=tuple(c.strip() for c in request.character_ids),
                monsters=tuple(m.strip().lower() for m in request.monsters),
                seed=request.seed,
                combat_id=request.combat_id.strip(),
                session_id=request.session_id,
                rolled_hp=request.rolled_hit_points,
                surprised=tuple(request.surprised),
            )
        )
        return encounter_pb2.StartCombatResponse(
            combat=state_pb(state, request.campaign_id.strip()), events=events_pb(events)
        )

    async def TakeAction(
        self, request: encounter_pb2.TakeActionRequest, context: grpc.aio.ServicerContext
    ) -> encounter_pb2.TakeActionResponse:
        _require_combat(request.campaign_id, request.combat_id)
        state, events, replayed = await self.combats.act(
            request.campaign_id.strip(),
            request.combat_id.strip(),
            declared_from_pb(request.actor.strip(), request.action),
            request.step if request.HasField("step") else None,
        )
        return encounter_pb2.TakeActionResponse(
            combat=state_pb(state, request.campaign_id.strip()), events=events_pb(events), replayed=replayed
        )

    async def GetCombat(
        self, request: encounter_pb2.GetCombatRequest, context: grpc.aio.ServicerContext
    ) -> encounter_pb2.GetCombatResponse:
        _require_combat(request.campaign_id, request.combat_id)
        state, events = await self.combats.get(request.campaign_id.strip(), request.combat_id.strip())
        return encounter_pb2.GetCombatResponse(
            combat=state_pb(state, request.campaign_id.strip()),
            events=events_pb(events) if request.include_events else [],
        )

    async def EndCombat(
        self, request: encounter_pb2.EndCombatRequest, context: grpc.aio.ServicerContext
    ) -> encounter_pb2.EndCombatResponse:
        _require_combat(request.campaign_id, request.combat_id)
        state, events = await self.combats.end(
            request.campaign_id.strip(), request.combat_id.strip(), request.reason
        )
        return encounter_pb2.EndCombatResponse(
            combat=state_pb(state, request.campaign_id.strip()), events=events_pb(events)
        )


class _NoCombatMemory:
    """For servicers built without campaign memory (tests of the other RPCs): fights are unavailable."""

    def __getattr__(self, name: str) -> Any:
        raise Unavailable("campaign memory is not configured for fights", reason="NO_MEMORY")


def _require_combat(campaign_id: str, combat_id: str) -> None:
    v = Violations()
    v.check(bool(campaign_id.strip()), "campaign_id", "required")
    v.check(bool(combat_id.strip()), "combat_id", "required")
    v.raise_if_any()


def build_spec(
    settings: Settings,
    *,
    model: TextModel | None = None,
    checks: CheckMemory | None = None,
    combat_memory: CombatMemory | None = None,
) -> ServiceSpec:
    """The encounter service: SRD file and worlds from the settings, prose from the text model (or ``model``).

    Readiness is the SRD file loading (NOT_SERVING, with "run make setup" in the reason, when it is missing); a
    down text model or a broken default world only mark it degraded.
    """
    text = model or get_text_model(settings)
    encounters = Encounters(
        worlds_dir=settings.worlds_dir,
        default_world=settings.default_world,
        srd_file=settings.srd_path,
        model=text,
    )
    memory: CheckMemory = checks or GrpcCheckMemory(settings)
    fights: CombatMemory = combat_memory or GrpcCombatMemory(settings)
    servicer = EncounterServicer(encounters, memory, Combats(fights))

    def register(server: grpc.aio.Server) -> None:
        encounter_pb2_grpc.add_EncounterServiceServicer_to_server(servicer, server)

    async def readiness() -> Readiness:
        return await encounters.readiness()

    async def startup() -> None:
        await text.start()
        await asyncio.to_thread(encounters.warm)

    async def shutdown() -> None:
        await text.close()
        await memory.close()
        await fights.close()

    return ServiceSpec(
        name="encounter",
        service_names=[SERVICE_NAME],
        register=register,
        readiness=readiness,
        startup=startup,
        shutdown=shutdown,
    )
