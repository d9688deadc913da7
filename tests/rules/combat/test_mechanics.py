"""The rules' mechanics one by one: damage types, temporary HP, dropping, death saves, stabilising, massive
damage, conditions, opportunity attacks, Extra Attack, Sneak Attack, Rage, Second Wind, Action Surge,
potions, upcasting, cantrip scaling, areas, concentration, recharge, legendary actions, morale, XP, surprise."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace

from rules.combat import conditions as cond
from rules.combat.actions import Declared
from rules.combat.build import from_sheet, from_statblock
from rules.combat.engine import (
    Strike,
    adjust_damage,
    damage,
    resolve_attack,
    run_monster_move,
    start_combat,
    take_action,
)
from rules.combat.events import Event
from rules.combat.monsters import monster_kit
from rules.combat.state import CombatState
from rules.combat.tactics import autopilot
from rules.sheets import pregenerated
from rules.srd import load_srd
from tests.rules.combat.conftest import make_fight, patch, set_turn


def _kinds(events: list[Event]) -> list[str]:
    return [e.kind for e in events]


def test_resistance_immunity_vulnerability_and_rage() -> None:
    state, _, _ = make_fight()
    foe = state.combatants[state.order[0]]
    resist = replace(foe, resistances=("bludgeoning, piercing, and slashing from nonmagical attacks",))
    assert adjust_damage(resist, 11, "slashing") == (5, "resisted")
    assert adjust_damage(resist, 11, "slashing", magical=True) == (11, "")  # a spell is magical
    assert adjust_damage(replace(foe, immunities=("poison",)), 9, "poison") == (0, "immune")
    assert adjust_damage(replace(foe, vulnerabilities=("fire",)), 9, "fire") == (18, "vulnerable")
    assert adjust_damage(replace(foe, raging=True), 9, "piercing") == (4, "resisted")
    assert adjust_damage(replace(foe, raging=True), 9, "fire") == (9, "")


def test_temp_hp_dropping_death_saves_and_massive_damage() -> None:
    state, _, _ = make_fight()
    f = "pc:fighter"
    hp_max = state.combatants[f].hp_max
    s = patch(state, f, temp_hp=5, hp=hp_max, conditions=())
    s, _ = damage(s, f, 3)
    assert s.combatants[f].temp_hp == 2 and s.combatants[f].hp == hp_max
    s, _ = damage(s, f, hp_max + 2)  # 2 absorbed, hp_max to 0 exactly: dying, not killed outright
    c = s.combatants[f]
    assert c.hp == 0 and c.has("unconscious") and c.dying and not c.dead
    s, _ = damage(s, f, 1)
    assert s.combatants[f].death_failures == 1
    s, _ = damage(s, f, 1, critical=True)
    assert s.combatants[f].death_failures == 3 and s.combatants[f].dead
    fresh, _ = damage(state, f, 2 * hp_max)  # hp_max left over past 0: killed outright
    assert fresh.combatants[f].dead
    foe = next(c for c in state.order if c.startswith("m:"))
    gone, events = damage(state, foe, state.combatants[foe].hp)
    assert gone.combatants[foe].dead and "falls" in events[-1].text  # monsters die at 0


def _dying_fighter_next(seed: int) -> tuple[CombatState, dict[str, object]]:
    state, _, sources = make_fight(seed=seed)
    others = tuple(c for c in state.order if c not in ("pc:wizard", "pc:fighter"))
    state = replace(state, order=("pc:wizard", "pc:fighter", *others), turn=0)
    state = set_turn(state, "pc:wizard")
    state = patch(state, "pc:fighter", hp=0, conditions=("unconscious",))
    return state, sources  # type: ignore[return-value]


def test_a_dying_character_rolls_death_saves_on_its_turn() -> None:
    seen = set()
    for seed in range(40):
        state, sources = _dying_fighter_next(seed)
        after, events = take_action(state, sources, Declared("pc:wizard", "dodge", end_turn=True))  # type: ignore[arg-type]
        save = next(e for e in events if e.kind == "death_save")
        d20 = save.rolls[0].total
        f = after.combatants["pc:fighter"]
        if d20 == 20:
            assert f.hp == 1 and not f.has("unconscious")
        elif d20 >= 10:
            assert f.death_successes == 1
        else:
            assert f.death_failures == (2 if d20 == 1 else 1)
        seen.add("20" if d20 == 20 else "ok" if d20 >= 10 else "1" if d20 == 1 else "fail")
    assert {"ok", "fail"} <= seen


def test_stabilise_a_dying_ally() -> None:
    results = set()
    for seed in range(40):
        state, _, sources = make_fight(seed=seed)
        state = patch(state, "pc:fighter", hp=0, conditions=("unconscious",), position="engaged")
        state = set_turn(state, "pc:cleric", position="engaged")
        after, events = take_action(state, sources, Declared("pc:cleric", "stabilize", ("pc:fighter",)))
        check = next(e for e in events if e.kind == "stabilize").rolls[0]
        assert after.combatants["pc:fighter"].stable == (check.total >= 10)
        results.add(after.combatants["pc:fighter"].stable)
    assert results == {True, False}


def test_conditions_change_attacks_and_saves() -> None:
    state, _, _ = make_fight()
    a = state.combatants["pc:fighter"]
    t = state.combatants[state.order[0]]
    why: list[str] = []
    assert cond.attack_advantage(a, replace(t, conditions=("prone",)), True, why) == 1
    assert cond.attack_advantage(a, replace(t, conditions=("prone",)), False, why) == -1
    assert (
        cond.attack_advantage(
            replace(a, conditions=("poisoned",)), replace(t, conditions=("stunned",)), True, why
        )
        == 0
    )
    assert cond.save_advantage(replace(t, conditions=("paralyzed",)), "dex") is None
    assert cond.save_advantage(replace(t, conditions=("paralyzed",)), "wis") == 0
    assert cond.save_advantage(replace(t, conditions=("restrained",)), "dex") == -1
    assert not cond.can_act(replace(a, conditions=("stunned",)))
    assert not cond.can_move(replace(a, conditions=("grappled",))) and cond.can_act(
        replace(a, conditions=("grappled",))
    )
    # A melee hit on a paralysed creature within 5 ft is a critical hit.
    s = patch(state, t.id, conditions=("paralyzed",), position="engaged", hp=10**6, hp_max=10**6)
    s = patch(s, "pc:fighter", position="engaged")
    rng = random.Random(1)
    hits = 0
    for _ in range(200):
        _, events = resolve_attack(
            s, "pc:fighter", t.id, Strike("Longsword", 5, (("1d8+3", "slashing"),), True), rng
        )
        roll = events[0].rolls[0]
        assert roll.advantage == 1
        if roll.success:
            hits += 1
            assert roll.critical
    assert hits > 100


def test_leaving_melee_provokes_opportunity_attacks_unless_disengaged() -> None:
    state, _, sources = make_fight(seed=3)
    foes = [c for c in state.order if c.startswith("m:")]
    s = state
    for f in foes:
        s = patch(s, f, position="engaged", reaction_used=False, hp=max(1, s.combatants[f].hp))
    s = set_turn(s, "pc:wizard", position="engaged", conditions=(), hp=20)
    _, events = take_action(s, sources, Declared("pc:wizard", "move", position="near"))
    assert "reaction" in _kinds(events)
    s2, _ = take_action(s, sources, Declared("pc:wizard", "disengage"))
    _, events = take_action(s2, sources, Declared("pc:wizard", "move", position="near"))
    assert "reaction" not in _kinds(events) and events[-2].text.endswith("moves to near")


def test_extra_attack_two_weapon_and_sneak_attack_once_per_turn() -> None:
    state, _, sources = make_fight(classes=("fighter", "rogue", "wizard", "cleric"), level=5)
    foe = next(c for c in state.order if c.startswith("m:"))
    state = patch(state, foe, position="engaged", hp=500, hp_max=500)
    s = set_turn(state, "pc:fighter", position="engaged")
    s, events = take_action(s, sources, Declared("pc:fighter", "attack", (foe, foe), weapon="longsword"))
    assert _kinds(events).count("attack") == 2
    sneaks = 0
    for seed in range(30):
        r = set_turn(replace(state, seed=seed), "pc:rogue", position="engaged", hidden=0)
        r = patch(r, "pc:fighter", position="engaged")
        r, ev1 = take_action(r, sources, Declared("pc:rogue", "attack", (foe,), weapon="dagger"))
        r, ev2 = take_action(r, sources, Declared("pc:rogue", "offhand", (foe,), weapon="dagger"))
        n = _kinds(ev1 + ev2).count("sneak_attack")
        assert n <= 1
        sneaks += n
        if _kinds(ev1).count("sneak_attack") == 0 and any(
            e.kind == "attack" and e.rolls[0].success for e in ev1
        ):
            raise AssertionError("an ally was engaged with the target: a hit must carry Sneak Attack")
    assert sneaks > 10


def test_rage_second_wind_action_surge_and_potions() -> None:
    state, _, sources = make_fight(classes=("barbarian", "fighter", "wizard", "cleric"))
    b = set_turn(state, "pc:barbarian")
    b, events = take_action(b, sources, Declared("pc:barbarian", "rage"))
    c = b.combatants["pc:barbarian"]
    assert c.raging and c.bonus_used and c.resource("rage_count") == 2
    f = set_turn(state, "pc:fighter", hp=5)
    f, events = take_action(f, sources, Declared("pc:fighter", "second_wind"))
    heal = next(e for e in events if e.kind == "heal")
    assert heal.rolls[0].notation == "1d10+3" and f.combatants["pc:fighter"].hp == 5 + heal.amount
    f, _ = take_action(f, sources, Declared("pc:fighter", "dodge"))
    f, _ = take_action(f, sources, Declared("pc:fighter", "action_surge"))
    assert (
        not f.combatants["pc:fighter"].action_used
        and f.combatants["pc:fighter"].resource("action_surges") == 0
    )
    f, events = take_action(
        f, sources, Declared("pc:fighter", "use", ("pc:fighter",), item="potion-of-healing")
    )
    assert f.combatants["pc:fighter"].item("potion-of-healing") == 0
    assert next(e for e in events if e.kind == "heal").rolls[0].notation == "2d4+2"


def test_spells_upcast_scale_cover_areas_and_spend_slots() -> None:
    state, _, sources = make_fight(classes=("wizard", "fighter", "cleric", "rogue"), level=5)
    foes = [c for c in state.order if c.startswith("m:")]
    s = state
    for f in foes:
        s = patch(s, f, position="engaged", hp=300, hp_max=300)
    w = set_turn(s, "pc:wizard", position="near")
    after, events = take_action(
        w, sources, Declared("pc:wizard", "cast", (foes[0],), spell="magic-missile", slot_level=2)
    )
    assert after.combatants["pc:wizard"].slots[1] == w.combatants["pc:wizard"].slots[1] - 1
    assert next(e for e in events if e.kind == "damage").rolls[0].notation == "4d4+4"
    _, events = take_action(w, sources, Declared("pc:wizard", "cast", (foes[0],), spell="fire-bolt"))
    dmg = [e for e in events if e.kind == "damage"]
    assert not dmg or dmg[0].rolls[0].notation == "2d10"  # level 5: two dice
    _, events = take_action(w, sources, Declared("pc:wizard", "cast", tuple(foes[:3]), spell="fireball"))
    saves = [e for e in events if e.kind == "save"]
    hits = [e for e in events if e.kind == "damage"]
    assert len(saves) == 3
    for save, hit in zip(saves, hits, strict=True):  # one roll for the whole area, half on a save
        rolled = sum(hit.rolls[0].dice) + hit.rolls[0].modifier
        assert hit.rolls[0].notation == "8d6" and len(hit.rolls[0].dice) == 8
        assert hit.amount == (rolled // 2 if save.rolls[0].success else rolled)
    assert len({sum(h.rolls[0].dice) for h in hits}) == 1


def test_concentration_is_saved_on_damage_and_lost_on_a_failure() -> None:
    state, _, _ = make_fight()
    outcomes = set()
    for seed in range(20):
        s = patch(
            replace(state, seed=seed, combat_id=f"conc-{seed}"),
            "pc:cleric",
            concentration="Spirit Guardians",
            hp=30,
            hp_max=30,
        )
        after, events = damage(s, "pc:cleric", 22)  # DC 11
        check = next(e for e in events if e.kind == "concentration").rolls[0]
        assert check.against == 11
        kept = after.combatants["pc:cleric"].concentration == "Spirit Guardians"
        assert kept == bool(check.success)
        outcomes.add(kept)
    assert outcomes == {True, False}


def test_recharge_legendary_actions_and_monster_conditions() -> None:
    srd = load_srd()
    sheet = pregenerated("fighter", 12)
    dragon = srd.monster("adult-red-dragon")
    sources = {"pc:a": sheet, "pc:b": pregenerated("cleric", 12), "m:d": dragon}
    people = [
        from_sheet("pc:a", sheet),
        from_sheet("pc:b", sources["pc:b"]),
        from_statblock("m:d", "Dragon", dragon, 1000, "engaged"),
    ]
    state, log = start_combat("dragon", 2, people, sources)
    kit = monster_kit(dragon)
    breath = kit.moves["Fire Breath"]
    s, events = run_monster_move(state, sources, "m:d", breath, ["pc:a", "pc:b"])
    assert s.combatants["m:d"].spent == ("Fire Breath",) and _kinds(events).count("save") == 2
    for _ in range(30):
        if not state.active:
            break
        state, events = take_action(state, sources, autopilot(state, sources, state.current))
        log += events
    assert "legendary" in _kinds(log)
    assert "recharge" in _kinds(log) or "Fire Breath" not in " ".join(e.text for e in log)
    wolf = srd.monster("wolf")
    sources2 = {"pc:a": sheet, "m:w": wolf}
    s2, _ = start_combat(
        "wolf",
        1,
        [from_sheet("pc:a", sheet), from_statblock("m:w", "Wolf", wolf, 11, "engaged")],
        sources2,
        surprised=["m:w"],
    )
    prone = False
    for seed in range(20):
        after, events = run_monster_move(
            replace(s2, seed=seed), sources2, "m:w", monster_kit(wolf).moves["Bite"], ["pc:a"]
        )
        prone |= after.combatants["pc:a"].has("prone")
        hit = events[0].rolls[0].success
        save = next((e for e in events if e.kind == "save"), None)
        if after.combatants["pc:a"].has("prone"):
            assert hit and save is not None and not save.rolls[0].success
    assert prone


def test_morale_surprise_initiative_and_xp_split() -> None:
    state, log, sources = make_fight(seed=4)
    order = [state.combatants[c] for c in state.order]
    assert all((a.initiative, a.dex) >= (b.initiative, b.dex) for a, b in itertools.pairwise(order))
    foes = [c for c in state.order if c.startswith("m:")]
    # Surprised foes lose their first turn.
    srd = load_srd()
    sheet = pregenerated("fighter", 3)
    gob = srd.monster("goblin")
    people = [from_sheet("pc:a", sheet), from_statblock("m:g", "Goblin", gob, 7, "engaged")]
    s, events = start_combat("surprise", 1, people, {"pc:a": sheet, "m:g": gob}, surprised=["m:g", "pc:a"])
    assert not any(e.kind == "action" and e.actor == "m:g" for e in events if e.step == 0)
    # Morale: hurt below half with half its side down, a monster flees.
    s = state
    for f in foes[:3]:
        s = patch(s, f, dead=True, hp=0)
    s = patch(s, foes[3], hp=1)
    from rules.combat.tactics import morale_breaks

    assert morale_breaks(s, s.combatants[foes[3]])
    assert not morale_breaks(s, s.combatants[foes[4]])
    # XP: every defeated foe's XP split over the surviving party.
    while state.active:
        state, events = take_action(state, sources, autopilot(state, sources, state.current))
        log += events
    if state.status in ("victory", "flight"):
        total = sum(state.combatants[f].xp for f in foes)
        survivors = [
            c
            for c in state.order
            if c.startswith("pc:") and not state.combatants[c].dead and not state.combatants[c].fled
        ]
        assert dict(state.xp_awarded) == dict.fromkeys(survivors, total // len(survivors))
    else:
        assert state.status == "defeat" and state.xp_awarded == ()
