"""The combat engine: start a fight, resolve declared actions into events, play monsters' turns up to the
next character who must declare, and end the fight with victory, flight or defeat and XP.

Every change goes through :meth:`_Step.emit`, which folds the event into the state at once, so what the
engine computed and what ``fold(events)`` rebuilds cannot differ. Each step draws its dice from its own
generator, seeded by the combat's seed, id and step number, so a replay rolls the same dice.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from mesh.errors import InvalidArgument, NotFound
from rules.combat import conditions as cond
from rules.combat import dice
from rules.combat.actions import KINDS, Declared
from rules.combat.build import POTIONS, Sources
from rules.combat.errors import CombatOver, IllegalAction, NotYourTurn
from rules.combat.events import COMBAT, JOIN, Event, Patch, Roll, fold
from rules.combat.monsters import MonsterKit, MonsterMove, monster_kit
from rules.combat.spells import CombatSpell, find_spell
from rules.combat.state import (
    BANDS,
    FOES,
    PARTY,
    STEPS,
    Combatant,
    CombatState,
    band_cost,
    distance,
    move_cost,
)
from rules.sheets import Attack, CharacterSheet
from rules.statblock import Ability, StatBlock

#: Safety stop: monsters' turns played in one step before control must return (a fight of monsters that
#: cannot hurt each other would otherwise never reach a character).
MAX_TURNS_PER_STEP = 400
_BPS = ("bludgeoning", "piercing", "slashing")


def step_rng(state: CombatState, step: int) -> random.Random:
    return random.Random(f"{state.seed}:{state.combat_id}:{step}")


@dataclass
class _Step:
    """One declared step being resolved: the state so far and the events emitted."""

    state: CombatState
    sources: Sources
    rng: random.Random
    step: int
    events: list[Event] = field(default_factory=list)

    def emit(
        self,
        kind: str,
        actor: str,
        target: str,
        text: str,
        rolls: Sequence[Roll] = (),
        patches: Sequence[Patch] = (),
        amount: int = 0,
    ) -> None:
        event = Event(
            self.step, len(self.events), kind, actor, target, text, tuple(rolls), tuple(patches), amount
        )
        self.events.append(event)
        self.state = fold(self.state, (event,))

    def c(self, cid: str) -> Combatant:
        return self.state.combatants[cid]

    def name(self, cid: str) -> str:
        return self.state.combatants[cid].name


# ---- start ---------------------------------------------------------------------------------------------


def start_combat(
    combat_id: str,
    seed: int,
    combatants: Sequence[Combatant],
    sources: Sources,
    surprised: Sequence[str] = (),
) -> tuple[CombatState, list[Event]]:
    """Roll initiative (Dex modifier, ties to the higher Dexterity score, then the id) and open round 1.
    ``surprised`` combatants lose their first turn."""
    if not any(c.side == PARTY for c in combatants) or not any(c.side == FOES for c in combatants):
        raise InvalidArgument([("combatants", "a fight needs at least one character and one foe")])
    ids = [c.id for c in combatants]
    if len(set(ids)) != len(ids):
        raise InvalidArgument([("combatants", "combatant ids must be unique")])
    for i, s in enumerate(surprised):
        if s not in ids:
            raise InvalidArgument([(f"surprised[{i}]", f"{s!r} is not in the fight")])
    state = CombatState(combat_id=combat_id, seed=seed)
    missing = [c.id for c in combatants if c.id not in sources]
    if missing:
        raise InvalidArgument([("combatants", f"no sheet or stat block for {', '.join(missing)}")])
    st = _Step(state, sources, step_rng(state, 0), 0)
    for c in combatants:
        mod = (c.dex - 10) // 2
        kept, rolled = dice.d20(st.rng, 0)
        conditions = c.conditions + (("surprised",) if c.id in surprised else ())
        joined = replace(c, initiative=kept + mod, conditions=conditions)
        st.emit(
            "initiative",
            c.id,
            "",
            f"{c.name} rolls {kept + mod} for initiative",
            [Roll("initiative", rolled, mod, kept + mod)],
            [Patch(c.id, JOIN, joined)],
        )
    people = st.state.combatants.values()
    place = {
        c.id: i for i, c in enumerate(combatants)
    }  # ties: the order given, not ids (ids differ per store)
    order = tuple(c.id for c in sorted(people, key=lambda c: (-c.initiative, -c.dex, place[c.id])))
    st.emit(
        "order",
        "",
        "",
        "Initiative order: " + ", ".join(f"{st.name(c)} ({st.c(c).initiative})" for c in order),
        patches=[Patch(COMBAT, "order", order), Patch(COMBAT, "round", 1), Patch(COMBAT, "turn", 0)],
    )
    _begin_turn(st)
    _play_until_input(st)
    st.emit("step", "", "", "", patches=[Patch(COMBAT, "step", 1)])
    return st.state, st.events


# ---- the public step ------------------------------------------------------------------------------------


def take_action(state: CombatState, sources: Sources, declared: Declared) -> tuple[CombatState, list[Event]]:
    """Resolve one declared action of the combatant whose turn it is; when its turn ends, play monsters
    (and dying characters' death saves) up to the next character who must declare. Raises before
    emitting anything when the action is not allowed, so a refused action records nothing."""
    if not state.active:
        raise CombatOver(f"the combat is over ({state.status})")
    actor = state.get(declared.actor)
    if actor is None:
        raise InvalidArgument([("actor", f"{declared.actor!r} is not in this combat")])
    if actor.down:
        what = "dead" if actor.dead else "fled" if actor.fled else "at 0 hit points"
        raise IllegalAction(f"{actor.name} is {what} and cannot act")
    current = state.current
    if actor.id != current.id:
        raise NotYourTurn(actor.name, current.id, current.name)
    if declared.kind not in KINDS:
        raise InvalidArgument(
            [("action.kind", f"unknown action {declared.kind!r}; valid: {', '.join(KINDS)}")]
        )
    st = _Step(state, sources, step_rng(state, state.step), state.step)
    _check(st, actor, declared)  # raises before any event
    _DO[declared.kind](st, actor, declared)
    _check_end(st)
    if st.state.active and (declared.end_turn or declared.kind == "end_turn"):
        _end_turn(st)
        _play_until_input(st)
    st.emit("step", "", "", "", patches=[Patch(COMBAT, "step", state.step + 1)])
    return st.state, st.events


def end_combat(state: CombatState, reason: str = "ended") -> tuple[CombatState, list[Event]]:
    """Stop the fight where it stands (the table walked away, or the story moved on); no XP."""
    if not state.active:
        raise CombatOver(f"the combat is over ({state.status})")
    st = _Step(state, {}, step_rng(state, state.step), state.step)
    st.emit("end", "", "", f"The fight ends: {reason}", patches=[Patch(COMBAT, "status", "ended")])
    st.emit("step", "", "", "", patches=[Patch(COMBAT, "step", state.step + 1)])
    return st.state, st.events


def needs_input(state: CombatState) -> bool:
    """True when the current combatant is a character who can act (the engine waits for a declaration)."""
    return state.active and state.current.kind == "character" and cond.can_act(state.current)


# ---- validation ---------------------------------------------------------------------------------------


def legal_actions(state: CombatState, sources: Sources, actor: Combatant) -> list[str]:
    """What ``actor`` may declare now (kinds), for error messages and clients."""
    out = []
    sheet = sources.get(actor.id)
    has_action = not actor.action_used or actor.attacks_left > 0
    if has_action and cond.can_act(actor):
        out += ["attack"]
        if isinstance(sheet, CharacterSheet) and sheet.spellcasting:
            out.append("cast")
    if not actor.action_used and cond.can_act(actor):
        out += ["dash", "disengage", "dodge", "help", "hide", "use", "stabilize"]
        if actor.position == "far":
            out.append("flee")
    if not actor.bonus_used and actor.light_attack:
        out.append("offhand")
    if not actor.bonus_used and actor.resource("second_wind_uses") > 0:
        out.append("second_wind")
    if not actor.bonus_used and actor.resource("rage_count") > 0 and not actor.raging:
        out.append("rage")
    if actor.action_used and actor.resource("action_surges") > 0:
        out.append("action_surge")
    if actor.movement >= band_cost(actor) and cond.can_move(actor):
        out.append("move")
    out.append("end_turn")
    return out


def _illegal(st: _Step, actor: Combatant, rule: str) -> IllegalAction:
    return IllegalAction(rule, legal_actions(st.state, st.sources, actor))


def _target(st: _Step, ref: str, i: int) -> Combatant:
    t = st.state.get(ref)
    if t is None:
        raise InvalidArgument([(f"action.targets[{i}]", f"{ref!r} is not in this combat")])
    return t


def _weapon(sheet: CharacterSheet, ref: str) -> Attack:
    key = ref.strip().lower()
    for a in sheet.attacks:
        if key in (a.index, a.name.lower()):
            return a
    valid = ", ".join(a.index for a in sheet.attacks)
    raise InvalidArgument([("action.weapon", f"{sheet.name} has no weapon {ref!r}; valid: {valid}")])


def _spell_for(sheet: CharacterSheet, d: Declared) -> tuple[CombatSpell, int]:
    try:
        spell = find_spell(d.spell)
    except NotFound:
        raise InvalidArgument([("action.spell", f"unknown damage or healing spell {d.spell!r}")]) from None
    if sheet.spellcasting is None:
        raise IllegalAction(f"{sheet.name} cannot cast spells")
    if sheet.class_index not in spell.classes:
        raise InvalidArgument([("action.spell", f"{spell.name} is not a {sheet.class_index} spell")])
    slot = d.slot_level or spell.level
    if spell.level and not spell.level <= slot <= 9:
        raise InvalidArgument([("action.slot_level", f"{spell.name} needs a slot of level {spell.level}-9")])
    if spell.level == 0:
        slot = 0
    return spell, slot


def _check(st: _Step, actor: Combatant, d: Declared) -> None:
    """Every rule an action must pass before anything is rolled."""
    sheet = st.sources.get(actor.id)
    if not isinstance(sheet, CharacterSheet):
        raise InvalidArgument([("actor", f"{actor.name} is run by the rules, not declared")])
    # Fields first (an unknown name is bad input whatever the turn), then the rules.
    targets = [_target(st, t, i) for i, t in enumerate(d.targets)]
    if d.kind in ("attack", "offhand"):
        _weapon(sheet, d.weapon)
    if d.kind == "cast":
        try:
            find_spell(d.spell)
        except NotFound:
            raise InvalidArgument(
                [("action.spell", f"unknown damage or healing spell {d.spell!r}")]
            ) from None
    if d.kind == "use" and d.item not in POTIONS:
        raise InvalidArgument([("action.item", f"unknown item {d.item!r}; valid: {', '.join(POTIONS)}")])
    if d.kind == "move" and d.position not in BANDS:
        raise InvalidArgument([("action.position", f"must be one of {', '.join(BANDS)}")])
    legal = legal_actions(st.state, st.sources, actor)
    if d.kind not in legal:
        raise _illegal(st, actor, f"{d.kind} is not possible now")
    for i, t in enumerate(targets):
        if d.kind in ("attack", "offhand") and (t.side == actor.side or t.down):
            raise InvalidArgument([(f"action.targets[{i}]", f"{t.name} is not a foe still fighting")])
    if d.kind in ("attack", "offhand"):
        weapon = _weapon(sheet, d.weapon)
        if not targets:
            raise InvalidArgument([("action.targets", "name the foe to attack")])
        if d.kind == "offhand" and "light" not in weapon.properties:
            raise _illegal(st, actor, f"two-weapon fighting needs a light weapon; {weapon.name} is not light")
        room = actor.attacks_left if actor.action_used else sheet.attacks_per_action
        if d.kind == "attack" and len(targets) > room:
            raise _illegal(st, actor, f"{len(targets)} attacks declared, {room} left this action")
        for t in targets:
            _reach_check(
                st, actor, t, weapon.ranged, weapon.long_range or (5 + 5 * ("reach" in weapon.properties))
            )
    if d.kind == "cast":
        spell, slot = _spell_for(sheet, d)
        if spell.bonus_action and actor.bonus_used:
            raise _illegal(st, actor, "the bonus action is already used")
        if not spell.bonus_action and actor.action_used:
            raise _illegal(st, actor, "the action is already used")
        if slot and actor.slots[slot - 1] <= 0:
            raise _illegal(st, actor, f"no level {slot} spell slot left")
        if not targets:
            raise InvalidArgument([("action.targets", f"name the target(s) of {spell.name}")])
        if len(targets) > spell.max_targets:
            raise InvalidArgument([("action.targets", f"{spell.name} reaches at most {spell.max_targets}")])
        for i, t in enumerate(targets):
            if t.dead or t.fled:
                raise InvalidArgument([(f"action.targets[{i}]", f"{t.name} is out of the fight")])
            if distance(actor, t) > spell.range_ft:
                raise _illegal(
                    st,
                    actor,
                    f"out of range: {spell.name} reaches {spell.range_ft} ft, {t.name} is {distance(actor, t)} ft away "
                    f"({actor.position} to {t.position})",
                )
    if d.kind in ("help", "stabilize", "use") and targets and any(t.side != actor.side for t in targets):
        raise InvalidArgument([("action.targets[0]", "help, stabilise and potions go to an ally")])
    if d.kind in ("help", "stabilize") and not targets:
        raise InvalidArgument([("action.targets", f"name the ally to {d.kind}")])
    if d.kind == "stabilize" and not targets[0].dying:
        raise _illegal(st, actor, f"{targets[0].name} is not dying")
    if (
        d.kind in ("stabilize", "use")
        and targets
        and distance(actor, targets[0]) > 5
        and targets[0].id != actor.id
    ):
        raise _illegal(st, actor, f"{targets[0].name} is not within 5 ft")
    if d.kind == "use":
        if d.item not in POTIONS:
            raise InvalidArgument([("action.item", f"unknown item {d.item!r}; valid: {', '.join(POTIONS)}")])
        if actor.item(d.item) <= 0:
            raise _illegal(st, actor, f"{actor.name} has no {d.item} left")
    if d.kind == "second_wind" and sheet.class_index != "fighter":
        raise _illegal(st, actor, "Second Wind is a fighter's feature")
    if d.kind == "move":
        if d.position not in BANDS:
            raise InvalidArgument([("action.position", f"must be one of {', '.join(BANDS)}")])
        cost = move_cost(actor, d.position)
        if cost > actor.movement:
            raise _illegal(st, actor, f"moving to {d.position} costs {cost} ft, {actor.movement} ft left")
        if actor.has("frightened") and STEPS[d.position] < STEPS[actor.position]:
            raise _illegal(st, actor, "a frightened creature cannot move closer to what it fears")


def _reach_check(st: _Step, actor: Combatant, t: Combatant, ranged: bool, reach: int) -> None:
    if ranged:
        if distance(actor, t) > reach:
            raise _illegal(
                st, actor, f"out of range: {t.name} is {distance(actor, t)} ft away, range {reach} ft"
            )
        return
    if distance(actor, t) <= reach:
        return
    cost = move_cost(actor, "engaged")
    if (
        t.position != "engaged"
        or cost > actor.movement
        or not cond.can_move(actor)
        or actor.has("frightened")
    ):
        raise _illegal(
            st,
            actor,
            f"out of reach: {t.name} is {distance(actor, t)} ft away ({t.position}); melee needs engaged",
        )


# ---- dice, damage and saves --------------------------------------------------------------------------


def _adjust(target: Combatant, amount: int, dtype: str, magical: bool) -> tuple[int, str]:
    def listed(entries: Sequence[str]) -> bool:
        for e in entries:
            if dtype in e and (magical is False or "nonmagical" not in e):
                return True
        return False

    if listed(target.immunities):
        return 0, "immune"
    resist = listed(target.resistances) or (target.raging and dtype in _BPS)
    if resist:
        return amount // 2, "resisted"
    if listed(target.vulnerabilities):
        return amount * 2, "vulnerable"
    return amount, ""


def _damage(
    st: _Step, source: str, tid: str, amount: int, critical: bool, text: str, rolls: Sequence[Roll]
) -> None:
    """Temporary hit points first; 0 HP knocks a character out (dying) and kills a monster; at 0 HP damage
    is a failed death save (two on a critical); damage of the maximum past 0 kills outright."""
    t = st.c(tid)
    absorbed = min(t.temp_hp, amount)
    rest = amount - absorbed
    p: list[Patch] = [Patch(tid, "temp_hp", t.temp_hp - absorbed)] if absorbed else []
    fell = ""
    if rest and t.hp <= 0 and t.kind == "character" and not t.dead:
        if rest >= t.hp_max:
            p += [Patch(tid, "dead", True), Patch(tid, "death_failures", 3)]
            fell = f"; {t.name} dies"
        else:
            fails = min(3, t.death_failures + (2 if critical else 1))
            p += [Patch(tid, "death_failures", fails), Patch(tid, "stable", False)]
            p += [Patch(tid, "dead", True)] if fails >= 3 else []
            fell = f"; {t.name} fails {'two death saves' if critical else 'a death save'}" + (
                " and dies" if fails >= 3 else ""
            )
    elif rest:
        hp = t.hp - rest
        if hp > 0:
            p.append(Patch(tid, "hp", hp))
        elif t.kind == "monster":
            p += [Patch(tid, "hp", 0), Patch(tid, "dead", True), Patch(tid, "concentration", "")]
            fell = f"; {t.name} falls"
        elif -hp >= t.hp_max:
            p += [
                Patch(tid, "hp", 0),
                Patch(tid, "dead", True),
                Patch(tid, "conditions", _with(t.conditions, "unconscious")),
            ]
            fell = f"; {t.name} is killed outright"
        else:
            p += [
                Patch(tid, "hp", 0),
                Patch(tid, "conditions", _with(_with(t.conditions, "unconscious"), "prone")),
                Patch(tid, "death_successes", 0),
                Patch(tid, "death_failures", 0),
                Patch(tid, "concentration", ""),
            ]
            fell = f"; {t.name} drops, dying"
    after = max(0, t.hp - rest) if rest else t.hp
    st.emit(
        "damage",
        source,
        tid,
        f"{text}: {amount} damage, {t.name} at {after}/{t.hp_max} HP{fell}",
        rolls,
        p,
        amount,
    )
    t = st.c(tid)
    if rest and t.concentration and not t.down:
        _save(
            st,
            tid,
            "con",
            max(10, rest // 2),
            f"{t.name} keeps concentrating on {t.concentration}",
            on_fail=[Patch(tid, "concentration", "")],
            kind="concentration",
        )


def _heal(st: _Step, source: str, tid: str, amount: int, text: str, rolls: Sequence[Roll]) -> None:
    t = st.c(tid)
    if t.dead:
        st.emit("heal", source, tid, f"{text}: {t.name} is dead; nothing happens", rolls)
        return
    hp = min(t.hp_max, t.hp + amount)
    p = [Patch(tid, "hp", hp)]
    woke = ""
    if t.hp <= 0:
        p += [
            Patch(tid, "conditions", _without(t.conditions, "unconscious")),
            Patch(tid, "death_successes", 0),
            Patch(tid, "death_failures", 0),
            Patch(tid, "stable", False),
        ]
        woke = f"; {t.name} is back on their feet"
    st.emit(
        "heal",
        source,
        tid,
        f"{text}: {t.name} regains {hp - t.hp} HP ({hp}/{t.hp_max}){woke}",
        rolls,
        p,
        hp - t.hp,
    )


def _with(conds: tuple[str, ...], name: str) -> tuple[str, ...]:
    return conds if name in conds else (*conds, name)


def _without(conds: tuple[str, ...], name: str) -> tuple[str, ...]:
    return tuple(c for c in conds if c != name)


def _save(
    st: _Step,
    tid: str,
    ability: str,
    dc: int,
    text: str,
    on_fail: Sequence[Patch] = (),
    kind: str = "save",
) -> bool:
    t = st.c(tid)
    adv = cond.save_advantage(t, ability)
    if adv is None:
        st.emit(
            kind,
            tid,
            tid,
            f"{t.name} fails the DC {dc} {ability.upper()} save automatically",
            [Roll(kind, (), 0, 0, against=dc, success=False)],
            on_fail,
        )
        return False
    kept, rolled = dice.d20(st.rng, adv)
    total = kept + t.save(ability)
    ok = total >= dc
    st.emit(
        kind,
        tid,
        tid,
        f"{t.name} {'succeeds' if ok else 'fails'} a DC {dc} {ability.upper()} save ({total})"
        + (f": {text}" if ok and kind == "concentration" else ""),
        [Roll(kind, rolled, t.save(ability), total, advantage=adv, against=dc, success=ok)],
        () if ok else on_fail,
    )
    return ok


def _apply_condition(st: _Step, source: str, tid: str, condition: str, lingering: str) -> None:
    t = st.c(tid)
    if t.down or condition in t.condition_immunities or t.has(condition):
        return
    p = [Patch(tid, "conditions", _with(t.conditions, condition))]
    if lingering:
        p.append(Patch(tid, "lingering", (*t.lingering, lingering)))
    st.emit("condition", source, tid, f"{t.name} is {condition}", patches=p)


@dataclass(frozen=True, slots=True)
class Strike:
    """One attack roll's numbers, whoever makes it."""

    name: str
    bonus: int
    damage: tuple[tuple[str, str], ...]  # (notation, type)
    melee: bool
    normal_range: int = 0
    crit_on: int = 20
    magical: bool = False


def _attack(
    st: _Step,
    aid: str,
    tid: str,
    strike: Strike,
    extra: Callable[[Combatant, Combatant, int], tuple[tuple[str, str], ...]] | None = None,
) -> bool:
    a, t = st.c(aid), st.c(tid)
    reasons: list[str] = []
    extra_dis: list[str] = []
    if not strike.melee:
        if a.position == "engaged" and any(
            e.position == "engaged" and cond.can_act(e) for e in st.state.enemies_of(a)
        ):
            extra_dis.append("ranged attack in melee")
        if strike.normal_range and distance(a, t) > strike.normal_range:
            extra_dis.append("long range")
    adv = cond.attack_advantage(a, t, strike.melee, reasons, extra_dis)
    kept, rolled = dice.d20(st.rng, adv)
    total = kept + strike.bonus
    crit = kept >= strike.crit_on
    hit = kept != 1 and (crit or total >= t.ac)
    if hit and cond.is_auto_crit(t, strike.melee) and distance(a, t) <= 5:
        crit = True
    outcome = "critical hit" if hit and crit else "hit" if hit else "miss"
    why = f" ({', '.join(reasons)})" if reasons else ""
    p = [Patch(aid, "hidden", 0)] if a.hidden else []
    p += [Patch(aid, "helped", False)] if a.helped else []
    st.emit(
        "attack",
        aid,
        tid,
        f"{a.name} attacks {t.name} with {strike.name}: {total} vs AC {t.ac}, {outcome}{why}",
        [Roll("attack", rolled, strike.bonus, total, f"1d20{strike.bonus:+d}", adv, t.ac, hit, hit and crit)],
        p,
    )
    if not hit:
        return False
    parts = strike.damage + (extra(a, t, adv) if extra else ())
    total_dmg, rolls, notes = 0, [], []
    for notation, dtype in parts:
        r = dice.roll(notation, st.rng, crit)
        amount, note = _adjust(t, r.total, dtype, strike.magical)
        total_dmg += amount
        rolls.append(Roll("damage", r.dice, r.modifier, amount, notation, critical=crit))
        notes.append(f"{amount} {dtype}" + (f" ({note})" if note else ""))
    _damage(st, aid, tid, total_dmg, crit, f"{strike.name} deals {', '.join(notes)}", rolls)
    return True


# ---- characters' actions -------------------------------------------------------------------------------


def _sheet(st: _Step, c: Combatant) -> CharacterSheet:
    sheet = st.sources[c.id]
    assert isinstance(sheet, CharacterSheet)
    return sheet


def _close_in(st: _Step, actor: Combatant, t: Combatant, ranged: bool, reach: int) -> None:
    if ranged or distance(actor, t) <= reach or actor.position == "engaged":
        return
    _move(st, actor.id, "engaged")


def _weapon_strike(sheet: CharacterSheet, w: Attack, offhand: bool) -> Strike:
    dmg_dice = (
        w.damage
        if not offhand
        else f"{w.damage_dice}{min(0, w.damage_bonus):+d}"
        if not w.damage_dice.isdigit()
        else str(max(0, int(w.damage_dice) + min(0, w.damage_bonus)))
    )
    crit_on = 19 if "Improved Critical" in sheet.features else 20
    return Strike(w.name, w.attack_bonus, ((dmg_dice, w.damage_type),), not w.ranged, w.normal_range, crit_on)


def _sneak_and_rage(
    sheet: CharacterSheet, w: Attack
) -> Callable[[Combatant, Combatant, int], tuple[tuple[str, str], ...]]:
    def extra(a: Combatant, t: Combatant, adv: int) -> tuple[tuple[str, str], ...]:
        out: list[tuple[str, str]] = []
        if a.raging and not w.ranged and w.ability == "str" and sheet.rage_damage:
            out.append((str(sheet.rage_damage), w.damage_type))
        return tuple(out)

    return extra


def _do_attack(st: _Step, actor: Combatant, d: Declared) -> None:
    sheet = _sheet(st, actor)
    w = _weapon(sheet, d.weapon)
    offhand = d.kind == "offhand"
    if offhand:
        st.emit(
            "bonus",
            actor.id,
            "",
            f"{actor.name} attacks with the off hand",
            patches=[Patch(actor.id, "bonus_used", True)],
        )
    elif not actor.action_used:
        st.emit(
            "action",
            actor.id,
            "",
            f"{actor.name} takes the Attack action",
            patches=[
                Patch(actor.id, "action_used", True),
                Patch(actor.id, "attacks_left", sheet.attacks_per_action),
            ],
        )
    strike = _weapon_strike(sheet, w, offhand)
    for tid in d.targets:
        actor = st.c(actor.id)
        t = st.c(tid)
        if t.down or not st.state.active:
            continue
        _close_in(st, actor, t, w.ranged, 5 + 5 * ("reach" in w.properties))
        if not offhand:
            st.emit(
                "attack_slot",
                actor.id,
                tid,
                "",
                patches=[Patch(actor.id, "attacks_left", st.c(actor.id).attacks_left - 1)]
                + ([Patch(actor.id, "light_attack", True)] if "light" in w.properties else []),
            )
        hit = _attack(st, actor.id, tid, strike, _sneak_and_rage(sheet, w))
        if hit:
            _maybe_sneak(st, sheet, st.c(actor.id), tid, w)
        _check_end(st)


def _maybe_sneak(st: _Step, sheet: CharacterSheet, a: Combatant, tid: str, w: Attack) -> None:
    """Sneak Attack, once per turn: a finesse or ranged weapon, and advantage or an ally engaged with the
    target (and no disadvantage; the last attack event says which)."""
    if not sheet.sneak_attack_dice or a.sneak_used or not ("finesse" in w.properties or w.ranged):
        return
    t = st.c(tid)
    last = next(e for e in reversed(st.events) if e.kind == "attack")
    adv = last.rolls[0].advantage
    ally_close = (
        any(x.position == "engaged" and not x.down for x in st.state.allies_of(a)) and t.position == "engaged"
    )
    if adv < 0 or not (adv > 0 or ally_close):
        return
    crit = last.rolls[0].critical
    r = dice.roll(sheet.sneak_attack_dice, st.rng, crit)
    amount, note = _adjust(t, r.total, w.damage_type, False)
    st.emit("sneak_attack", a.id, tid, "Sneak Attack", patches=[Patch(a.id, "sneak_used", True)])
    if not t.down:
        _damage(
            st,
            a.id,
            tid,
            amount,
            crit,
            f"Sneak Attack deals {amount} {w.damage_type}" + (f" ({note})" if note else ""),
            [Roll("damage", r.dice, r.modifier, amount, sheet.sneak_attack_dice, critical=crit)],
        )


def _do_cast(st: _Step, actor: Combatant, d: Declared) -> None:
    sheet = _sheet(st, actor)
    spell, slot = _spell_for(sheet, d)
    sc = sheet.spellcasting
    assert sc is not None
    p = [Patch(actor.id, "bonus_used" if spell.bonus_action else "action_used", True)]
    if slot:
        slots = list(actor.slots)
        slots[slot - 1] -= 1
        p.append(Patch(actor.id, "slots", tuple(slots)))
    if spell.concentration:
        p.append(Patch(actor.id, "concentration", spell.name))
    at = f" at level {slot}" if slot and slot > spell.level else ""
    st.emit("cast", actor.id, ",".join(d.targets), f"{actor.name} casts {spell.name}{at}", patches=p)
    notation = spell.dice(slot, sheet.level)
    if spell.heals:
        mod = sheet.ability_modifiers[sc.ability]
        notation = notation.replace("+MOD", f"{mod:+d}")
        for tid in d.targets:
            r = dice.roll(notation, st.rng)
            _heal(
                st, actor.id, tid, r.total, spell.name, [Roll("heal", r.dice, r.modifier, r.total, notation)]
            )
        return
    if spell.attack:
        strike = Strike(
            spell.name,
            sc.attack_bonus,
            ((notation, spell.damage_type),),
            spell.attack == "melee",
            0,
            20,
            True,
        )
        for tid in d.targets:
            if not st.c(tid).down:
                _attack(st, actor.id, tid, strike)
        _check_end(st)
        return
    rolled = dice.roll(notation, st.rng)  # one roll for every creature in the area
    for tid in d.targets:
        t = st.c(tid)
        if t.down and t.kind == "monster":
            continue
        amount = rolled.total
        if spell.save:
            ok = _save(st, tid, spell.save, sc.save_dc, spell.name)
            if ok:
                amount = amount // 2 if spell.half_on_save else 0
        amount, note = _adjust(st.c(tid), amount, spell.damage_type, True)
        if amount or not spell.save:
            _damage(
                st,
                actor.id,
                tid,
                amount,
                False,
                f"{spell.name} deals {amount} {spell.damage_type}" + (f" ({note})" if note else ""),
                [Roll("damage", rolled.dice, rolled.modifier, amount, notation)],
            )
    _check_end(st)


def _move(st: _Step, cid: str, position: str) -> None:
    """Move between bands; leaving the melee line without Disengage provokes opportunity attacks."""
    c = st.c(cid)
    cost = move_cost(c, position)
    if c.position == "engaged" and position != "engaged" and not c.disengaged:
        for e in st.state.enemies_of(c):
            if e.position == "engaged" and cond.can_act(e) and not e.reaction_used and not st.c(cid).down:
                strike = _melee_strike(st, e)
                if strike is not None:
                    st.emit(
                        "reaction",
                        e.id,
                        cid,
                        f"{e.name} makes an opportunity attack",
                        patches=[Patch(e.id, "reaction_used", True)],
                    )
                    _attack(st, e.id, cid, strike)
        if st.c(cid).down:
            return
    st.emit(
        "move",
        cid,
        "",
        f"{c.name} moves to {position}",
        patches=[Patch(cid, "position", position), Patch(cid, "movement", max(0, c.movement - cost))],
    )


def _melee_strike(st: _Step, c: Combatant) -> Strike | None:
    src = st.sources.get(c.id)
    if isinstance(src, CharacterSheet):
        melee = [a for a in src.attacks if not a.ranged]
        return _weapon_strike(src, melee[0], False) if melee else None
    if isinstance(src, StatBlock):
        moves = [
            m for m in monster_kit(src).moves.values() if m.kind == "attack" and not m.ranged and m.damage
        ]
        if moves:
            m = max(moves, key=lambda m: (m.expected, m.name))
            return Strike(m.name, m.attack_bonus, tuple((x.dice, x.damage_type) for x in m.damage), True)
    return None


def _do_simple(st: _Step, actor: Combatant, d: Declared) -> None:
    sheet = _sheet(st, actor)
    a = actor.id
    kind = d.kind
    if kind == "dash":
        st.emit(
            "dash",
            a,
            "",
            f"{actor.name} dashes",
            patches=[Patch(a, "action_used", True), Patch(a, "movement", actor.movement + actor.speed)],
        )
    elif kind == "disengage":
        st.emit(
            "disengage",
            a,
            "",
            f"{actor.name} disengages",
            patches=[Patch(a, "action_used", True), Patch(a, "disengaged", True)],
        )
    elif kind == "dodge":
        st.emit(
            "dodge",
            a,
            "",
            f"{actor.name} takes the Dodge action",
            patches=[Patch(a, "action_used", True), Patch(a, "dodging", True)],
        )
    elif kind == "help":
        t = d.targets[0]
        st.emit(
            "help",
            a,
            t,
            f"{actor.name} helps {st.name(t)}",
            patches=[Patch(a, "action_used", True), Patch(t, "helped", True)],
        )
    elif kind == "hide":
        watchers = [e for e in st.state.enemies_of(actor) if cond.can_act(e)]
        dc = max((_passive(st, e) for e in watchers), default=0)
        kept, rolled = dice.d20(st.rng, -1 if sheet.stealth_disadvantage else 0)
        mod = sheet.skills["stealth"].modifier
        ok = kept + mod >= dc
        st.emit(
            "hide",
            a,
            "",
            f"{actor.name} {'hides' if ok else 'fails to hide'} (Stealth {kept + mod} vs {dc})",
            [Roll("check", rolled, mod, kept + mod, against=dc, success=ok)],
            [Patch(a, "action_used", True), Patch(a, "hidden", kept + mod if ok else 0)],
        )
    elif kind == "use":
        tid = d.targets[0] if d.targets else a
        st.emit(
            "use",
            a,
            tid,
            f"{actor.name} uses a {d.item.replace('-', ' ')}",
            patches=[
                Patch(a, "action_used", True),
                Patch(a, "items", tuple((n, k - (n == d.item)) for n, k in actor.items)),
            ],
        )
        r = dice.roll(POTIONS[d.item], st.rng)
        _heal(
            st,
            a,
            tid,
            r.total,
            d.item.replace("-", " "),
            [Roll("heal", r.dice, r.modifier, r.total, POTIONS[d.item])],
        )
    elif kind == "stabilize":
        t = d.targets[0]
        mod = sheet.skills["medicine"].modifier
        kept, rolled = dice.d20(st.rng, 0)
        ok = kept + mod >= 10
        st.emit(
            "stabilize",
            a,
            t,
            f"{actor.name} {'stabilises' if ok else 'fails to stabilise'} {st.name(t)}",
            [Roll("check", rolled, mod, kept + mod, against=10, success=ok)],
            [Patch(a, "action_used", True)] + ([Patch(t, "stable", True)] if ok else []),
        )
    elif kind == "second_wind":
        r = dice.roll(f"1d10+{sheet.level}", st.rng)
        st.emit(
            "second_wind",
            a,
            a,
            f"{actor.name} uses Second Wind",
            patches=[Patch(a, "bonus_used", True), Patch(a, "resources", _spend(actor, "second_wind_uses"))],
        )
        _heal(
            st,
            a,
            a,
            r.total,
            "Second Wind",
            [Roll("heal", r.dice, r.modifier, r.total, f"1d10+{sheet.level}")],
        )
    elif kind == "action_surge":
        st.emit(
            "action_surge",
            a,
            "",
            f"{actor.name} surges for another action",
            patches=[
                Patch(a, "action_used", False),
                Patch(a, "attacks_left", 0),
                Patch(a, "resources", _spend(actor, "action_surges")),
            ],
        )
    elif kind == "rage":
        st.emit(
            "rage",
            a,
            "",
            f"{actor.name} rages",
            patches=[
                Patch(a, "bonus_used", True),
                Patch(a, "raging", True),
                Patch(a, "resources", _spend(actor, "rage_count")),
            ],
        )
    elif kind == "move":
        _move(st, a, d.position)
    elif kind == "flee":
        st.emit(
            "flee",
            a,
            "",
            f"{actor.name} flees the fight",
            patches=[Patch(a, "action_used", True), Patch(a, "fled", True)],
        )
        _check_end(st)


def _spend(c: Combatant, name: str) -> tuple[tuple[str, int], ...]:
    return tuple((n, k - (n == name)) for n, k in c.resources)


def _passive(st: _Step, c: Combatant) -> int:
    src = st.sources.get(c.id)
    if isinstance(src, CharacterSheet):
        return src.passive_perception
    if isinstance(src, StatBlock):
        return src.senses.passive_perception
    return 10


def _do_end(st: _Step, actor: Combatant, d: Declared) -> None:
    pass


_DO: dict[str, Callable[[_Step, Combatant, Declared], None]] = {
    "attack": _do_attack,
    "offhand": _do_attack,
    "cast": _do_cast,
    "end_turn": _do_end,
    **{
        k: _do_simple
        for k in (
            "dash",
            "disengage",
            "dodge",
            "help",
            "hide",
            "use",
            "stabilize",
            "second_wind",
            "action_surge",
            "rage",
            "move",
            "flee",
        )
    },
}


# ---- turns ---------------------------------------------------------------------------------------------


def _begin_turn(st: _Step) -> None:
    c = st.state.current
    if c.dead or c.fled or (c.kind == "monster" and c.hp <= 0):
        return  # out of the fight: its place in the order passes silently
    p = [
        Patch(c.id, "action_used", False),
        Patch(c.id, "bonus_used", False),
        Patch(c.id, "reaction_used", False),
        Patch(c.id, "movement", c.speed if cond.can_move(c) else 0),
        Patch(c.id, "attacks_left", 0),
        Patch(c.id, "light_attack", False),
        Patch(c.id, "sneak_used", False),
        Patch(c.id, "dodging", False),
        Patch(c.id, "disengaged", False),
    ]
    if c.legendary_max:
        p.append(Patch(c.id, "legendary_left", c.legendary_max))
    if c.has("prone") and c.hp > 0:  # standing up costs half the movement
        p += [
            Patch(c.id, "conditions", _without(c.conditions, "prone")),
            Patch(c.id, "movement", c.speed // 2),
        ]
    st.emit("turn", c.id, "", f"Round {st.state.round}: {c.name}'s turn", patches=p)
    c = st.c(c.id)
    for name in c.spent:
        kit = _kit(st, c)
        move = kit.moves.get(name) if kit else None
        if move is None:
            continue
        kept = st.rng.randint(1, 6)
        ok = kept >= move.recharge
        st.emit(
            "recharge",
            c.id,
            "",
            f"{c.name}'s {name} {'recharges' if ok else 'does not recharge'} ({kept})",
            [Roll("recharge", (kept,), 0, kept, "1d6", against=move.recharge, success=ok)],
            [Patch(c.id, "spent", tuple(x for x in st.c(c.id).spent if x != name))] if ok else [],
        )


def _kit(st: _Step, c: Combatant) -> MonsterKit | None:
    src = st.sources.get(c.id)
    return monster_kit(src) if isinstance(src, StatBlock) else None


def _end_turn(st: _Step) -> None:
    c = st.state.current
    for entry in c.lingering:
        condition, ability, dc = entry.split(":")
        if not st.c(c.id).has(condition):
            continue
        keep = [x for x in st.c(c.id).lingering if x != entry]
        if int(dc) == 0:
            st.emit(
                "condition_ends",
                c.id,
                c.id,
                f"{c.name} is no longer {condition}",
                patches=[
                    Patch(c.id, "conditions", _without(st.c(c.id).conditions, condition)),
                    Patch(c.id, "lingering", tuple(keep)),
                ],
            )
        elif not st.c(c.id).down:
            _save(st, c.id, ability, int(dc), f"{c.name} shakes off {condition}", on_fail=())
            last = st.events[-1]
            if last.rolls and last.rolls[0].success:
                st.emit(
                    "condition_ends",
                    c.id,
                    c.id,
                    f"{c.name} is no longer {condition}",
                    patches=[
                        Patch(c.id, "conditions", _without(st.c(c.id).conditions, condition)),
                        Patch(c.id, "lingering", tuple(keep)),
                    ],
                )
    if "surprised" in st.c(c.id).conditions:
        st.emit(
            "condition_ends",
            c.id,
            c.id,
            f"{c.name} is no longer surprised",
            patches=[Patch(c.id, "conditions", _without(st.c(c.id).conditions, "surprised"))],
        )
    # Legendary creatures act at the end of another creature's turn.
    for lid in st.state.order:
        lc = st.c(lid)
        if lc.legendary_left and lid != c.id and cond.can_act(lc) and st.state.active:
            _legendary(st, lc)
    _check_end(st)
    if not st.state.active:
        return
    turn, rnd = st.state.turn + 1, st.state.round
    if turn >= len(st.state.order):
        turn, rnd = 0, rnd + 1
    st.emit("next", "", "", "", patches=[Patch(COMBAT, "turn", turn), Patch(COMBAT, "round", rnd)])
    _begin_turn(st)


def _play_until_input(st: _Step) -> None:
    """Run turns that need no declaration: monsters, dying characters' death saves, the incapacitated."""
    for _ in range(MAX_TURNS_PER_STEP):
        if not st.state.active:
            return
        c = st.state.current
        if c.kind == "character" and cond.can_act(c) and "surprised" not in c.conditions:
            return
        if c.dying:
            _death_save(st, c)
        elif c.kind == "monster" and cond.can_act(c) and "surprised" not in c.conditions:
            _monster_turn(st, c)
        _end_turn(st)


def _death_save(st: _Step, c: Combatant) -> None:
    kept, rolled = dice.d20(st.rng, 0)
    if kept == 20:
        p = [
            Patch(c.id, "hp", 1),
            Patch(c.id, "conditions", _without(c.conditions, "unconscious")),
            Patch(c.id, "death_successes", 0),
            Patch(c.id, "death_failures", 0),
        ]
        text = f"{c.name} rolls a 20 on a death save and regains 1 HP"
    elif kept >= 10:
        n = c.death_successes + 1
        p = [Patch(c.id, "death_successes", n)] + ([Patch(c.id, "stable", True)] if n >= 3 else [])
        text = f"{c.name} succeeds a death save ({n}/3)" + (" and is stable" if n >= 3 else "")
    else:
        n = min(3, c.death_failures + (2 if kept == 1 else 1))
        p = [Patch(c.id, "death_failures", n)] + ([Patch(c.id, "dead", True)] if n >= 3 else [])
        text = f"{c.name} fails a death save ({n}/3)" + (" and dies" if n >= 3 else "")
    st.emit(
        "death_save",
        c.id,
        c.id,
        text,
        [Roll("death_save", rolled, 0, kept, "1d20", against=10, success=kept >= 10)],
        p,
    )
    _check_end(st)


# ---- monsters ------------------------------------------------------------------------------------------


def _move_strike(m: MonsterMove) -> Strike:
    return Strike(
        m.name,
        m.attack_bonus,
        tuple((d.dice, d.damage_type) for d in m.damage[:1]),
        not m.ranged,
        m.range_normal,
    )


def _run_move(st: _Step, mid: str, move: MonsterMove, targets: Sequence[str]) -> None:
    """Execute a monster move (attack, save effect, heal...) on ``targets``."""
    kit = _kit(st, st.c(mid))
    m = st.c(mid)
    if move.recharge:
        st.emit(
            "uses",
            mid,
            "",
            f"{m.name} uses {move.name}",
            patches=[Patch(mid, "spent", (*m.spent, move.name))],
        )
    elif move.per_day:
        st.emit(
            "uses",
            mid,
            "",
            f"{m.name} uses {move.name}",
            patches=[Patch(mid, "resources", _spend(m, f"day:{move.name}"))],
        )
    if move.kind == "multiattack":
        for name, times in move.parts:
            part = kit.moves[name] if kit else None
            for _ in range(times):
                alive = [t for t in targets if not st.c(t).down]
                if part is None or not alive or not st.state.active:
                    return
                _run_move(st, mid, part, alive[:1] if part.kind == "attack" else alive)
        return
    if move.kind == "heal":
        r = dice.roll(move.damage[0].dice, st.rng)
        _heal(
            st, mid, mid, r.total, move.name, [Roll("heal", r.dice, r.modifier, r.total, move.damage[0].dice)]
        )
        return
    if move.kind == "detect":
        src = st.sources.get(mid)
        mod = (
            src.skills.get("perception", src.abilities.modifier(Ability.WIS))
            if isinstance(src, StatBlock)
            else 0
        )
        kept, rolled = dice.d20(st.rng, 0)
        found = [e.id for e in st.state.enemies_of(m) if e.hidden and kept + mod >= e.hidden]
        st.emit(
            "detect",
            mid,
            ",".join(found),
            f"{m.name} searches (Perception {kept + mod})"
            + (f" and spots {', '.join(st.name(f) for f in found)}" if found else ""),
            [Roll("check", rolled, mod, kept + mod)],
            [Patch(f, "hidden", 0) for f in found],
        )
        return
    if move.kind == "reposition":
        st.emit(
            "move",
            mid,
            "",
            f"{m.name} repositions ({move.name})",
            patches=[Patch(mid, "position", "engaged")],
        )
        return
    if move.kind == "attack":
        for tid in targets:
            hit = _attack(st, mid, tid, _move_strike(move))
            if hit and st.state.active:
                _after_hit(st, mid, tid, move)
        return
    # a save-DC effect
    notation = move.damage[0].dice if move.damage else ""
    effect = dice.roll(notation, st.rng) if notation else None
    for tid in targets:
        t = st.c(tid)
        if t.down:
            continue
        ok = _save(st, tid, move.save_ability, move.save_dc, move.name)
        if effect is not None:
            amount = effect.total if not ok else effect.total // 2 if move.half_on_save else 0
            amount, note = _adjust(st.c(tid), amount, move.damage[0].damage_type, False)
            if amount:
                _damage(
                    st,
                    mid,
                    tid,
                    amount,
                    False,
                    f"{move.name} deals {amount} {move.damage[0].damage_type}"
                    + (f" ({note})" if note else ""),
                    [Roll("damage", effect.dice, effect.modifier, amount, notation)],
                )
        if not ok:
            for c in move.conditions:
                _apply_condition(st, mid, tid, c, f"{c}:{move.save_ability}:{move.save_dc}")
    _check_end(st)


def _after_hit(st: _Step, mid: str, tid: str, move: MonsterMove) -> None:
    """Extra damage and conditions of a hit: components after the first ride on the action's save, if any."""
    rest = move.damage[1:]
    ok = False
    if move.save_dc and not st.c(tid).down:
        ok = _save(st, tid, move.save_ability, move.save_dc, move.name)
    for dmg in rest:
        if st.c(tid).dead:
            break
        r = dice.roll(dmg.dice, st.rng, False)
        amount = r.total if not (move.save_dc and ok) else r.total // 2 if move.half_on_save else 0
        amount, note = _adjust(st.c(tid), amount, dmg.damage_type, False)
        if amount:
            _damage(
                st,
                mid,
                tid,
                amount,
                False,
                f"{move.name} deals {amount} {dmg.damage_type}" + (f" ({note})" if note else ""),
                [Roll("damage", r.dice, r.modifier, amount, dmg.dice)],
            )
    if move.save_dc and ok:
        return
    escape = f"str:{move.save_dc}" if move.save_dc else "str:0"
    for c in move.conditions:
        dc = move.save_dc if move.save_dc else 0
        if c in ("grappled", "restrained") and not move.save_dc:
            dc = 10 + (move.attack_bonus - 2)  # escape DC: the SRD's 10 + Str mod + proficiency, close enough
        _apply_condition(
            st, mid, tid, c, f"{c}:{move.save_ability or escape.split(':')[0]}:{dc}" if c != "prone" else ""
        )


def _ready(m: Combatant, move: MonsterMove) -> bool:
    if move.recharge and move.name in m.spent:
        return False
    return not (move.per_day and m.resource(f"day:{move.name}") <= 0)


def _monster_turn(st: _Step, m: Combatant) -> None:
    from rules.combat.tactics import choose_monster_action, morale_breaks

    if morale_breaks(st.state, m):
        st.emit(
            "flee",
            m.id,
            "",
            f"{m.name} breaks and flees",
            patches=[Patch(m.id, "disengaged", True), Patch(m.id, "fled", True)],
        )
        _check_end(st)
        return
    kit = _kit(st, m)
    if kit is None:
        return
    plan = choose_monster_action(st.state, m, kit, _ready)
    if plan is None:
        st.emit("wait", m.id, "", f"{m.name} has nothing it can do")
        return
    move, targets, needs_close = plan
    if needs_close and m.position != "engaged":
        if move_cost(m, "engaged") > m.movement:
            st.emit(
                "dash",
                m.id,
                "",
                f"{m.name} dashes toward the fight",
                patches=[Patch(m.id, "movement", m.movement + m.speed)],
            )
            _move(st, m.id, "near" if move_cost(st.c(m.id), "engaged") > st.c(m.id).movement else "engaged")
            return
        _move(st, m.id, "engaged")
    if targets and st.state.active:
        st.emit(
            "action",
            m.id,
            ",".join(targets),
            f"{m.name} uses {move.name}",
            patches=[Patch(m.id, "action_used", True)],
        )
        _run_move(st, m.id, move, targets)


def _legendary(st: _Step, m: Combatant) -> None:
    from rules.combat.tactics import choose_legendary

    kit = _kit(st, m)
    if kit is None:
        return
    plan = choose_legendary(st.state, m, kit)
    if plan is None:
        return
    move, targets = plan
    st.emit(
        "legendary",
        m.id,
        ",".join(targets),
        f"{m.name} uses a legendary action: {move.name}",
        patches=[Patch(m.id, "legendary_left", m.legendary_left - move.cost)],
    )
    _run_move(st, m.id, move, targets)


# ---- entry points for tests and tools ------------------------------------------------------------------


def resolve_attack(
    state: CombatState, attacker: str, target: str, strike: Strike, rng: random.Random
) -> tuple[CombatState, list[Event]]:
    """One attack roll (and its damage) outside the turn order: the attack math on its own."""
    st = _Step(state, {}, rng, state.step)
    _attack(st, attacker, target, strike)
    return st.state, st.events


def run_monster_move(
    state: CombatState, sources: Sources, monster: str, move: MonsterMove, targets: Sequence[str]
) -> tuple[CombatState, list[Event]]:
    """Execute one stat-block move outside the turn order (the bestiary sweep runs every move this way)."""
    st = _Step(state, sources, step_rng(state, state.step), state.step)
    _run_move(st, monster, move, targets)
    return st.state, st.events


def damage(
    state: CombatState, target: str, amount: int, critical: bool = False
) -> tuple[CombatState, list[Event]]:
    """Deal ``amount`` (already adjusted) to ``target``: temporary HP, dropping, death saves, massive damage,
    concentration."""
    st = _Step(state, {}, step_rng(state, state.step), state.step)
    _damage(st, "", target, amount, critical, "damage", ())
    return st.state, st.events


def adjust_damage(target: Combatant, amount: int, damage_type: str, magical: bool = False) -> tuple[int, str]:
    """Resistance halves (rounded down), vulnerability doubles, immunity zeroes."""
    return _adjust(target, amount, damage_type, magical)


# ---- the end -------------------------------------------------------------------------------------------


def _check_end(st: _Step) -> None:
    s = st.state
    if not s.active:
        return
    party, foes = s.side(PARTY), s.side(FOES)
    if all(c.down for c in party):
        text = "The party has fled" if all(c.fled for c in party) else "Defeat: the party has fallen"
        st.emit("end", "", "", text, patches=[Patch(COMBAT, "status", "defeat")])
        return
    if all(c.down for c in foes):
        outcome = "flight" if any(c.fled for c in foes) and not all(c.dead for c in foes) else "victory"
        survivors = [c for c in party if not c.dead and not c.fled]
        total = sum(c.xp for c in foes)
        share = total // len(survivors) if survivors else 0
        awards = tuple((c.id, share) for c in survivors)
        text = (
            "Victory" if outcome == "victory" else "The foes flee"
        ) + f": {total} XP, {share} each for {len(survivors)}"
        st.emit(
            "end",
            "",
            "",
            text,
            patches=[Patch(COMBAT, "status", outcome), Patch(COMBAT, "xp_awarded", awards)],
            amount=total,
        )
