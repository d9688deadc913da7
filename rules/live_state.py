"""A character's live numbers between rests (hit points, hit dice, slots, resources, conditions, XP, death
saves) and the pure rules that change them: damage, healing, temporary hit points, rests, death saves.

The sheet says what a character *can* have (:class:`rules.sheets.CharacterSheet`); :class:`LiveState` says what
is left right now. Every function takes the sheet and a state and returns a new state (states are frozen), so a
caller can store each version as history. Resources are counted as *used*, by the sheet's ``class_numbers``
name ("rage_count", "ki_points", "second_wind_uses", "action_surges", "channel_divinity_charges", ...), so a
level-up that raises a maximum needs no migration.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from mesh.errors import FailedPrecondition, InvalidArgument, Violations
from rules.classes import load_character_data
from rules.progression import XP_THRESHOLDS, award_xp
from rules.sheets import UNLIMITED, CharacterSheet

#: Resources that come back on a short rest (the rest come back on a long rest).
SHORT_REST_RESOURCES: frozenset[str] = frozenset(
    {"second_wind_uses", "action_surges", "ki_points", "channel_divinity_charges", "wild_shape_uses"}
)
#: Resources a state may track: those a sheet's class numbers give a count for.
RESOURCES: tuple[str, ...] = (
    "rage_count",
    "ki_points",
    "second_wind_uses",
    "action_surges",
    "indomitable_uses",
    "channel_divinity_charges",
    "bardic_inspiration_uses",
    "lay_on_hands_pool",
    "sorcery_points",
    "wild_shape_uses",
    "arcane_recovery_levels",
)
MAX_AMOUNT = 100_000


@dataclass(frozen=True, slots=True)
class LiveState:
    """What is left now. ``slots_used[i]`` counts spent slots of spell level ``i + 1``; ``exhaustion`` is
    0..6 (6 is death); death saves count only while at 0 hit points; ``stable`` after three successes."""

    hp: int
    hit_dice: int
    temp_hp: int = 0
    slots_used: tuple[int, ...] = (0,) * 9
    resources_used: Mapping[str, int] = field(default_factory=dict)
    conditions: tuple[str, ...] = ()
    exhaustion: int = 0
    xp: int = 0
    death_successes: int = 0
    death_failures: int = 0
    stable: bool = False
    dead: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "hp": self.hp,
            "hit_dice": self.hit_dice,
            "temp_hp": self.temp_hp,
            "slots_used": list(self.slots_used),
            "resources_used": dict(self.resources_used),
            "conditions": list(self.conditions),
            "exhaustion": self.exhaustion,
            "xp": self.xp,
            "death_successes": self.death_successes,
            "death_failures": self.death_failures,
            "stable": self.stable,
            "dead": self.dead,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], sheet: CharacterSheet | None = None) -> LiveState:
        """Parse and validate (against ``sheet``'s maxima when given); InvalidArgument names each bad field."""
        if not isinstance(data, Mapping):
            raise InvalidArgument([("state", "must be an object")])
        v = Violations()
        for key in data:
            v.check(key in cls.__dataclass_fields__, key, "unknown field")

        def integer(key: str, default: int | None = None) -> int:
            value = data.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int):
                v.add(key, "must be an integer")
                return 0
            return value

        def flag(key: str) -> bool:
            value = data.get(key, False)
            if not isinstance(value, bool):
                v.add(key, "must be true or false")
                return False
            return value

        slots = data.get("slots_used", [0] * 9)
        if not isinstance(slots, list) or len(slots) != 9 or not all(type(s) is int for s in slots):
            v.add("slots_used", "must be 9 integers (spell levels 1..9)")
            slots = [0] * 9
        resources = data.get("resources_used", {})
        if not isinstance(resources, Mapping) or not all(
            isinstance(k, str) and type(n) is int for k, n in resources.items()
        ):
            v.add("resources_used", "must map resource names to integers")
            resources = {}
        conditions = data.get("conditions", [])
        if not isinstance(conditions, list) or not all(isinstance(c, str) for c in conditions):
            v.add("conditions", "must be a list of condition names")
            conditions = []
        state = cls(
            hp=integer("hp"),
            hit_dice=integer("hit_dice"),
            temp_hp=integer("temp_hp", 0),
            slots_used=tuple(slots),
            resources_used=dict(resources),
            conditions=tuple(conditions),
            exhaustion=integer("exhaustion", 0),
            xp=integer("xp", 0),
            death_successes=integer("death_successes", 0),
            death_failures=integer("death_failures", 0),
            stable=flag("stable"),
            dead=flag("dead"),
        )
        v.raise_if_any()
        validate_state(state, sheet)
        return state


def validate_state(state: LiveState, sheet: CharacterSheet | None = None) -> None:
    """Ranges every state must respect, and the sheet's maxima when a sheet is given."""
    v = Violations()
    v.check(state.hp >= 0, "hp", "must not be negative")
    v.check(state.temp_hp >= 0, "temp_hp", "must not be negative")
    v.check(state.hit_dice >= 0, "hit_dice", "must not be negative")
    v.check(all(s >= 0 for s in state.slots_used), "slots_used", "must not be negative")
    v.check(0 <= state.exhaustion <= 6, "exhaustion", "must be 0..6")
    v.check(state.xp >= 0, "xp", "must not be negative")
    v.check(0 <= state.death_successes <= 3, "death_successes", "must be 0..3")
    v.check(0 <= state.death_failures <= 3, "death_failures", "must be 0..3")
    known = load_character_data().conditions
    for i, c in enumerate(state.conditions):
        v.check(c in known, f"conditions[{i}]", f"unknown condition {c!r}; valid: {', '.join(known)}")
    v.check(len(set(state.conditions)) == len(state.conditions), "conditions", "must not repeat a condition")
    for name, used in state.resources_used.items():
        if v.check(
            name in RESOURCES, f"resources_used.{name}", f"unknown resource; valid: {', '.join(RESOURCES)}"
        ):
            v.check(used >= 0, f"resources_used.{name}", "must not be negative")
    if sheet is not None:
        v.check(state.hp <= sheet.hp_max, "hp", f"at most the sheet's {sheet.hp_max}")
        v.check(state.hit_dice <= sheet.level, "hit_dice", f"at most the sheet's {sheet.level}")
        slots = sheet.spellcasting.slots if sheet.spellcasting else (0,) * 9
        for i, (used, have) in enumerate(zip(state.slots_used, slots, strict=True)):
            v.check(used <= have, f"slots_used[{i}]", f"at most {have} level {i + 1} slots")
        for name, used in state.resources_used.items():
            if name in RESOURCES:
                v.check(
                    used <= resource_max(sheet, name), f"resources_used.{name}", "more than the sheet allows"
                )
    v.raise_if_any()


def resource_max(sheet: CharacterSheet, name: str) -> int:
    """The sheet's maximum for a resource (0 when the class has none; :data:`UNLIMITED` rages at 20)."""
    value = sheet.class_numbers.get(name, 0)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def new_state(sheet: CharacterSheet, xp: int | None = None) -> LiveState:
    """A rested character: full hit points and hit dice, no slots or resources used, the level's XP floor."""
    return LiveState(
        hp=sheet.hp_max, hit_dice=sheet.level, xp=XP_THRESHOLDS[sheet.level - 1] if xp is None else xp
    )


def _amount(value: int, field_name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_AMOUNT:
        raise InvalidArgument([(field_name, f"must be an integer 0..{MAX_AMOUNT}")])
    return value


def _without(conditions: tuple[str, ...], name: str) -> tuple[str, ...]:
    return tuple(c for c in conditions if c != name)


def _with(conditions: tuple[str, ...], name: str) -> tuple[str, ...]:
    return conditions if name in conditions else (*conditions, name)


def apply_damage(
    sheet: CharacterSheet, state: LiveState, amount: int, *, critical: bool = False
) -> LiveState:
    """Temporary hit points absorb damage first. Dropping to 0 makes the character unconscious; damage at 0
    is a failed death save (two on a critical hit); damage that leaves at least the hit point maximum over
    after reaching 0 kills outright (massive damage)."""
    amount = _amount(amount, "amount")
    if state.dead or amount == 0:
        return state
    absorbed = min(state.temp_hp, amount)
    rest = amount - absorbed
    temp = state.temp_hp - absorbed
    if rest == 0:
        return replace(state, temp_hp=temp)
    if state.hp == 0:
        if rest >= sheet.hp_max:
            return replace(state, temp_hp=temp, dead=True, death_failures=3, stable=False)
        failures = min(3, state.death_failures + (2 if critical else 1))
        return replace(state, temp_hp=temp, death_failures=failures, stable=False, dead=failures >= 3)
    hp = state.hp - rest
    if hp > 0:
        return replace(state, temp_hp=temp, hp=hp)
    if -hp >= sheet.hp_max:
        return replace(
            state, temp_hp=temp, hp=0, dead=True, conditions=_with(state.conditions, "unconscious")
        )
    return replace(
        state,
        temp_hp=temp,
        hp=0,
        conditions=_with(state.conditions, "unconscious"),
        death_successes=0,
        death_failures=0,
        stable=False,
    )


def heal(sheet: CharacterSheet, state: LiveState, amount: int) -> LiveState:
    """Regain hit points up to the maximum; any healing at 0 hit points wakes the character and clears the
    death saves. The dead are not healed (that takes a spell that raises them)."""
    amount = _amount(amount, "amount")
    if state.dead or amount == 0:
        return state
    hp = min(sheet.hp_max, state.hp + amount)
    if state.hp == 0:
        return replace(
            state,
            hp=hp,
            conditions=_without(state.conditions, "unconscious"),
            death_successes=0,
            death_failures=0,
            stable=False,
        )
    return replace(state, hp=hp)


def add_temp_hp(state: LiveState, amount: int) -> LiveState:
    """Temporary hit points do not stack: keep the larger of the old and the new."""
    return replace(state, temp_hp=max(state.temp_hp, _amount(amount, "amount")))


def death_save(state: LiveState, rng: random.Random) -> tuple[LiveState, int]:
    """Roll a death save at 0 hit points: 10+ succeeds, a 1 counts as two failures, a 20 regains 1 hit point;
    three successes make the character stable, three failures kill. Returns (state, d20)."""
    if state.dead or state.hp > 0 or state.stable:
        raise FailedPrecondition(
            "death saves are rolled only by a dying character (0 hit points, not stable)"
        )
    roll = rng.randint(1, 20)
    if roll == 20:
        return (
            replace(
                state,
                hp=1,
                conditions=_without(state.conditions, "unconscious"),
                death_successes=0,
                death_failures=0,
            ),
            roll,
        )
    if roll >= 10:
        successes = state.death_successes + 1
        return replace(state, death_successes=successes, stable=successes >= 3), roll
    failures = min(3, state.death_failures + (2 if roll == 1 else 1))
    return replace(state, death_failures=failures, dead=failures >= 3), roll


def spend_slot(sheet: CharacterSheet, state: LiveState, level: int) -> LiveState:
    """Use one spell slot of ``level`` (1..9); FailedPrecondition when none is left."""
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 9:
        raise InvalidArgument([("slot_level", "must be 1..9")])
    have = sheet.spellcasting.slots[level - 1] if sheet.spellcasting else 0
    used = state.slots_used[level - 1]
    if used >= have:
        raise FailedPrecondition(f"no level {level} spell slot left ({have} per rest)")
    slots = list(state.slots_used)
    slots[level - 1] += 1
    return replace(state, slots_used=tuple(slots))


def use_resource(sheet: CharacterSheet, state: LiveState, name: str, amount: int = 1) -> LiveState:
    """Spend ``amount`` of a class resource (a rage, ki points, Second Wind...); FailedPrecondition when not
    enough is left. Unlimited rages are never used up."""
    if name not in RESOURCES:
        raise InvalidArgument([("resource", f"unknown resource {name!r}; valid: {', '.join(RESOURCES)}")])
    amount = _amount(amount, "amount")
    limit = resource_max(sheet, name)
    if limit >= UNLIMITED:
        return state
    used = state.resources_used.get(name, 0)
    if used + amount > limit:
        raise FailedPrecondition(f"{name}: {limit - used} left, {amount} needed")
    return replace(state, resources_used={**state.resources_used, name: used + amount})


def short_rest(
    sheet: CharacterSheet, state: LiveState, hit_dice_to_spend: int, rng: random.Random
) -> tuple[LiveState, tuple[int, ...]]:
    """Spend hit dice (each heals its roll + Con modifier, at least 0), regain short-rest resources and a
    warlock's Pact Magic slots (and a level 5+ bard's Bardic Inspiration). Returns (state, dice rolled)."""
    if state.dead:
        raise FailedPrecondition("the dead do not rest")
    n = _amount(hit_dice_to_spend, "hit_dice_to_spend")
    if n > state.hit_dice:
        raise InvalidArgument([("hit_dice_to_spend", f"only {state.hit_dice} hit dice left")])
    con = sheet.ability_modifiers["con"]
    rolls = tuple(rng.randint(1, sheet.hit_die) for _ in range(n))
    healed = heal(sheet, state, sum(max(0, r + con) for r in rolls)) if rolls else state
    back = set(SHORT_REST_RESOURCES)
    if sheet.class_index == "bard" and sheet.level >= 5:  # Font of Inspiration
        back.add("bardic_inspiration_uses")
    used = {k: v for k, v in healed.resources_used.items() if k not in back}
    slots = (0,) * 9 if sheet.spellcasting and sheet.spellcasting.pact_magic else healed.slots_used
    return replace(healed, hit_dice=state.hit_dice - n, resources_used=used, slots_used=slots), rolls


def long_rest(sheet: CharacterSheet, state: LiveState) -> LiveState:
    """All hit points, half the hit dice (at least one), every slot and resource; one level of exhaustion
    less; temporary hit points end. A character needs at least 1 hit point to benefit."""
    if state.dead:
        raise FailedPrecondition("the dead do not rest")
    if state.hp == 0:
        raise FailedPrecondition("a character needs at least 1 hit point to benefit from a long rest")
    return replace(
        state,
        hp=sheet.hp_max,
        temp_hp=0,
        hit_dice=min(sheet.level, state.hit_dice + max(1, sheet.level // 2)),
        slots_used=(0,) * 9,
        resources_used={},
        exhaustion=max(0, state.exhaustion - 1),
        death_successes=0,
        death_failures=0,
        stable=False,
    )


def gain_xp(state: LiveState, award: int) -> tuple[LiveState, int]:
    """Add XP; returns (state, the level the XP now reaches). Rebuild the sheet at that level
    (:func:`rules.sheets.with_level`) and call :func:`level_up` to carry the state over."""
    xp, _, level = award_xp(state.xp, award)
    return replace(state, xp=xp), level


def level_up(old: CharacterSheet, new: CharacterSheet, state: LiveState) -> LiveState:
    """Carry a state to a rebuilt sheet: hit points and hit dice rise by what the maximum gained."""
    return replace(
        state,
        hp=max(0, min(new.hp_max, state.hp + new.hp_max - old.hp_max)) if not state.dead else state.hp,
        hit_dice=max(0, min(new.level, state.hit_dice + new.level - old.level)),
    )
