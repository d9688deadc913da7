"""Deterministic choices for creatures the rules run: whom to attack (the nearest, then the most hurt, then
by id), which action (the highest expected damage among those ready; Multiattack counts all its parts;
an area effect counts every creature it catches), and when morale breaks (hurt below half, with half the
side down). The same state always gives the same choice."""

from __future__ import annotations

from collections.abc import Callable

from rules.combat import conditions as cond
from rules.combat.actions import Declared
from rules.combat.build import Sources
from rules.combat.monsters import AREA_TARGETS, MonsterKit, MonsterMove
from rules.combat.spells import combat_spells
from rules.combat.state import Combatant, CombatState, band_cost, distance, move_cost
from rules.sheets import CharacterSheet

Plan = tuple[MonsterMove, list[str], bool]  # move, targets, needs to close to melee first


def morale_breaks(state: CombatState, m: Combatant) -> bool:
    side = state.side(m.side)
    down = sum(1 for c in side if c.down)
    return len(side) > 1 and down * 2 >= len(side) and m.hp * 2 < m.hp_max


def _foes(state: CombatState, m: Combatant) -> list[Combatant]:
    live = [e for e in state.enemies_of(m) if not e.down]
    return sorted(live, key=lambda e: (distance(m, e), e.hp, e.id))


def _value(kit: MonsterKit, move: MonsterMove, targets: int) -> float:
    if move.kind == "multiattack":
        return sum(_value(kit, kit.moves[n], 1) * k for n, k in move.parts if n in kit.moves)
    if move.kind in ("attack", "save"):
        base = move.expected or 2.0  # a condition alone is worth a little
        return base * (min(targets, AREA_TARGETS) if move.area else 1)
    return 0.0


def choose_monster_action(
    state: CombatState, m: Combatant, kit: MonsterKit, ready: Callable[[Combatant, MonsterMove], bool]
) -> Plan | None:
    foes = _foes(state, m)
    if not foes:
        return None
    if m.hp * 2 < m.hp_max:
        heals = [x for x in kit.moves.values() if x.kind == "heal" and ready(m, x)]
        if heals:
            return heals[0], [m.id], False
    target = foes[0]
    engaged = [f for f in foes if f.position == "engaged"]
    best: tuple[float, str, Plan] | None = None
    for move in kit.moves.values():
        if move.kind not in ("attack", "save", "multiattack") or not ready(m, move):
            continue
        ranged = move.kind == "attack" and move.ranged
        if ranged:
            reach = move.range_long or 30
            targets = [f for f in foes if distance(m, f) <= reach][:1]
            close = False
        elif move.kind == "save":
            pool = engaged or foes
            targets = [f for f in pool if f.position == pool[0].position][: AREA_TARGETS if move.area else 1]
            close = False
        else:
            targets = [(engaged or [target])[0]]
            close = not cond.can_act(m) or targets[0].position != "engaged" or m.position != "engaged"
            close = close and (m.position != "engaged" or targets[0].position != "engaged")
            if targets[0].position != "engaged":
                continue  # a melee move needs a foe on the melee line
        if not targets:
            continue
        value = _value(kit, move, len(targets))
        if close and not cond.can_move(m):
            continue
        key = (value, move.name)
        if best is None or key > (best[0], best[1]):
            best = (value, move.name, (move, [t.id for t in targets], close))
    if best is None and engaged == [] and foes:
        # No melee target on the line yet: walk in with the best melee move, or wait.
        melee = [
            x
            for x in kit.moves.values()
            if x.kind in ("attack", "multiattack") and not x.ranged and ready(m, x)
        ]
        if melee and cond.can_move(m):
            move = max(melee, key=lambda x: (_value(kit, x, 1), x.name))
            return move, [], True
        return None
    return best[2] if best else None


def choose_legendary(
    state: CombatState, m: Combatant, kit: MonsterKit
) -> tuple[MonsterMove, list[str]] | None:
    """The cheapest damaging legendary action it can afford, on the nearest foe."""
    foes = _foes(state, m)
    if not foes:
        return None
    options = [
        x
        for x in kit.legendary.values()
        if x.cost <= m.legendary_left and x.kind in ("attack", "save", "multiattack")
    ]
    if not options:
        return None
    move = min(options, key=lambda x: (x.cost, -_value(kit, x, 1), x.name))
    if move.kind == "save" and move.area:
        pos = foes[0].position
        return move, [f.id for f in foes if f.position == pos][:AREA_TARGETS]
    if move.kind in ("attack", "multiattack") and not move.ranged:
        line = [f for f in foes if f.position == "engaged"]
        if not line or m.position != "engaged":
            return None
        return move, [line[0].id]
    return move, [foes[0].id]


def autopilot(state: CombatState, sources: Sources, actor: Combatant) -> Declared:
    """A sensible declaration for a character (for benchmarks, tests and absent players): heal a dying
    ally or oneself, rage, otherwise the best attack or damage spell on the nearest foe; always ends the
    turn. Deterministic: same state, same choice."""
    sheet = sources[actor.id]
    assert isinstance(sheet, CharacterSheet)
    foes = _foes(state, actor)
    if not foes:
        return Declared(actor.id, "end_turn")
    caster = sheet.spellcasting
    dying = [a for a in state.allies_of(actor) if a.dying]
    if caster and dying and any(actor.slots[:3]):
        for ref in ("healing-word", "cure-wounds"):
            spell = combat_spells().get(ref)
            if spell and sheet.class_index in spell.classes:
                slot = next(i + 1 for i in range(9) if actor.slots[i] > 0)
                if distance(actor, dying[0]) <= spell.range_ft:
                    return Declared(
                        actor.id, "cast", (dying[0].id,), spell=ref, slot_level=slot, end_turn=True
                    )
    if actor.hp * 3 < actor.hp_max and actor.item("potion-of-healing") > 0 and not actor.action_used:
        return Declared(actor.id, "use", (actor.id,), item="potion-of-healing", end_turn=True)
    if not actor.raging and actor.resource("rage_count") > 0 and not actor.bonus_used:
        return Declared(actor.id, "rage")
    if actor.hp * 2 < actor.hp_max and actor.resource("second_wind_uses") > 0 and not actor.bonus_used:
        return Declared(actor.id, "second_wind")
    target = foes[0]
    if caster:
        for ref in _CANTRIPS:
            spell = combat_spells().get(ref)
            if spell and sheet.class_index in spell.classes and distance(actor, target) <= spell.range_ft:
                return Declared(actor.id, "cast", (target.id,), spell=ref, end_turn=True)
    line = [f for f in foes if f.position == "engaged"]
    melee = [a for a in sheet.attacks if not a.ranged and a.index != "unarmed-strike"]
    ranged = [a for a in sheet.attacks if a.ranged]
    n = sheet.attacks_per_action
    if line and melee and (actor.position == "engaged" or actor.movement >= move_cost(actor, "engaged")):
        return Declared(actor.id, "attack", (line[0].id,) * n, weapon=melee[0].index, end_turn=True)
    if ranged and distance(actor, target) <= ranged[0].long_range:
        return Declared(actor.id, "attack", (target.id,) * n, weapon=ranged[0].index, end_turn=True)
    if actor.movement >= band_cost(actor) and actor.position != "engaged":
        return Declared(actor.id, "move", position="engaged" if _STEP[actor.position] == 1 else "near")
    return Declared(actor.id, "dodge", end_turn=True)


_CANTRIPS = (
    "fire-bolt",
    "sacred-flame",
    "eldritch-blast",
    "produce-flame",
    "ray-of-frost",
    "vicious-mockery",
)
_STEP = {"engaged": 0, "near": 1, "far": 2}
