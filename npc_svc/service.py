"""The NpcService servicer: validates requests, maps protos to domain values and back, nothing else."""

from __future__ import annotations

import asyncio
import math

import grpc

from dungeonmaster.v1 import npc_pb2, npc_pb2_grpc
from lore.facts import public_facts
from mesh.character_proto import live_pb, sheet_pb
from mesh.context import identity
from mesh.errors import Unavailable, Violations
from mesh.health import Readiness
from mesh.server import ServiceSpec
from mesh.settings import Settings
from mesh.text import TextModel, get_text_model
from mesh.text.info_proto import info_proto
from npc_svc.builder import CreatureBuilder, NpcGenerator, Worlds, choose_seed
from npc_svc.characters import CharacterRequest, build_character, scores_of
from npc_svc.choices import NpcRequest
from npc_svc.convert import npc_pb, stat_block_pb
from npc_svc.memory_client import GrpcMemory
from npc_svc.ports import MemoryPort
from rules.live_state import new_state
from rules.spells import load_spells
from rules.srd import load_srd
from rules.templates import TEMPLATES

SERVICE_NAME = npc_pb2.DESCRIPTOR.services_by_name["NpcService"].full_name
MAX_REF = 200
#: AbilityMethod values -> the rules' method names (unspecified means the standard array).
ABILITY_METHOD_NAMES: dict[npc_pb2.AbilityMethod.ValueType, str] = {
    npc_pb2.ABILITY_METHOD_UNSPECIFIED: "standard_array",
    npc_pb2.ABILITY_METHOD_STANDARD_ARRAY: "standard_array",
    npc_pb2.ABILITY_METHOD_POINT_BUY: "point_buy",
    npc_pb2.ABILITY_METHOD_GIVEN: "given",
}


def _check_refs(v: Violations, **fields: str) -> None:
    for name, value in fields.items():
        v.check(len(value) <= MAX_REF, name, f"at most {MAX_REF} characters")


class NpcServicer(npc_pb2_grpc.NpcServiceServicer):
    def __init__(
        self, npcs: NpcGenerator, creatures: CreatureBuilder, memory: MemoryPort | None = None
    ) -> None:
        self.npcs = npcs
        self.creatures = creatures
        self.memory = memory

    async def GenerateNpc(
        self, request: npc_pb2.GenerateNpcRequest, context: grpc.aio.ServicerContext
    ) -> npc_pb2.GenerateNpcResponse:
        v = Violations()
        _check_refs(
            v,
            world_id=request.world_id,
            archetype=request.archetype,
            rank=request.rank,
            culture=request.culture,
            faith=request.faith,
            region=request.region,
            campaign_id=request.campaign_id,
        )
        cr = request.challenge_rating if request.HasField("challenge_rating") else None
        v.check(cr is None or math.isfinite(cr), "challenge_rating", "must be a finite number")
        v.check(request.seed >= 0, "seed", "must not be negative")
        v.raise_if_any()
        result = await self.npcs.generate(
            request.world_id,
            NpcRequest(
                archetype=request.archetype,
                rank=request.rank,
                culture=request.culture,
                faith=request.faith,
                challenge_rating=cr,
                level=request.level,
                region=request.region,
                seed=request.seed,
                campaign_id=request.campaign_id,
                save=request.save,
            ),
        )
        return npc_pb2.GenerateNpcResponse(
            npc=npc_pb(result.npc), info=info_proto(result.info), character_id=result.character_id
        )

    async def BuildCreature(
        self, request: npc_pb2.BuildCreatureRequest, context: grpc.aio.ServicerContext
    ) -> npc_pb2.BuildCreatureResponse:
        v = Violations()
        v.check(
            bool(request.base_monster.strip()), "base_monster", "required: an SRD monster index, e.g. 'wolf'"
        )
        v.check(bool(request.template.strip()), "template", f"required; valid: {', '.join(TEMPLATES)}")
        _check_refs(
            v, base_monster=request.base_monster, template=request.template, world_id=request.world_id
        )
        cr = request.challenge_rating if request.HasField("challenge_rating") else None
        v.check(cr is None or math.isfinite(cr), "challenge_rating", "must be a finite number")
        v.check(request.seed >= 0, "seed", "must not be negative")
        v.raise_if_any()
        built = self.creatures.build(
            request.base_monster, request.template, cr, choose_seed(request.seed), request.world_id
        )
        return npc_pb2.BuildCreatureResponse(
            stat_block=stat_block_pb(built.block),
            changes=list(built.changes),
            rated_challenge_rating=built.rated,
            rating_note=built.note,
            info=info_proto(built.info),
        )

    async def GetNpcOptions(
        self, request: npc_pb2.GetNpcOptionsRequest, context: grpc.aio.ServicerContext
    ) -> npc_pb2.GetNpcOptionsResponse:
        world = self.npcs.worlds.get(request.world_id)
        opt = npc_pb2.NpcOption
        # A player never learns that a DM-only fact (a secret faith, a hidden rank) exists.
        shown = public_facts if identity().role == "player" else list
        return npc_pb2.GetNpcOptionsResponse(
            archetypes=[opt(id=a.id, name=a.name) for a in shown(world.archetypes)],
            ranks=[opt(id=r.id, name=r.title) for r in shown(world.ranked())],
            cultures=[opt(id=c.id, name=c.name) for c in shown(world.cultures)],
            faiths=[opt(id=f.id, name=f.name) for f in shown(world.faiths)],
            templates=[opt(id=t.id, name=t.name) for t in TEMPLATES.values()],
            regions=[opt(id=r.id, name=r.name) for r in shown(world.regions)],
        )

    async def BuildCharacter(
        self, request: npc_pb2.BuildCharacterRequest, context: grpc.aio.ServicerContext
    ) -> npc_pb2.BuildCharacterResponse:
        v = Violations()
        _check_refs(
            v,
            campaign_id=request.campaign_id,
            character_class=request.character_class,
            race=request.race,
            subrace=request.subrace,
            subclass=request.subclass,
        )
        v.check(
            not request.save or bool(request.campaign_id.strip()),
            "campaign_id",
            "required when save is set",
        )
        v.check(
            request.ability_method in ABILITY_METHOD_NAMES,
            "ability_method",
            "unknown method; valid: "
            + ", ".join(npc_pb2.AbilityMethod.Name(m) for m in ABILITY_METHOD_NAMES),
        )
        v.raise_if_any()
        s = request.scores
        sheet = await asyncio.to_thread(
            build_character,
            CharacterRequest(
                name=request.name,
                character_class=request.character_class,
                race=request.race,
                subrace=request.subrace,
                level=request.level,
                ability_method=ABILITY_METHOD_NAMES[request.ability_method],
                scores=scores_of(
                    s.strength, s.dexterity, s.constitution, s.intelligence, s.wisdom, s.charisma
                )
                if request.HasField("scores")
                else None,
                background_skills=tuple(request.background_skills),
                class_skills=tuple(request.class_skills),
                equipment=tuple(request.equipment),
                seed=request.seed,
                rolled_hit_points=request.rolled_hit_points,
                subclass=request.subclass,
                expertise=tuple(request.expertise),
                racial_bonus_choices=tuple(request.racial_bonus_choices),
                racial_skills=tuple(request.racial_skills),
                pregenerated=request.pregenerated,
                description=request.description,
            ),
        )
        out = sheet_pb(sheet)
        character_id = ""
        if request.save:
            if self.memory is None:
                raise Unavailable("no memory service is configured", "MEMORY_UNAVAILABLE", "memory")
            character_id = await self.memory.save_character(
                request.campaign_id.strip(), sheet.name, request.description, out.sheet_json
            )
        return npc_pb2.BuildCharacterResponse(
            sheet=out, character_id=character_id, live=live_pb(new_state(sheet))
        )


def build_spec(
    settings: Settings, *, model: TextModel | None = None, memory: MemoryPort | None = None
) -> ServiceSpec:
    """The NPC service: SRD data and world lore from disk, prose from the configured text model, memory over gRPC."""
    text = model or get_text_model(settings)
    mem: MemoryPort = memory or GrpcMemory(settings)
    worlds = Worlds(settings.worlds_dir, settings.default_world)
    srd = load_srd()
    generator = NpcGenerator(worlds, srd, load_spells(), text, mem)
    servicer = NpcServicer(generator, CreatureBuilder(worlds, srd), mem)

    def register(server: grpc.aio.Server) -> None:
        npc_pb2_grpc.add_NpcServiceServicer_to_server(servicer, server)

    async def readiness() -> Readiness:
        try:
            worlds.get("")
        except Exception as exc:  # a broken or missing default world: the service cannot build NPCs
            return Readiness(ready=False, reason=f"default world unavailable: {exc}")
        ok, why = await text.ready()
        if ok:
            return Readiness(ready=True, reason=f"text backend {text.backend} ready")
        # Generation still works: the procedural writer stands in while the model servers are down.
        return Readiness(ready=True, reason=why, degraded=["text-model"])

    async def shutdown() -> None:
        await text.close()
        await mem.close()

    return ServiceSpec(
        name="npc",
        service_names=[SERVICE_NAME],
        register=register,
        readiness=readiness,
        startup=text.start,
        shutdown=shutdown,
    )
