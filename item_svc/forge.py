"""GenerateItem and AppraiseItem: mechanics from ``generator``, words from ``prose``, value from the rarity's
price band written in the world's currencies."""

from __future__ import annotations

import dataclasses
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from item_svc.generator import ItemGenerator, ItemRequest
from item_svc.prose import ItemProse, write_prose
from item_svc.references import SrdReferences
from lore import World, load_world, world_path
from lore.facts import ItemTheme
from mesh.text import Provenance, TextModel
from rules.items import Appraisal, ItemMechanics, Rarity, appraise, price_for

MAX_CHOSEN_SEED = 2**31 - 1
#: How long a loaded world is used before its files are checked for edits again (s): ``load_world`` stats every
#: document on each call, which costs more than composing an item.
WORLD_RECHECK_S = 2.0


@dataclass(frozen=True, slots=True)
class Value:
    """A price: 5e gold pieces (and copper, 100 to the gp) plus how the world writes it."""

    gp: int
    display: str

    @property
    def copper(self) -> int:
        return self.gp * 100


@dataclass(frozen=True, slots=True)
class ForgedItem:
    id: str
    mechanics: ItemMechanics
    rarity: Rarity
    appraisal: Appraisal
    theme: ItemTheme
    effects: tuple[str, ...]
    prose: ItemProse
    value: Value
    info: Provenance
    reference: str = ""
    prose_replaced: bool = False
    prose_problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Valuation:
    appraisal: Appraisal
    low: Value
    high: Value


def value_in(world: World | None, gp: int) -> Value:
    """``gp`` written in the world's coins, or in gold pieces when there is no world or it has no coinage."""
    if world is not None and world.coinage is not None:
        return Value(gp, world.format_price(gp, "long"))
    return Value(gp, f"{gp:,} gp")


class ItemForge:
    def __init__(
        self,
        worlds_dir: Path,
        default_world: str,
        generator: ItemGenerator,
        text: TextModel | None = None,
        recheck_s: float = WORLD_RECHECK_S,
        references: SrdReferences | None = None,
    ) -> None:
        self.worlds_dir = worlds_dir
        self.default_world = default_world
        self.generator = generator
        self.text = text
        self.recheck_s = recheck_s
        self.references = references
        self._seen: dict[str, tuple[float, World]] = {}

    def world(self, world_id: str) -> World:
        """The world's lore; files are re-checked for edits every ``recheck_s`` (``load_world`` stats each one)."""
        key = world_id.strip() or self.default_world
        now = time.monotonic()
        hit = self._seen.get(key)
        if hit is not None and now - hit[0] < self.recheck_s:
            return hit[1]
        world = load_world(world_path(self.worlds_dir, key, "world_id"))
        self._seen[key] = (now, world)
        return world

    async def generate(self, world_id: str, req: ItemRequest) -> ForgedItem:
        started = time.perf_counter()
        world = self.world(world_id)
        seed = req.seed or secrets.randbelow(MAX_CHOSEN_SEED - 1) + 1
        req = dataclasses.replace(req, seed=seed)
        made = self.generator.generate(world, req)
        written = await write_prose(
            world, made.theme, made.mechanics, req.rarity, made.effects, seed, self.text
        )
        value = value_in(world, price_for(req.rarity, made.appraisal.score))
        reference = self.references.closest(made.mechanics, req.rarity) if self.references else ""
        info = dataclasses.replace(written.info, seed=seed, latency_ms=(time.perf_counter() - started) * 1000)
        return ForgedItem(
            made.item_id, made.mechanics, req.rarity, made.appraisal, made.theme, made.effects, written.prose, value,
            info, reference, written.replaced, written.problems,
        )  # fmt: skip

    def appraise(self, mechanics: ItemMechanics, world_id: str = "") -> Valuation:
        """The rarity the mechanics call for, with that rarity's price band (in the world's coins if named)."""
        world = self.world(world_id) if world_id.strip() else None
        rated = appraise(mechanics)
        return Valuation(rated, value_in(world, rated.price_low_gp), value_in(world, rated.price_high_gp))
