"""Challenge rating of a stat block by the DMG's "Creating a Monster" method (DMG 2014 pp.273-283).

Defensive CR: the Monster Statistics by CR row for the (effective) hit points, moved one step per two
points of (effective) armor class above or below that row's AC. Offensive CR: the row for the (effective)
damage per round averaged over three rounds, moved one step per two points of attack bonus or save DC
difference. The final CR is the average of the two, rounded to the nearest rating (halves round up).

Adjustments applied, from the DMG's tables: effective hit points for resistances and immunities
(by expected CR), saving-throw proficiencies (+2/+4 AC), flying with ranged damage at CR 10 or less
(+2 AC), and the Monster Features table's traits that the SRD data names (Magic Resistance, Legendary
Resistance, Regeneration, Pack Tactics, Nimble Escape, Undead Fortitude, Relentless, Frightful Presence...).
Area effects and breath weapons count two targets (and every target fails its save); limited-use actions
and spell slots count once each in the three rounds, best first; spells take their damage from the SRD
spell list (cantrips scale with caster level). Legendary actions are not added to damage per round: the
DMG's method leaves them out, and adding them overshoots every SRD dragon by three or more steps.

What it cannot see: effects that are not damage (paralysis, charm, petrification, summoning) and how a
designer weighed them. The test over the SRD bestiary reports how close it gets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rules.challenge import CHALLENGE_RATINGS, cr_index, cr_step
from rules.srd import SpellDamage
from rules.statblock import Action, StatBlock

# DMG p.274, Monster Statistics by Challenge Rating, one row per CR in CHALLENGE_RATINGS order:
# (AC, highest HP, attack bonus, highest damage per round, save DC).
_ROWS: tuple[tuple[int, int, int, int, int], ...] = (
    (13, 6, 3, 1, 13),  # 0
    (13, 35, 3, 3, 13),  # 1/8
    (13, 49, 3, 5, 13),  # 1/4
    (13, 70, 3, 8, 13),  # 1/2
    (13, 85, 3, 14, 13), (13, 100, 3, 20, 13), (13, 115, 4, 26, 13), (14, 130, 5, 32, 14),  # 1-4
    (15, 145, 6, 38, 15), (15, 160, 6, 44, 15), (15, 175, 6, 50, 15), (16, 190, 7, 56, 16),  # 5-8
    (16, 205, 7, 62, 16), (17, 220, 7, 68, 16), (17, 235, 8, 74, 17), (17, 250, 8, 80, 17),  # 9-12
    (18, 265, 8, 86, 18), (18, 280, 8, 92, 18), (18, 295, 8, 98, 18), (18, 310, 9, 104, 18),  # 13-16
    (19, 325, 10, 110, 19), (19, 340, 10, 116, 19), (19, 355, 10, 122, 19), (19, 400, 10, 140, 19),  # 17-20
    (19, 445, 11, 158, 20), (19, 490, 11, 176, 20), (19, 535, 11, 194, 20), (19, 580, 12, 212, 21),  # 21-24
    (19, 625, 12, 230, 21), (19, 670, 12, 248, 21), (19, 715, 13, 266, 22), (19, 760, 13, 284, 22),  # 25-28
    (19, 805, 13, 302, 22), (19, 850, 14, 320, 23),  # 29-30
)  # fmt: skip
MONSTER_STATISTICS: dict[float, dict[str, int]] = {
    cr: {"ac": r[0], "hp_max": r[1], "attack_bonus": r[2], "dpr_max": r[3], "save_dc": r[4]}
    for cr, r in zip(CHALLENGE_RATINGS, _ROWS, strict=True)
}

_BPS = ("bludgeoning", "piercing", "slashing")
_NUMBER_DICE = re.compile(r"(\d+) \((\d+d\d+(?: [+-] \d+)?)\)")
_REGAIN = re.compile(r"regains (\d+) hit points")


def _row_for(value: float, key: str) -> float:
    for cr in CHALLENGE_RATINGS:
        if value <= MONSTER_STATISTICS[cr][key]:
            return cr
    return CHALLENGE_RATINGS[-1]


def _tier_value(cr: float, values: tuple[float, float, float, float]) -> float:
    """Pick by expected CR band 1-4 (and below), 5-10, 11-16, 17+."""
    return values[0] if cr < 5 else values[1] if cr < 11 else values[2] if cr < 17 else values[3]


def _steps(difference: float) -> int:
    """One CR step per two points, truncated toward zero (a 1-point difference changes nothing)."""
    return int(difference / 2)


@dataclass(frozen=True, slots=True)
class _Option:
    """One way to deal damage in a round, with the bonus or DC that lands it."""

    damage: float
    attack_bonus: float
    save_dc: float
    uses_save: bool


@dataclass(frozen=True, slots=True)
class CrEstimate:
    """The calculator's working, so a reader can check every number."""

    challenge_rating: float
    defensive_cr: float
    offensive_cr: float
    effective_hp: float
    effective_ac: float
    damage_per_round: float
    attack_bonus: float
    save_dc: float
    uses_save: bool


_TERM = re.compile(r"([+-]?)(\d+)(?:d(\d+))?")


def _mean(dice: str) -> float:
    """Mean of a sum of dice and numbers ("4d6+4d6", "1d8+5"); words such as "MOD" count as 0."""
    total = 0.0
    for sign, num, sides in _TERM.findall(dice.replace(" ", "")):
        value = int(num) * (int(sides) + 1) / 2 if sides else float(num)
        total += -value if sign == "-" else value
    return total


def _trait(block: StatBlock, *names: str) -> Action | None:
    for trait in block.traits:
        if any(trait.name.lower().startswith(n) for n in names):
            return trait
    return None


def _action_damage(action: Action) -> float:
    best_option = max((sum(d.average for d in opt) for opt in action.damage_options), default=0.0)
    return sum(d.average for d in action.damage) + best_option


def _is_area(action: Action) -> bool:
    text = action.description.lower()
    return action.save is not None and ("each creature" in text or "breath" in action.name.lower())


def _find(block: StatBlock, name: str) -> Action | None:
    key = name.lower()
    for act in block.actions:
        n = act.name.lower()
        if n == key or n.startswith(key) or key.startswith(n):
            return act
    return None


def _effective_damage(action: Action) -> float:
    return _action_damage(action) * (2 if _is_area(action) else 1)


def _routines(block: StatBlock) -> tuple[list[tuple[float, Action | None]], list[tuple[float, Action]]]:
    """(at-will routines, limited-use actions) as (damage, the action whose bonus/DC applies)."""
    at_will: list[tuple[float, Action | None]] = []
    limited: list[tuple[float, Action]] = []
    for act in block.actions:
        if act.multiattack:
            for routine in act.multiattack:
                total, main, main_dmg = 0.0, None, -1.0
                for part in routine:
                    target = _find(block, part.action)
                    if target is None or target.usage is not None:
                        continue
                    dmg = _effective_damage(target)
                    total += dmg * part.count
                    if dmg > main_dmg:
                        main, main_dmg = target, dmg
                at_will.append((total, main))
            continue
        dmg = _effective_damage(act)
        if dmg <= 0:
            continue
        if act.usage is not None:
            limited.append((dmg, act))
        else:
            at_will.append((dmg, act))
    return at_will, limited


def _spell_options(
    block: StatBlock, spells: Mapping[str, SpellDamage]
) -> tuple[list[_Option], list[_Option]]:
    """(at-will spell options, one entry per limited casting) from the Spellcasting traits."""
    at_will: list[_Option] = []
    limited: list[_Option] = []
    for sc in block.spellcasting:
        level = sc.caster_level or max(1, int(block.challenge_rating))
        by_slot: list[SpellDamage] = []
        for entry in sc.spells:
            spell = spells.get(entry.name.lower())
            if spell is None:
                continue
            dice = spell.dice_at(entry.level, level)
            if not dice:
                continue
            option = _Option(
                _mean(dice) * (2 if spell.area else 1), float(sc.attack_bonus), float(sc.save_dc), spell.save
            )
            if entry.at_will:
                at_will.append(option)
            elif entry.per_day:
                limited.extend([option] * entry.per_day)
            elif spell.level > 0:
                by_slot.append(spell)
        for slot, count in sc.slots.items():
            fits = [
                (_mean(sp.dice_at(slot, level)) * (2 if sp.area else 1), sp)
                for sp in by_slot
                if sp.level <= slot
            ]
            if fits:
                dmg, spell = max(fits, key=lambda f: f[0])
                limited.extend([_Option(dmg, float(sc.attack_bonus), float(sc.save_dc), spell.save)] * count)
    return at_will, limited


def _trait_damage(block: StatBlock) -> tuple[float, float]:
    """(extra damage every round, extra damage once in three rounds) from traits."""
    every, once = 0.0, 0.0
    for trait in block.traits:
        name = trait.name.lower()
        found = _NUMBER_DICE.search(trait.description)
        amount = float(found.group(1)) if found else 0.0
        if name.startswith(("sneak attack", "martial advantage")):
            every += amount
        elif name.startswith(("charge", "pounce", "trampling charge", "surprise attack")):
            once += amount
    if _trait(block, "aggressive"):
        every += 2
    return every, once


def _as_option(damage: float, action: Action | None) -> _Option:
    if action is None:
        return _Option(damage, 0.0, 0.0, False)
    bonus = float(action.attack_bonus) if action.attack_bonus is not None else 0.0
    dc = float(action.save.dc) if action.save is not None else 0.0
    return _Option(damage, bonus, dc, action.attack_bonus is None and action.save is not None)


def _offense(block: StatBlock, spells: Mapping[str, SpellDamage]) -> tuple[float, float, float, bool]:
    """(damage per round over three rounds, attack bonus, save DC, main damage is a save).

    Each round the creature uses its best at-will option (a Multiattack routine, a single attack, an
    at-will spell); its limited uses (recharge breath, spell slots, N/day) replace the at-will option in the
    rounds where they do more, best first. The option that contributes most damage sets the bonus or DC.
    """
    routines, limited_actions = _routines(block)
    spell_at_will, spell_limited = _spell_options(block, spells)
    at_will = [_as_option(d, a) for d, a in routines] + spell_at_will
    limited = sorted([_as_option(d, a) for d, a in limited_actions] + spell_limited, key=lambda o: -o.damage)
    base = max(at_will, key=lambda o: o.damage, default=_Option(0.0, 0.0, 0.0, False))
    contribution: dict[int, tuple[float, _Option]] = {}
    total = 0.0
    for i in range(3):
        pick = limited[i] if i < len(limited) and limited[i].damage > base.damage else base
        total += pick.damage
        prev = contribution.get(id(pick), (0.0, pick))[0]
        contribution[id(pick)] = (prev + pick.damage, pick)
    every, once = _trait_damage(block)
    dpr = total / 3 + every + once / 3
    main = max(contribution.values(), key=lambda c: c[0])[1]
    bonus, save_dc, uses_save = main.attack_bonus, main.save_dc, main.uses_save
    if not bonus and not save_dc:  # fall back to the best attack bonus on the sheet
        bonus = float(max((a.attack_bonus for a in block.actions if a.attack_bonus), default=0))
    if _trait(block, "pack tactics", "ambusher"):
        bonus += 1
    if _trait(block, "blood frenzy"):
        bonus += 4
    if _trait(block, "nimble escape"):
        bonus += 4
    return dpr, bonus, save_dc, uses_save


def _has_ranged_damage(block: StatBlock) -> bool:
    return any(a.damage and ("Ranged" in a.description[:40] or a.save) for a in block.actions)


def _defense(block: StatBlock) -> tuple[float, float, float]:
    """(defensive CR, effective HP, effective AC)."""
    hp = float(block.hit_points)
    expected = _row_for(hp, "hp_max")
    # Resistances and immunities matter when they cover weapon damage or several types.
    immune_many = (
        any(any(b in d for b in _BPS) for d in block.damage_immunities) or len(block.damage_immunities) >= 3
    )
    resist_many = (
        any(any(b in d for b in _BPS) for d in block.damage_resistances) or len(block.damage_resistances) >= 3
    )
    if immune_many:
        hp *= _tier_value(expected, (2.0, 2.0, 1.5, 1.25))
    elif resist_many:
        hp *= _tier_value(expected, (2.0, 1.5, 1.25, 1.0))
    if (lr := _trait(block, "legendary resistance")) and lr.usage:
        hp += lr.usage.times * _tier_value(expected, (10, 20, 30, 30))
    if regen := _trait(block, "regeneration"):
        m = _REGAIN.search(regen.description)
        hp += 3 * int(m.group(1)) if m else 0
    if _trait(block, "undead fortitude", "relentless"):
        hp += _tier_value(expected, (7, 14, 21, 28))
    if _trait(block, "damage transfer") or block.action("Possession"):
        hp *= 2
    if expected <= 10 and (block.action("Frightful Presence") or block.action("Horrifying Visage")):
        hp *= 1.25
    ac = float(block.armor_class)
    saves = len(block.saving_throws)
    ac += 4 if saves >= 5 else 2 if saves >= 3 else 0
    if _trait(block, "magic resistance"):
        ac += 2
    if _trait(block, "superior invisibility"):
        ac += 2
    if _trait(block, "nimble escape", "shadow stealth"):
        ac += 4
    if _trait(block, "avoidance", "stench"):
        ac += 1
    if any(r.name.lower() == "parry" for r in block.reactions):
        ac += 1
    if block.speeds.fly and _has_ranged_damage(block) and expected <= 10:
        ac += 2
    row = _row_for(hp, "hp_max")
    return cr_step(row, _steps(ac - MONSTER_STATISTICS[row]["ac"])), hp, ac


def average_cr(defensive: float, offensive: float) -> float:
    """The nearest challenge rating to the mean of the two (halfway rounds up)."""
    mean = (defensive + offensive) / 2
    best = min(CHALLENGE_RATINGS, key=lambda c: (abs(c - mean), -c))
    return best


def estimate_cr(block: StatBlock, spells: Mapping[str, SpellDamage] | None = None) -> CrEstimate:
    """Work out a stat block's CR from its numbers alone (its listed CR is never read).

    ``spells`` (``Srd.spell_damage``) lets spellcasters' slots count; without it only actions do.
    """
    defensive, hp, ac = _defense(block)
    dpr, bonus, save_dc, uses_save = _offense(block, spells or {})
    row = _row_for(dpr, "dpr_max")
    stats = MONSTER_STATISTICS[row]
    diff = save_dc - stats["save_dc"] if uses_save else bonus - stats["attack_bonus"]
    offensive = cr_step(row, _steps(diff)) if dpr > 0 else 0.0
    return CrEstimate(
        challenge_rating=average_cr(defensive, offensive),
        defensive_cr=defensive,
        offensive_cr=offensive,
        effective_hp=hp,
        effective_ac=ac,
        damage_per_round=dpr,
        attack_bonus=bonus,
        save_dc=save_dc,
        uses_save=uses_save,
    )


def agreement(
    blocks: Sequence[StatBlock], spells: Mapping[str, SpellDamage] | None = None
) -> tuple[float, float]:
    """(share with the listed CR exactly, share within one step on the CR ladder)."""
    exact = within = 0
    for block in blocks:
        got = cr_index(estimate_cr(block, spells).challenge_rating)
        want = cr_index(block.challenge_rating)
        exact += got == want
        within += abs(got - want) <= 1
    n = len(blocks) or 1
    return exact / n, within / n
