"""Shared builders: a level-3 party and an SRD foe group, with their sources."""

from __future__ import annotations

from collections.abc import Sequence

from rules.combat.build import Source, from_sheet, from_statblock
from rules.combat.engine import start_combat
from rules.combat.events import Event
from rules.combat.state import Combatant, CombatState
from rules.sheets import pregenerated
from rules.srd import load_srd

PARTY_CLASSES = ("fighter", "rogue", "wizard", "cleric")


def make_fight(
    monsters: Sequence[str] = ("goblin", "goblin", "orc", "bugbear", "wolf", "hobgoblin"),
    classes: Sequence[str] = PARTY_CLASSES,
    level: int = 3,
    seed: int = 7,
    combat_id: str = "c1",
    potions: int = 1,
) -> tuple[CombatState, list[Event], dict[str, Source]]:
    srd = load_srd()
    sources: dict[str, Source] = {}
    people: list[Combatant] = []
    for cls in classes:
        sheet = pregenerated(cls, level)
        cid = f"pc:{cls}"
        sources[cid] = sheet
        people.append(from_sheet(cid, sheet, items={"potion-of-healing": potions}))
    for i, index in enumerate(monsters):
        block = srd.monster(index)
        cid = f"m:{index}-{i}"
        sources[cid] = block
        people.append(from_statblock(cid, f"{block.name} {i + 1}", block, block.hit_points))
    state, events = start_combat(combat_id, seed, people, sources)
    return state, events, sources


def set_turn(state: CombatState, cid: str, **changes: object) -> CombatState:
    """The same fight with ``cid`` at the start of its turn (and any field changes): a test fixture."""
    from dataclasses import replace

    c = state.combatants[cid]
    base: dict[str, object] = {
        "action_used": False,
        "bonus_used": False,
        "movement": c.speed,
        "attacks_left": 0,
    }
    fresh = replace(c, **{**base, **changes})  # type: ignore[arg-type]
    people = {**state.combatants, cid: fresh}
    return replace(state, turn=state.order.index(cid), combatants=people)


def patch(state: CombatState, cid: str, **changes: object) -> CombatState:
    from dataclasses import replace

    return replace(state, combatants={**state.combatants, cid: replace(state.combatants[cid], **changes)})  # type: ignore[arg-type]
