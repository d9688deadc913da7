"""The ItemService servicer: validates requests, maps protos to domain values and back, nothing else."""

from __future__ import annotations

import logging
import threading

import grpc

from dungeonmaster.v1 import item_pb2, item_pb2_grpc
from item_svc.bases import load_bases
from item_svc.convert import (
    KIND_TO_PB,
    PB_TO_KIND,
    PB_TO_RARITY,
    item_pb,
    mechanics_from_pb,
    price_pb,
)
from item_svc.forge import ItemForge
from item_svc.generator import ItemGenerator, ItemRequest, Preference
from item_svc.references import SrdReferences
from mesh.errors import Violations
from mesh.health import Readiness
from mesh.server import ServiceSpec
from mesh.settings import Settings
from mesh.text import TextModel, get_text_model
from mesh.text.info_proto import info_proto
from rules.items import Rarity
from rules.spells import load_spells
from rules.srd import load_srd

log = logging.getLogger("item_svc")
SERVICE_NAME = item_pb2.DESCRIPTOR.services_by_name["ItemService"].full_name
MAX_REF = 200
MAX_TEXT = 4000
MAX_PARTS = 50
_PREFERENCES = {
    item_pb2.ATTUNEMENT_PREFERENCE_UNSPECIFIED: Preference.ANY,
    item_pb2.ATTUNEMENT_PREFERENCE_REQUIRED: Preference.REQUIRED,
    item_pb2.ATTUNEMENT_PREFERENCE_NONE: Preference.NONE,
}
_RARITY_NAMES = ", ".join(item_pb2.Rarity.Name(int(r)) for r in Rarity)  # type: ignore[arg-type]
_TYPE_NAMES = ", ".join(item_pb2.ItemType.Name(v) for v in KIND_TO_PB.values())  # type: ignore[arg-type]


def _check_item(v: Violations, item: item_pb2.MagicItem) -> None:
    """Bounds on an item sent for appraisal: every field the appraiser reads."""
    v.check(item.item_type in PB_TO_KIND, "item.item_type", f"required; valid: {_TYPE_NAMES}")
    v.check(0 <= item.bonus <= 3, "item.bonus", f"must be 0-3, got {item.bonus}")
    v.check(len(item.properties) <= MAX_PARTS, "item.properties", f"at most {MAX_PARTS}")
    v.check(len(item.spells) <= MAX_PARTS, "item.spells", f"at most {MAX_PARTS}")
    for i, prop in enumerate(item.properties):
        v.check(
            len(prop.description) <= MAX_TEXT,
            f"item.properties[{i}].description",
            f"at most {MAX_TEXT} characters",
        )
    for i, spell in enumerate(item.spells):
        v.check(0 <= spell.level <= 9, f"item.spells[{i}].level", f"must be 0-9, got {spell.level}")
        v.check(spell.charge_cost >= 0, f"item.spells[{i}].charge_cost", "must not be negative")
    if item.HasField("charges"):
        v.check(0 <= item.charges.max <= 1000, "item.charges.max", "must be 0-1000")


class ItemServicer(item_pb2_grpc.ItemServiceServicer):
    def __init__(self, forge: ItemForge) -> None:
        self.forge = forge

    async def GenerateItem(
        self, request: item_pb2.GenerateItemRequest, context: grpc.aio.ServicerContext
    ) -> item_pb2.GenerateItemResponse:
        v = Violations()
        v.check(request.rarity in PB_TO_RARITY, "rarity", f"required; valid: {_RARITY_NAMES}")
        v.check(
            request.item_type == item_pb2.ITEM_TYPE_UNSPECIFIED or request.item_type in PB_TO_KIND,
            "item_type",
            f"unknown item type {request.item_type}; valid: {_TYPE_NAMES}",
        )
        v.check(
            request.attunement in _PREFERENCES,
            "attunement",
            f"unknown attunement preference {request.attunement}",
        )
        v.check(len(request.theme) <= MAX_REF, "theme", f"at most {MAX_REF} characters")
        v.check(len(request.world_id) <= MAX_REF, "world_id", f"at most {MAX_REF} characters")
        v.check(request.seed >= 0, "seed", "must not be negative")
        v.raise_if_any()
        forged = await self.forge.generate(
            request.world_id,
            ItemRequest(
                kind=PB_TO_KIND.get(request.item_type),
                rarity=PB_TO_RARITY[request.rarity],
                theme=request.theme,
                attunement=_PREFERENCES[request.attunement],
                allow_curse=request.allow_curse,
                seed=request.seed,
            ),
        )
        return item_pb2.GenerateItemResponse(item=item_pb(forged), info=info_proto(forged.info))

    async def AppraiseItem(
        self, request: item_pb2.AppraiseItemRequest, context: grpc.aio.ServicerContext
    ) -> item_pb2.AppraiseItemResponse:
        v = Violations()
        if v.check(request.HasField("item"), "item", "required"):
            _check_item(v, request.item)
        v.check(len(request.world_id) <= MAX_REF, "world_id", f"at most {MAX_REF} characters")
        v.raise_if_any()
        valued = self.forge.appraise(mechanics_from_pb(request.item), request.world_id)
        a = valued.appraisal
        return item_pb2.AppraiseItemResponse(
            rarity=int(a.rarity),  # type: ignore[arg-type]
            score=a.score,
            reasons=a.reasons,
            price_low=price_pb(valued.low),
            price_high=price_pb(valued.high),
        )


def build_spec(settings: Settings, *, model: TextModel | None = None) -> ServiceSpec:
    """The item service: SRD spells and base items from disk, world lore, prose from the configured text model."""
    text = model or get_text_model(settings)
    spells = load_spells()
    forge = ItemForge(
        settings.worlds_dir,
        settings.default_world,
        ItemGenerator(spells, load_bases()),
        text,
        references=SrdReferences(load_srd(), spells),
    )
    servicer = ItemServicer(forge)
    stop_warming = threading.Event()

    def warm() -> None:
        try:
            built = forge.generator.warm(forge.world(""), stop_warming)
            log.info("item candidates ready", extra={"lists": built})
        except Exception:  # a broken default world shows in readiness; warming is only a speed-up
            log.exception("warming item candidates failed")

    async def startup() -> None:
        await text.start()
        threading.Thread(target=warm, name="item-warm", daemon=True).start()

    async def shutdown() -> None:
        stop_warming.set()
        await text.close()

    def register(server: grpc.aio.Server) -> None:
        item_pb2_grpc.add_ItemServiceServicer_to_server(servicer, server)

    async def readiness() -> Readiness:
        try:
            forge.world("")
        except Exception as exc:  # a broken or missing default world: no items can be made
            return Readiness(ready=False, reason=f"default world unavailable: {exc}")
        ok, why = await text.ready()
        if ok:
            return Readiness(ready=True, reason=f"text backend {text.backend} ready")
        return Readiness(ready=True, reason=why, degraded=["text-model"])

    return ServiceSpec(
        name="item",
        service_names=[SERVICE_NAME],
        register=register,
        readiness=readiness,
        startup=startup,
        shutdown=shutdown,
    )
