"""Scale a stat block to a target challenge rating by the DMG's method, then check it with the CR calculator.

DMG pp.273-283 ("Creating a Monster", and "Modifying a Monster"): a creature's CR follows from its hit points
and armor class (defensive CR) and its damage per round with its attack bonus or save DC (offensive CR). To
move a creature to another CR we recompute those numbers from the Monster Statistics by Challenge Rating row
of the target:

- armor class: the target row's AC plus the creature's own offset from its old row (a knight stays better
  armored than the average CR-N creature), at most +3/-2 so AC alone never shifts the defensive CR twice;
- hit points: a hit dice count whose average, after the calculator's effective-HP adjustments
  (resistances, Undead Fortitude, Legendary Resistance ...), lands in the row that gives the target defensive CR;
- attack bonus and save DCs: the target row's values, written into every attack, save, and spellcasting trait;
- damage: every damage roll scaled by one factor so the damage per round lands in the target row; above CR 2
  a creature with a single attack gains a Multiattack, so damage stays in several rolls of sensible size;
- spellcasters: caster level 1.5 x CR (the SRD's mage and archmage ratio), spell slots from the full-caster
  table, spells above the highest slot dropped;
- proficiency bonus, saving throws, skills, passive Perception and XP follow the new CR.

The CR calculator (``rules.cr_calculator.estimate_cr``) then rates the result; the search keeps the numbers that
make it rate at the target. When no choice of numbers does (a base whose spells alone out-damage the target,
a flat minimum of one die), the result is the nearest and :attr:`ScaledBlock.note` says why.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from mesh.errors import InvalidArgument
from rules.challenge import CHALLENGE_RATINGS, XP_BY_CR, cr_index, format_cr, proficiency_bonus_for_cr
from rules.cr_calculator import MONSTER_STATISTICS, CrEstimate, estimate_cr
from rules.srd import SpellDamage
from rules.statblock import (
    Ability,
    Action,
    Damage,
    MultiattackPart,
    SaveDC,
    Spellcasting,
    SpellEntry,
    StatBlock,
)

#: Hit die by size (Monster Manual p.7).
HIT_DIE_BY_SIZE: dict[str, int] = {
    "Tiny": 4,
    "Small": 6,
    "Medium": 8,
    "Large": 10,
    "Huge": 12,
    "Gargantuan": 20,
}

#: Spell slots of a full caster by level (PHB p.113), levels 1..20, slot levels 1..9.
FULL_CASTER_SLOTS: dict[int, tuple[int, ...]] = {
    1: (2,), 2: (3,), 3: (4, 2), 4: (4, 3), 5: (4, 3, 2), 6: (4, 3, 3), 7: (4, 3, 3, 1), 8: (4, 3, 3, 2),
    9: (4, 3, 3, 3, 1), 10: (4, 3, 3, 3, 2), 11: (4, 3, 3, 3, 2, 1), 12: (4, 3, 3, 3, 2, 1),
    13: (4, 3, 3, 3, 2, 1, 1), 14: (4, 3, 3, 3, 2, 1, 1), 15: (4, 3, 3, 3, 2, 1, 1, 1),
    16: (4, 3, 3, 3, 2, 1, 1, 1), 17: (4, 3, 3, 3, 2, 1, 1, 1, 1), 18: (4, 3, 3, 3, 3, 1, 1, 1, 1),
    19: (4, 3, 3, 3, 3, 2, 1, 1, 1), 20: (4, 3, 3, 3, 3, 2, 2, 1, 1),
}  # fmt: skip


def attacks_for_cr(cr: float) -> int:
    """Attacks in a Multiattack at a CR, for a creature scaled up (it never gets fewer than it had)."""
    return 1 if cr < 3 else 2 if cr < 11 else 3 if cr < 17 else 4


#: At or below this CR a creature scaled down keeps one attack a round (its Multiattack is dropped).
SINGLE_ATTACK_MAX_CR = 0.5
#: How far the AC may sit from the target row's AC (DMG: each 2 points of AC is one step of defensive CR).
AC_OFFSET_RANGE = (-2, 3)
MIN_AC, MAX_AC = 10, 25
MAX_HIT_DICE = 150

_ABILITY_NAMES = {
    Ability.STR: "Strength",
    Ability.DEX: "Dexterity",
    Ability.CON: "Constitution",
    Ability.INT: "Intelligence",
    Ability.WIS: "Wisdom",
    Ability.CHA: "Charisma",
}
_DICE = re.compile(r"^(\d+)d(\d+)(?:([+-])(\d+))?$")
_PRINTED_DAMAGE = re.compile(r"(\d+) \((\d+d\d+)(?: ([+-]) (\d+))?\)")
_TO_HIT = re.compile(r"([+-]\d+) to hit")
_DC = re.compile(r"\bDC \d+")
_SPELL_NUMBERS = re.compile(r"spell save DC \d+(, [+-]\d+ to hit with spell attacks)?")


@dataclass(frozen=True, slots=True)
class ScaledBlock:
    """A stat block rebuilt for ``target``, with the calculator's rating and, when they differ, why."""

    block: StatBlock
    target: float
    estimate: CrEstimate
    note: str = ""

    @property
    def rated(self) -> float:
        return self.estimate.challenge_rating

    @property
    def steps_off(self) -> int:
        """How many places on the CR ladder the rating is from the target (0 = on target)."""
        return abs(cr_index(self.rated) - cr_index(self.target))


def check_target_cr(cr: float, field: str = "challenge_rating") -> float:
    """A valid rating 0..30 (0, 1/8, 1/4, 1/2, 1, 2 ... 30); anything else lists the valid values."""
    value = float(cr)
    if value not in XP_BY_CR:
        valid = ", ".join(format_cr(c) for c in CHALLENGE_RATINGS)
        raise InvalidArgument([(field, f"challenge rating {cr:g} is not a rating 0-30; valid: {valid}")])
    return value


def cr_for_level(level: int) -> float:
    """A class-levelled NPC's CR: about two thirds of its level, as the SRD's spellcasters are (acolyte 1st
    level CR 1/4, mage 9th level CR 6, archmage 18th level CR 12); levels 1 and 2 map to 1/4 and 1/2."""
    if not 1 <= level <= 20:
        raise InvalidArgument([("level", f"level must be 1-20, got {level}")])
    if level <= 2:
        return 0.25 * level
    return float(level * 2 // 3)


def caster_level_for_cr(cr: float) -> int:
    """1.5 x CR, at least 1 and at most 20 (mage: CR 6, 9th level; archmage: CR 12, 18th level)."""
    return min(max(round(1.5 * cr), 1), 20)


# --- dice --------------------------------------------------------------------------------------------------------


def _parse(dice: str) -> tuple[int, int, int] | None:
    m = _DICE.match(dice.replace(" ", ""))
    if not m:
        return None
    flat = int(m.group(4) or 0) * (-1 if m.group(3) == "-" else 1)
    return int(m.group(1)), int(m.group(2)), flat


def _format(count: int, sides: int, flat: int) -> str:
    return f"{count}d{sides}" + (f"{flat:+d}" if flat else "")


def _printed(dice: str) -> str:
    """ "2d6+3" -> "2d6 + 3", as stat blocks print it."""
    return re.sub(r"([+-])(\d+)$", r" \1 \2", dice)


_SMALLER_DIE = {20: 12, 12: 10, 10: 8, 8: 6, 6: 4}


def scale_damage(damage: Damage, factor: float) -> Damage:
    """The same die and flat bonus, with the dice count that brings the average closest to ``factor`` times.

    Below one die the flat bonus shrinks first (never under 0), then the die (d8 -> d6 -> d4), so a creature
    scaled down to CR 0-1/2 can deal the 1-8 damage a round those rows allow.
    """
    parsed = _parse(damage.dice)
    if parsed is None or factor == 1.0:
        return damage
    _count, sides, flat = parsed
    want = damage.average * factor
    new_count = max(1, round((want - flat) / ((sides + 1) / 2)))
    if new_count == 1:
        while flat > 0 and (sides + 1) / 2 + flat > want + 0.5:
            flat -= 1
        while sides in _SMALLER_DIE and (sides + 1) / 2 + flat > want + 0.5:
            sides = _SMALLER_DIE[sides]
        if want <= 1.25:  # CR 0 territory: "1 piercing damage", as the SRD's rat and cat deal
            return Damage(dice="1", damage_type=damage.damage_type, average=1.0)
    dice = _format(new_count, sides, flat)
    return Damage(dice=dice, damage_type=damage.damage_type, average=new_count * (sides + 1) / 2 + flat)


def hit_points_for(dice_count: int, size: str, con_mod: int) -> tuple[int, str]:
    """(average HP, hit dice) for ``dice_count`` dice of the size's hit die; at least 1 HP."""
    die = HIT_DIE_BY_SIZE.get(size, 8)
    hp = max(1, int(dice_count * (die + 1) / 2 + dice_count * con_mod))
    return hp, f"{dice_count}d{die}"


# --- armor -------------------------------------------------------------------------------------------------------

# (name, base, dex cap or None for full Dex, category)
_ARMORS: tuple[tuple[str, int, int | None, str], ...] = (
    ("leather armor", 11, None, "light"),
    ("studded leather armor", 12, None, "light"),
    ("hide armor", 12, 2, "medium"),
    ("chain shirt", 13, 2, "medium"),
    ("scale mail", 14, 2, "medium"),
    ("breastplate", 14, 2, "medium"),
    ("half plate", 15, 2, "medium"),
    ("ring mail", 14, 0, "heavy"),
    ("chain mail", 16, 0, "heavy"),
    ("splint armor", 17, 0, "heavy"),
    ("plate armor", 18, 0, "heavy"),
)


def _category(description: str) -> str:
    text = description.lower()
    for name, _, _, category in _ARMORS:
        if name in text:
            return category
    if "mage armor" in text:
        return "mage"
    if "natural" in text:
        return "natural"
    return "none"


def armor_for(ac: int, dex_mod: int, base_description: str, worn: bool) -> str:
    """Words for where an AC comes from, in the base's style: worn armor (same weight class, a shield if it
    had one, a +1..+3 enchantment when mundane armor falls short), mage armor, or natural armor."""
    category = _category(base_description)
    shield = "shield" in base_description.lower()
    if not worn or category == "natural":
        return "natural armor" if ac > 10 + dex_mod else ""
    if category == "mage":
        return (
            ""
            if ac <= 10 + dex_mod
            else "mage armor"
            if ac <= 13 + dex_mod
            else "mage armor, ring of protection"
        )
    if category == "none":
        category = "light" if dex_mod >= 3 else "medium"
    options: list[tuple[int, str]] = []
    for name, base, cap, cat in _ARMORS:
        if cat != category:
            continue
        dex = dex_mod if cap is None else min(dex_mod, cap)
        for use_shield in (shield, not shield):
            for magic in range(0, 4):
                total = base + dex + (2 if use_shield else 0) + magic
                words = (f"+{magic} " if magic else "") + name + (", shield" if use_shield else "")
                # Prefer: exact, then keeping the shield choice, then no magic.
                penalty = abs(total - ac) * 100 + (use_shield != shield) * 10 + magic
                options.append((penalty, words))
    penalty, words = min(options)
    return words if penalty < 100 else f"{words} (and magical protection)"


# --- the rebuild -------------------------------------------------------------------------------------------------


def _rewrite_damage_text(text: str, mapping: Mapping[str, Damage]) -> str:
    def repl(m: re.Match[str]) -> str:
        flat = (int(m.group(4)) * (-1 if m.group(3) == "-" else 1)) if m.group(4) else 0
        key = m.group(2) + (f"{flat:+d}" if flat else "")
        new = mapping.get(key)
        if new is None:
            return m.group(0)
        if new.dice.isdigit():
            return new.dice
        return f"{int(new.average)} ({_printed(new.dice)})"

    return _PRINTED_DAMAGE.sub(repl, text)


def _scale_action(action: Action, factor: float, attack_bonus: int, save_dc: int) -> Action:
    mapping: dict[str, Damage] = {}

    def scaled(d: Damage) -> Damage:
        new = scale_damage(d, factor)
        mapping[d.dice] = new
        return new

    damage = tuple(scaled(d) for d in action.damage)
    options = tuple(tuple(scaled(d) for d in opt) for opt in action.damage_options)
    text = _rewrite_damage_text(action.description, mapping)
    new_bonus = action.attack_bonus
    if action.attack_bonus is not None:
        new_bonus = attack_bonus
        text = _TO_HIT.sub(f"{attack_bonus:+d} to hit", text, count=1)
    save = action.save
    if save is not None:
        save = SaveDC(dc=save_dc, ability=save.ability, half_on_success=save.half_on_success)
        text = _DC.sub(f"DC {save_dc}", text)
    return dataclasses.replace(
        action, attack_bonus=new_bonus, damage=damage, damage_options=options, save=save, description=text
    )


def _scale_trait(trait: Action, factor: float, save_dc: int) -> Action:
    """Traits carry numbers in prose only: extra damage ("Sneak Attack ... 7 (2d6)") and DCs."""
    text = trait.description
    if trait.name.lower().startswith(("spellcasting", "innate spellcasting")):
        return trait
    mapping: dict[str, Damage] = {}
    for m in _PRINTED_DAMAGE.finditer(text):
        flat = (int(m.group(4)) * (-1 if m.group(3) == "-" else 1)) if m.group(4) else 0
        key = m.group(2) + (f"{flat:+d}" if flat else "")
        parsed = _parse(key)
        if parsed:
            count, sides, _ = parsed
            mapping[key] = scale_damage(Damage(key, "", count * (sides + 1) / 2 + flat), factor)
    text = _rewrite_damage_text(text, mapping)
    text = _DC.sub(f"DC {save_dc}", text)
    return dataclasses.replace(trait, description=text)


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def slots_for(level: int, max_spell_level: int = 9) -> dict[int, int]:
    """Full-caster slots for ``level``; slots above ``max_spell_level`` become slots of that level (a world
    where mortals cast nothing above 7th gives an 18th-level caster three 7th-level slots)."""
    slots: dict[int, int] = {}
    for i, n in enumerate(FULL_CASTER_SLOTS[level]):
        lvl = min(i + 1, max_spell_level)
        slots[lvl] = slots.get(lvl, 0) + n
    return slots


def _rescale_spellcasting(
    sc: Spellcasting, level: int, dc: int, bonus: int, max_spell_level: int = 9
) -> Spellcasting:
    """Slots for ``level`` (0: cantrips only, as a 1st-level caster without slots) and the new DC and bonus."""
    if sc.caster_level == 0:  # innate: uses per day, no slots
        spells = tuple(s for s in sc.spells if s.level <= max_spell_level)
        return dataclasses.replace(sc, save_dc=dc, attack_bonus=bonus, spells=spells)
    if level == 0:
        cantrips = tuple(s for s in sc.spells if s.level == 0 or s.at_will)
        return Spellcasting(
            ability=sc.ability, save_dc=dc, attack_bonus=bonus, caster_level=1, slots={}, spells=cantrips
        )
    slots = slots_for(level, max_spell_level)
    top = max(slots)
    spells = tuple(s for s in sc.spells if s.at_will or s.per_day or s.level == 0 or s.level <= top)
    return Spellcasting(
        ability=sc.ability, save_dc=dc, attack_bonus=bonus, caster_level=level, slots=slots, spells=spells
    )


def spellcasting_text(name: str, sc: Spellcasting) -> str:
    """The Spellcasting trait's prose, written from its numbers (so no stale DC or slot count survives)."""
    who = name.lower()
    if not sc.slots:
        cantrips = ", ".join(s.name.lower() for s in sc.spells)
        return (
            f"The {who} is a novice spellcaster who knows only cantrips. Its spellcasting ability is "
            f"{_ABILITY_NAMES[sc.ability]} (spell save DC {sc.save_dc}, {sc.attack_bonus:+d} to hit with spell "
            f"attacks). It knows the following cantrips: {cantrips}."
        )
    lines = [
        f"The {who} is a {_ordinal(sc.caster_level)}-level spellcaster. Its spellcasting ability is "
        f"{_ABILITY_NAMES[sc.ability]} (spell save DC {sc.save_dc}, {sc.attack_bonus:+d} to hit with spell "
        f"attacks). The {who} has the following spells prepared:",
        "",
    ]
    by_level: dict[int, list[SpellEntry]] = {}
    for entry in sc.spells:
        by_level.setdefault(entry.level, []).append(entry)
    if by_level.get(0):
        lines.append("- Cantrips (at will): " + ", ".join(s.name.lower() for s in by_level[0]))
    for lvl, count in sorted(sc.slots.items()):
        names = ", ".join(s.name.lower() for s in by_level.get(lvl, []))
        plural = "slot" if count == 1 else "slots"
        lines.append(f"- {_ordinal(lvl)} level ({count} {plural}){': ' + names if names else ''}")
    return "\n".join(lines)


def _add_multiattack(block: StatBlock, attacks: int) -> tuple[Action, ...]:
    """Give a single-attack creature a Multiattack (or raise its count), using its best at-will attack."""
    actions = list(block.actions)
    existing = next((a for a in actions if a.multiattack), None)
    weapons = [
        a
        for a in actions
        if a.attack_bonus is not None and (a.damage or a.damage_options) and a.usage is None
    ]
    if not weapons:
        return block.actions
    if existing is not None:
        current = max(sum(p.count for p in routine) for routine in existing.multiattack)
        if current >= attacks:
            return block.actions
        routines = tuple(
            tuple(
                MultiattackPart(p.action, p.count + (attacks - current if i == 0 else 0))
                for i, p in enumerate(r)
            )
            for r in existing.multiattack
        )
        first = routines[0][0]
        desc = f"The {block.name.lower()} makes {attacks} attacks" + (
            f", {first.count} of them with its {first.action.lower()}." if len(routines[0]) > 1 else "."
        )
        new = dataclasses.replace(existing, multiattack=routines, description=desc)
        return tuple(new if a is existing else a for a in actions)
    best = max(
        weapons,
        key=lambda a: (
            sum(d.average for d in a.damage)
            + max((sum(d.average for d in o) for o in a.damage_options), default=0.0)
        ),
    )
    word = {2: "two", 3: "three", 4: "four"}.get(attacks, str(attacks))
    multi = Action(
        name="Multiattack",
        description=f"The {block.name.lower()} makes {word} {best.name.lower()} attacks.",
        multiattack=((MultiattackPart(best.name, attacks),),),
    )
    return (multi, *actions)


def _single_attack(block: StatBlock) -> tuple[Action, ...]:
    """Drop Multiattack: a creature scaled down to CR 1/2 or less attacks once a round."""
    return tuple(a for a in block.actions if not a.multiattack)


@dataclass(frozen=True, slots=True)
class _Plan:
    """The knobs of one rebuild: what the search varies."""

    ac: int
    dice_count: int
    factor: float
    caster_level: int


class Scaler:
    """Rebuilds one base stat block at a target CR; ``spells`` is ``Srd.spell_damage`` for the calculator."""

    def __init__(
        self,
        base: StatBlock,
        target: float,
        spells: Mapping[str, SpellDamage],
        *,
        worn_armor: bool = True,
        max_spell_level: int = 9,
    ) -> None:
        self.base = base
        self.max_spell_level = max_spell_level
        self.target = check_target_cr(target)
        self.spells = spells
        self.worn = worn_armor
        row = MONSTER_STATISTICS[self.target]
        self.attack_bonus = row["attack_bonus"]
        self.save_dc = row["save_dc"]
        self.pb = proficiency_bonus_for_cr(self.target)
        self.con = base.abilities.modifier(Ability.CON)
        self.dex = base.abilities.modifier(Ability.DEX)
        if self.target > base.challenge_rating:
            self.actions = _add_multiattack(base, attacks_for_cr(self.target))
        elif self.target <= SINGLE_ATTACK_MAX_CR:
            self.actions = _single_attack(base)
        else:
            self.actions = base.actions
        self.calls = 0

    # -- building ------------------------------------------------------------------------------------------------

    def _saves_and_skills(self) -> tuple[dict[Ability, int], dict[str, int]]:
        old_pb = self.base.proficiency_bonus
        saves = {
            ab: self.base.abilities.modifier(ab)
            + self.pb * (2 if v - self.base.abilities.modifier(ab) >= 2 * old_pb else 1)
            for ab, v in self.base.saving_throws.items()
        }
        skill_ability = _SKILL_ABILITY
        skills = {}
        for skill, v in self.base.skills.items():
            mod = self.base.abilities.modifier(skill_ability.get(skill, Ability.WIS))
            expert = v - mod >= 2 * old_pb and old_pb > 0
            skills[skill] = mod + self.pb * (2 if expert else 1)
        return saves, skills

    def build(self, plan: _Plan) -> StatBlock:
        base = self.base
        hp, hit_dice = hit_points_for(plan.dice_count, base.size, self.con)
        spellcasting = tuple(
            _rescale_spellcasting(
                sc, plan.caster_level, self.save_dc, self.attack_bonus, self.max_spell_level
            )
            for sc in base.spellcasting
        )
        traits = []
        for trait in base.traits:
            if trait.name.lower() == "spellcasting" and spellcasting and spellcasting[0].caster_level:
                slotted = next(sc for sc in spellcasting if sc.caster_level)
                trait = dataclasses.replace(trait, description=spellcasting_text(base.name, slotted))
            elif trait.name.lower().startswith("innate spellcasting"):
                trait = dataclasses.replace(
                    trait,
                    description=_SPELL_NUMBERS.sub(
                        lambda m: (
                            f"spell save DC {self.save_dc}"
                            + (f", {self.attack_bonus:+d} to hit with spell attacks" if m.group(1) else "")
                        ),
                        trait.description,
                    ),
                )
            else:
                trait = _scale_trait(trait, plan.factor, self.save_dc)
            traits.append(trait)
        saves, skills = self._saves_and_skills()
        perception = skills.get("perception")
        passive = 10 + (perception if perception is not None else base.abilities.modifier(Ability.WIS))
        return dataclasses.replace(
            base,
            armor_class=plan.ac,
            armor_description=armor_for(plan.ac, self.dex, base.armor_description, self.worn),
            hit_points=hp,
            hit_dice=hit_dice,
            saving_throws=saves,
            skills=skills,
            senses=dataclasses.replace(base.senses, passive_perception=passive),
            challenge_rating=self.target,
            xp=XP_BY_CR[self.target],
            proficiency_bonus=self.pb,
            traits=tuple(traits),
            actions=tuple(
                _scale_action(a, plan.factor, self.attack_bonus, self.save_dc) for a in self.actions
            ),
            reactions=tuple(
                _scale_action(a, plan.factor, self.attack_bonus, self.save_dc) for a in base.reactions
            ),
            legendary_actions=tuple(
                _scale_action(a, plan.factor, self.attack_bonus, self.save_dc) for a in base.legendary_actions
            ),
            spellcasting=spellcasting,
            source=f"scaled:{base.source or base.index}",
        )

    def rate(self, plan: _Plan) -> tuple[StatBlock, CrEstimate]:
        block = self.build(plan)
        self.calls += 1
        return block, estimate_cr(block, self.spells)

    # -- searching -----------------------------------------------------------------------------------------------

    def _initial_ac(self) -> int:
        try:
            old_row_ac = MONSTER_STATISTICS[check_target_cr(self.base.challenge_rating)]["ac"]
        except InvalidArgument:
            old_row_ac = self.base.armor_class
        offset = min(max(self.base.armor_class - old_row_ac, AC_OFFSET_RANGE[0]), AC_OFFSET_RANGE[1])
        return min(max(MONSTER_STATISTICS[self.target]["ac"] + offset, MIN_AC), MAX_AC)

    def _search(
        self, lo: float, hi: float, guess: float, measure: Callable[[float], float], integer: bool
    ) -> float:
        """Find x in [lo, hi] whose measured CR index equals the target's, starting from ``guess``; measure is
        monotone non-decreasing in x. Returns the best x found (bisection, at most a dozen probes)."""
        want = cr_index(self.target)
        best, best_err = guess, math.inf
        x = guess
        for _ in range(12):
            x = min(max(round(x) if integer else x, lo), hi)
            got = measure(x)
            err = abs(got - want)
            if err < best_err:
                best, best_err = x, err
            if got == want:
                return x
            if got < want:
                lo = x + (1 if integer else 0)
            else:
                hi = x - (1 if integer else 0)
            if lo > hi or (not integer and hi / max(lo, 1e-9) < 1.02):
                break
            x = (lo + hi) / 2 if integer else math.sqrt(lo * hi)
        return best

    def scale(self) -> ScaledBlock:
        target = self.target
        caster = caster_level_for_cr(target)
        plan = _Plan(ac=self._initial_ac(), dice_count=1, factor=1.0, caster_level=caster)

        # Defensive CR: hit dice. First guess from the calculator's effective-HP ratio at the base's HP.
        die_avg = (HIT_DIE_BY_SIZE.get(self.base.size, 8) + 1) / 2 + self.con
        probe_dice = max(1, round(self.base.hit_points / max(die_avg, 0.5)))
        block, est = self.rate(dataclasses.replace(plan, dice_count=probe_dice))
        ratio = est.effective_hp / max(block.hit_points, 1)
        row = MONSTER_STATISTICS[target]
        steps = int((est.effective_ac - row["ac"]) / 2)
        want_row = CHALLENGE_RATINGS[min(max(cr_index(target) - steps, 0), len(CHALLENGE_RATINGS) - 1)]
        hi_hp = MONSTER_STATISTICS[want_row]["hp_max"]
        lo_hp = (
            MONSTER_STATISTICS[CHALLENGE_RATINGS[cr_index(want_row) - 1]]["hp_max"] + 1
            if cr_index(want_row)
            else 1
        )
        guess = max(1, round(((lo_hp + hi_hp) / 2 / max(ratio, 0.1)) / max(die_avg, 0.5)))

        def defensive(n: float) -> float:
            return cr_index(self.rate(dataclasses.replace(plan, dice_count=int(n)))[1].defensive_cr)

        dice = int(self._search(1, MAX_HIT_DICE, guess, defensive, integer=True))
        plan = dataclasses.replace(plan, dice_count=dice)

        # Offensive CR: the damage factor (and, for casters whose spells alone overshoot, the caster level).
        def offensive(f: float) -> float:
            return cr_index(self.rate(dataclasses.replace(plan, factor=f))[1].offensive_cr)

        block, est = self.rate(plan)
        base_dpr = max(est.damage_per_round, 0.1)
        hi_dpr = row["dpr_max"]
        lo_dpr = (
            MONSTER_STATISTICS[CHALLENGE_RATINGS[cr_index(target) - 1]]["dpr_max"] + 1
            if cr_index(target)
            else 0
        )
        factor_guess = min(max(((lo_dpr + hi_dpr) / 2) / base_dpr, 0.02), 60.0)
        factor = self._search(0.02, 60.0, factor_guess, offensive, integer=False)
        plan = dataclasses.replace(plan, factor=factor)
        block, est = self.rate(plan)
        if self.base.spellcasting and cr_index(est.offensive_cr) > cr_index(target) and plan.caster_level > 0:
            # Spells alone overshoot: find the highest caster level whose spells fit under the target at the
            # smallest weapon damage (bisection), then re-solve the damage factor.
            lo_lvl, hi_lvl = 0, plan.caster_level - 1
            while lo_lvl < hi_lvl:
                mid = (lo_lvl + hi_lvl + 1) // 2
                trial = dataclasses.replace(plan, caster_level=mid, factor=0.02)
                if cr_index(self.rate(trial)[1].offensive_cr) <= cr_index(target):
                    lo_lvl = mid
                else:
                    hi_lvl = mid - 1
            plan = dataclasses.replace(plan, caster_level=lo_lvl)
            factor = self._search(0.02, 60.0, factor, offensive, integer=False)
            plan = dataclasses.replace(plan, factor=factor)
            block, est = self.rate(plan)

        # If the two halves straddle the target (e.g. defense one below, offense one above), the average may still
        # land on it; otherwise nudge AC by one step toward the target and re-solve HP once.
        if est.challenge_rating != target:
            direction = 1 if cr_index(est.challenge_rating) < cr_index(target) else -1
            for ac in (plan.ac + 2 * direction, plan.ac + direction):
                trial = dataclasses.replace(plan, ac=min(max(ac, MIN_AC), MAX_AC))
                t_block, t_est = self.rate(trial)
                if t_est.challenge_rating == target:
                    plan, block, est = trial, t_block, t_est
                    break
        return ScaledBlock(block=block, target=target, estimate=est, note=_note(est, target, self.base))


def _note(est: CrEstimate, target: float, base: StatBlock) -> str:
    if est.challenge_rating == target:
        return ""
    why = []
    if est.defensive_cr != target:
        why.append(
            f"defensive CR {format_cr(est.defensive_cr)} (effective HP {est.effective_hp:.0f}, effective AC "
            f"{est.effective_ac:.0f})"
        )
    if est.offensive_cr != target:
        floor = " at its smallest dice" if est.offensive_cr > target else ""
        why.append(
            f"offensive CR {format_cr(est.offensive_cr)} (damage per round {est.damage_per_round:.1f}{floor})"
        )
    return (
        f"rates CR {format_cr(est.challenge_rating)}, not {format_cr(target)}: "
        + "; ".join(why)
        + f"; the {base.name.lower()}'s traits and spells set a floor or ceiling the scaling cannot cross"
    )


_SKILL_ABILITY: dict[str, Ability] = {
    "athletics": Ability.STR,
    "acrobatics": Ability.DEX,
    "sleight-of-hand": Ability.DEX,
    "stealth": Ability.DEX,
    "arcana": Ability.INT,
    "history": Ability.INT,
    "investigation": Ability.INT,
    "nature": Ability.INT,
    "religion": Ability.INT,
    "animal-handling": Ability.WIS,
    "insight": Ability.WIS,
    "medicine": Ability.WIS,
    "perception": Ability.WIS,
    "survival": Ability.WIS,
    "deception": Ability.CHA,
    "intimidation": Ability.CHA,
    "performance": Ability.CHA,
    "persuasion": Ability.CHA,
}


def scale_to_cr(
    base: StatBlock,
    target: float,
    spells: Mapping[str, SpellDamage],
    *,
    worn_armor: bool = True,
    max_spell_level: int = 9,
) -> ScaledBlock:
    """Rebuild ``base`` at ``target`` CR and rate it with the CR calculator (see the module docstring)."""
    return Scaler(base, target, spells, worn_armor=worn_armor, max_spell_level=max_spell_level).scale()
