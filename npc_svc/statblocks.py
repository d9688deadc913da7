"""An NPC's stat block: the archetype's SRD base, made lawful in the world, scaled to the target CR.

The world's magic system limits what casters know: spells of forbidden schools (necromancy in the Ashen Reach),
spells that do what the world says magic cannot (its ``forbidden_effects``: teleportation, wish ...) and spells
above its ``max_spell_level`` are struck from the base's list before scaling, and slots above that level become
slots of that level (``rules.scaling``). Texts that say "the commoner" are rewritten to the archetype's name.
"""

from __future__ import annotations

import dataclasses
import re

from lore import World
from lore.facts import Archetype
from rules.scaling import ScaledBlock, scale_to_cr
from rules.spells import SpellBook
from rules.srd import Srd
from rules.statblock import Action, StatBlock


def _slug(text: str) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", text.lower()))


def spell_allowed(name: str, world: World, spells: SpellBook) -> bool:
    """Whether the world's magic system lets a mortal cast ``name``."""
    magic = world.magic
    if magic is None:
        return True
    spell = spells.find(name)
    if spell is not None:
        if spell.school in magic.schools_forbidden or spell.level > magic.max_spell_level:
            return False
    slug = _slug(name)
    return not any(
        slug == bad or (min(len(slug), len(bad)) >= 5 and (slug.startswith(bad) or bad.startswith(slug)))
        for bad in magic.forbidden_effects
    )


def lawful_base(base: StatBlock, world: World, spells: SpellBook) -> StatBlock:
    """``base`` with every spell the world forbids removed from its spellcasting."""
    if not base.spellcasting:
        return base
    casting = tuple(
        dataclasses.replace(sc, spells=tuple(s for s in sc.spells if spell_allowed(s.name, world, spells)))
        for sc in base.spellcasting
    )
    return dataclasses.replace(base, spellcasting=casting)


def _rename(action: Action, old: str, new: str) -> Action:
    pattern = re.compile(rf"\b([Tt]he) {re.escape(old)}\b")
    return dataclasses.replace(
        action, description=pattern.sub(lambda m: f"{m.group(1)} {new}", action.description)
    )


def renamed(block: StatBlock, name: str) -> StatBlock:
    """The stat block under the archetype's name, with "the veteran" in every text turned into "the sellsword"."""
    old, new = block.name.lower(), name.lower()
    if old == new:
        return dataclasses.replace(block, name=name)

    def fix(actions: tuple[Action, ...]) -> tuple[Action, ...]:
        return tuple(_rename(a, old, new) for a in actions)

    return dataclasses.replace(
        block,
        name=name,
        traits=fix(block.traits),
        actions=fix(block.actions),
        reactions=fix(block.reactions),
        legendary_actions=fix(block.legendary_actions),
    )


def npc_stat_block(
    archetype: Archetype, target: float, world: World, srd: Srd, spells: SpellBook
) -> ScaledBlock:
    """The archetype's base stat block, lawful in the world, scaled to ``target`` and rated by the calculator."""
    base = lawful_base(srd.monster(archetype.base_statblock), world, spells)
    max_level = world.magic.max_spell_level if world.magic is not None else 9
    scaled = scale_to_cr(
        base, target, srd.spell_damage, worn_armor=base.type == "humanoid", max_spell_level=max(max_level, 1)
    )
    block = renamed(scaled.block, archetype.name)
    return dataclasses.replace(
        scaled, block=dataclasses.replace(block, index=archetype.id, source=f"world:{archetype.id}")
    )
