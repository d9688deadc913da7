"""Ability checks, skill checks and saving throws by the SRD 5.1 rules, deterministic under a seed.

Every roll is reported whole (:class:`CheckResult`): both d20s when rolled with advantage or disadvantage and
which one was kept, each modifier by name, the total, the DC and the margin, so the narration can be written
from the outcome and a replay can be audited. Draws come from a ``random.Random`` owned by the call (seeded
from ``seed``, or a fresh seed that the result reports), never from the process-wide generator.

Rules applied (PHB ch. 7 and appendix A):

* Advantage and disadvantage: roll two d20s and keep the higher/lower. Any number of sources of each cancel
  out to a straight roll if both are present.
* Natural 20 and natural 1 do **not** succeed or fail a check or save automatically (that is an attack-roll
  rule); the result still reports them, and ``degree`` grades by margin: "critical" when the total beats the
  DC by 10 or more, "fumble" when it misses by 10 or more.
* Proficiency adds the proficiency bonus, expertise doubles it; Jack of All Trades (bard 2+) adds half of it
  (rounded down) to ability checks that do not already include it; Remarkable Athlete (champion 7+) adds half
  rounded up to Str/Dex/Con checks without it; Reliable Talent (rogue 11+) treats a d20 of 9 or less as 10 on
  checks that include proficiency.
* Conditions: poisoned and frightened give disadvantage on ability checks; exhaustion 1+ gives disadvantage on
  ability checks and 3+ on saving throws; blinded fails checks that need sight, deafened those that need
  hearing; paralyzed, petrified, stunned and unconscious fail Str and Dex saves; restrained gives
  disadvantage on Dex saves. Dodging (an action, not a condition) gives advantage on Dex saves. Armour that
  imposes it gives disadvantage on Stealth checks. Other conditions do not change checks.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mesh.errors import InvalidArgument
from rules.classes import ABILITIES, ABILITY_NAMES, load_character_data
from rules.sheets import CharacterSheet

#: The DMG's typical DCs by difficulty.
DIFFICULTY_DC: Mapping[str, int] = {
    "very_easy": 5,
    "easy": 10,
    "medium": 15,
    "hard": 20,
    "very_hard": 25,
    "nearly_impossible": 30,
}
CHECK_KINDS: tuple[str, ...] = ("ability", "skill", "save")
MIN_DC = 1
MAX_DC = 40
MAX_EXHAUSTION = 6
#: Conditions that make Strength and Dexterity saving throws fail outright.
AUTO_FAIL_STR_DEX_SAVES: frozenset[str] = frozenset({"paralyzed", "petrified", "stunned", "unconscious"})
#: Conditions that give disadvantage on ability checks.
CHECK_DISADVANTAGE: frozenset[str] = frozenset({"poisoned", "frightened"})


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One d20 test, reported whole.

    ``rolls`` holds every d20 rolled (two with advantage or disadvantage), ``kept`` the one used (after
    Reliable Talent, ``natural`` before it); ``modifiers`` are named parts that sum to ``total - kept``.
    ``dc`` is None for a contest. ``auto_fail`` names the condition that failed it without a roll.
    """

    kind: str  # "ability" | "skill" | "save"
    what: str  # skill index or ability
    ability: str
    mode: str  # "normal" | "advantage" | "disadvantage"
    rolls: tuple[int, ...]
    natural: int
    kept: int
    modifiers: tuple[tuple[str, int], ...]
    total: int
    dc: int | None
    success: bool
    margin: int
    degree: str  # "critical" | "success" | "failure" | "fumble"
    auto_fail: str
    notes: tuple[str, ...]
    seed: int | None

    @property
    def modifier(self) -> int:
        return sum(v for _, v in self.modifiers)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "what": self.what,
            "ability": self.ability,
            "mode": self.mode,
            "rolls": list(self.rolls),
            "natural": self.natural,
            "kept": self.kept,
            "modifiers": [{"name": n, "value": v} for n, v in self.modifiers],
            "total": self.total,
            "dc": self.dc,
            "success": self.success,
            "margin": self.margin,
            "degree": self.degree,
            "auto_fail": self.auto_fail,
            "notes": list(self.notes),
            "seed": self.seed,
        }


def resolve_dc(dc: int | None = None, difficulty: str | None = None) -> int:
    """A DC given as a number (1..40) or a difficulty name from :data:`DIFFICULTY_DC`."""
    if difficulty:
        try:
            return DIFFICULTY_DC[difficulty]
        except KeyError:
            raise InvalidArgument(
                [("difficulty", f"unknown difficulty {difficulty!r}; valid: {', '.join(DIFFICULTY_DC)}")]
            ) from None
    if dc is None or isinstance(dc, bool) or not isinstance(dc, int) or not MIN_DC <= dc <= MAX_DC:
        raise InvalidArgument([("dc", f"must be an integer {MIN_DC}..{MAX_DC}, or give a difficulty")])
    return dc


def normalize_skill(name: str) -> str:
    """'Sleight of Hand' / 'sleight_of_hand' -> 'sleight-of-hand'; InvalidArgument("skill") if unknown."""
    key = name.strip().lower().replace("_", "-").replace(" ", "-")
    skills = load_character_data().skills
    if key not in skills:
        raise InvalidArgument([("skill", f"unknown skill {name!r}; valid: {', '.join(sorted(skills))}")])
    return key


def normalize_ability(name: str, field: str = "ability") -> str:
    """'Strength' / 'STR' / 'str' -> 'str'; InvalidArgument naming ``field`` if unknown."""
    key = name.strip().lower()
    for short, long in ABILITY_NAMES.items():
        if key in (short, long):
            return short
    raise InvalidArgument([(field, f"unknown ability {name!r}; valid: {', '.join(ABILITIES)}")])


def _rng(seed: int | None, rng: random.Random | None) -> tuple[random.Random, int | None]:
    if rng is not None:
        return rng, seed
    if seed is None:
        seed = random.SystemRandom().randrange(2**63)
    return random.Random(seed), seed


def _conditions(conditions: Sequence[str]) -> set[str]:
    known = set(load_character_data().conditions)
    out = set()
    for i, c in enumerate(conditions):
        key = c.strip().lower()
        if key not in known:
            raise InvalidArgument(
                [(f"conditions[{i}]", f"unknown condition {c!r}; valid: {', '.join(sorted(known))}")]
            )
        out.add(key)
    return out


def _mode(advantage: bool, disadvantage: bool) -> str:
    if advantage and not disadvantage:
        return "advantage"
    if disadvantage and not advantage:
        return "disadvantage"
    return "normal"


def roll_d20_test(
    *,
    kind: str,
    what: str,
    ability: str,
    modifiers: Sequence[tuple[str, int]],
    dc: int | None,
    advantage: bool = False,
    disadvantage: bool = False,
    reliable: bool = False,
    auto_fail: str = "",
    notes: Sequence[str] = (),
    seed: int | None = None,
    rng: random.Random | None = None,
) -> CheckResult:
    """Roll one d20 test from already-named modifiers (also usable for creatures without a sheet).

    Advantage and disadvantage cancel. ``reliable`` applies Reliable Talent (a d20 below 10 counts as 10).
    ``auto_fail`` (a reason) fails the test without rolling."""
    mode = _mode(advantage, disadvantage)
    mods = tuple(modifiers)
    bonus = sum(v for _, v in mods)
    if auto_fail:
        total = bonus
        return CheckResult(
            kind=kind,
            what=what,
            ability=ability,
            mode=mode,
            rolls=(),
            natural=0,
            kept=0,
            modifiers=mods,
            total=total,
            dc=dc,
            success=False,
            margin=total - (dc or 0),
            degree="failure",
            auto_fail=auto_fail,
            notes=tuple(notes),
            seed=seed,
        )
    gen, seed = _rng(seed, rng)
    rolls = (gen.randint(1, 20),) if mode == "normal" else (gen.randint(1, 20), gen.randint(1, 20))
    natural = max(rolls) if mode == "advantage" else min(rolls)
    kept = max(natural, 10) if reliable else natural
    total = kept + bonus
    margin = total - dc if dc is not None else 0
    success = dc is not None and total >= dc
    if dc is None:
        degree = "success"
    elif success:
        degree = "critical" if margin >= 10 else "success"
    else:
        degree = "fumble" if margin <= -10 else "failure"
    return CheckResult(
        kind=kind,
        what=what,
        ability=ability,
        mode=mode,
        rolls=rolls,
        natural=natural,
        kept=kept,
        modifiers=mods,
        total=total,
        dc=dc,
        success=success,
        margin=margin,
        degree=degree,
        auto_fail="",
        notes=tuple(notes),
        seed=seed,
    )


def check_modifiers(sheet: CharacterSheet, kind: str, what: str) -> tuple[str, tuple[tuple[str, int], ...]]:
    """The ability and the named modifiers a sheet adds to a check or save: ``("dex", (("dex", 3),
    ("proficiency", 2), ("expertise", 2)))``. ``kind`` is "ability", "skill" or "save"."""
    pb = sheet.proficiency_bonus
    if kind == "skill":
        skill = normalize_skill(what)
        entry = sheet.skills[skill]
        ability = entry.ability
        parts: list[tuple[str, int]] = [(ability, sheet.ability_modifiers[ability])]
        if entry.proficient:
            parts.append(("proficiency", pb))
            if entry.expertise:
                parts.append(("expertise", pb))
        elif sheet.jack_of_all_trades:
            parts.append(("jack_of_all_trades", pb // 2))
        elif sheet.remarkable_athlete and ability in ("str", "dex", "con"):
            parts.append(("remarkable_athlete", (pb + 1) // 2))
        return ability, tuple(parts)
    if kind == "ability":
        ability = normalize_ability(what)
        parts = [(ability, sheet.ability_modifiers[ability])]
        if sheet.jack_of_all_trades:
            parts.append(("jack_of_all_trades", pb // 2))
        elif sheet.remarkable_athlete and ability in ("str", "dex", "con"):
            parts.append(("remarkable_athlete", (pb + 1) // 2))
        return ability, tuple(parts)
    if kind == "save":
        ability = normalize_ability(what)
        parts = [(ability, sheet.ability_modifiers[ability])]
        if sheet.saving_throws[ability].proficient:
            parts.append(("proficiency", pb))
        return ability, tuple(parts)
    raise InvalidArgument([("kind", f"unknown check kind {kind!r}; valid: {', '.join(CHECK_KINDS)}")])


def _check(
    sheet: CharacterSheet,
    kind: str,
    what: str,
    dc: int | None,
    *,
    advantage: bool,
    disadvantage: bool,
    conditions: Sequence[str],
    exhaustion: int,
    sight: bool,
    hearing: bool,
    dodging: bool,
    seed: int | None,
    rng: random.Random | None,
) -> CheckResult:
    if isinstance(exhaustion, bool) or not 0 <= exhaustion <= MAX_EXHAUSTION:
        raise InvalidArgument([("exhaustion", f"must be 0..{MAX_EXHAUSTION}")])
    conds = _conditions(conditions)
    if "exhaustion" in conds:  # the condition named without a level counts as level 1
        exhaustion = max(exhaustion, 1)
    ability, mods = check_modifiers(sheet, kind, what)
    key = normalize_skill(what) if kind == "skill" else ability
    notes: list[str] = []
    adv, dis = advantage, disadvantage
    auto_fail = ""
    if kind == "save":
        if ability in ("str", "dex"):
            blocking = sorted(conds & AUTO_FAIL_STR_DEX_SAVES)
            if blocking:
                auto_fail = blocking[0]
        if ability == "dex" and "restrained" in conds:
            dis = True
            notes.append("restrained: disadvantage on Dexterity saves")
        if ability == "dex" and dodging:
            adv = True
            notes.append("dodging: advantage on Dexterity saves")
        if exhaustion >= 3:
            dis = True
            notes.append(f"exhaustion {exhaustion}: disadvantage on saving throws")
    else:
        for c in sorted(conds & CHECK_DISADVANTAGE):
            dis = True
            notes.append(f"{c}: disadvantage on ability checks")
        if exhaustion >= 1:
            dis = True
            notes.append(f"exhaustion {exhaustion}: disadvantage on ability checks")
        if sight and "blinded" in conds:
            auto_fail = "blinded"
        elif hearing and "deafened" in conds:
            auto_fail = "deafened"
        if key == "stealth" and sheet.stealth_disadvantage:
            dis = True
            notes.append("armour: disadvantage on Stealth")
    if auto_fail:
        notes.append(f"{auto_fail}: fails automatically")
    reliable = sheet.reliable_talent and kind == "skill" and any(n == "proficiency" for n, _ in mods)
    return roll_d20_test(
        kind=kind,
        what=key,
        ability=ability,
        modifiers=mods,
        dc=dc,
        advantage=adv,
        disadvantage=dis,
        reliable=reliable,
        auto_fail=auto_fail,
        notes=notes,
        seed=seed,
        rng=rng,
    )


def ability_check(
    sheet: CharacterSheet,
    ability: str,
    dc: int | None,
    *,
    advantage: bool = False,
    disadvantage: bool = False,
    conditions: Sequence[str] = (),
    exhaustion: int = 0,
    sight: bool = False,
    hearing: bool = False,
    seed: int | None = None,
    rng: random.Random | None = None,
) -> CheckResult:
    """A plain ability check (``"str"``.. or ``"strength"``). ``sight``/``hearing``: the check depends on it
    (a blinded/deafened character then fails)."""
    return _check(
        sheet,
        "ability",
        ability,
        dc,
        advantage=advantage,
        disadvantage=disadvantage,
        conditions=conditions,
        exhaustion=exhaustion,
        sight=sight,
        hearing=hearing,
        dodging=False,
        seed=seed,
        rng=rng,
    )


def skill_check(
    sheet: CharacterSheet,
    skill: str,
    dc: int | None,
    *,
    advantage: bool = False,
    disadvantage: bool = False,
    conditions: Sequence[str] = (),
    exhaustion: int = 0,
    sight: bool = False,
    hearing: bool = False,
    seed: int | None = None,
    rng: random.Random | None = None,
) -> CheckResult:
    """A skill check (``"investigation"``, ``"Sleight of Hand"``...)."""
    return _check(
        sheet,
        "skill",
        skill,
        dc,
        advantage=advantage,
        disadvantage=disadvantage,
        conditions=conditions,
        exhaustion=exhaustion,
        sight=sight,
        hearing=hearing,
        dodging=False,
        seed=seed,
        rng=rng,
    )


def saving_throw(
    sheet: CharacterSheet,
    ability: str,
    dc: int | None,
    *,
    advantage: bool = False,
    disadvantage: bool = False,
    conditions: Sequence[str] = (),
    exhaustion: int = 0,
    dodging: bool = False,
    seed: int | None = None,
    rng: random.Random | None = None,
) -> CheckResult:
    """A saving throw; conditions may fail it outright (see the module docstring)."""
    return _check(
        sheet,
        "save",
        ability,
        dc,
        advantage=advantage,
        disadvantage=disadvantage,
        conditions=conditions,
        exhaustion=exhaustion,
        sight=False,
        hearing=False,
        dodging=dodging,
        seed=seed,
        rng=rng,
    )


def check(
    sheet: CharacterSheet,
    kind: str,
    what: str,
    dc: int | None,
    **kwargs: Any,
) -> CheckResult:
    """Dispatch by ``kind`` ("ability" | "skill" | "save") to the functions above."""
    if kind == "skill":
        return skill_check(sheet, what, dc, **kwargs)
    if kind == "ability":
        return ability_check(sheet, what, dc, **kwargs)
    if kind == "save":
        return saving_throw(sheet, what, dc, **kwargs)
    raise InvalidArgument([("kind", f"unknown check kind {kind!r}; valid: {', '.join(CHECK_KINDS)}")])


@dataclass(frozen=True, slots=True)
class GroupCheckResult:
    """A group check succeeds when at least half the group succeeds (PHB p. 175)."""

    results: tuple[CheckResult, ...]
    successes: int
    success: bool
    seed: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "results": [r.to_json() for r in self.results],
            "successes": self.successes,
            "success": self.success,
            "seed": self.seed,
        }


def group_check(
    sheets: Sequence[CharacterSheet],
    kind: str,
    what: str,
    dc: int,
    *,
    seed: int | None = None,
    rng: random.Random | None = None,
    **kwargs: Any,
) -> GroupCheckResult:
    """Everyone makes the same check from one stream (in the given order); half or more must succeed."""
    if not sheets:
        raise InvalidArgument([("characters", "a group check needs at least one character")])
    gen, seed = _rng(seed, rng)
    results = tuple(check(s, kind, what, dc, rng=gen, seed=seed, **kwargs) for s in sheets)
    successes = sum(r.success for r in results)
    return GroupCheckResult(
        results=results, successes=successes, success=2 * successes >= len(results), seed=seed
    )


@dataclass(frozen=True, slots=True)
class ContestResult:
    """A contest: the higher total wins; on a tie the situation stays as it was (``winner`` is None)."""

    first: CheckResult
    second: CheckResult
    winner: int | None  # 0: first, 1: second, None: tie
    seed: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "first": self.first.to_json(),
            "second": self.second.to_json(),
            "winner": self.winner,
            "seed": self.seed,
        }


def contest(first: CheckResult, second: CheckResult, seed: int | None = None) -> ContestResult:
    """Decide a contest from two already-rolled tests (e.g. a monster's via :func:`roll_d20_test`)."""
    winner = None if first.total == second.total else (0 if first.total > second.total else 1)
    return ContestResult(first=first, second=second, winner=winner, seed=seed)


def contested_check(
    first: CharacterSheet,
    first_what: str,
    second: CharacterSheet,
    second_what: str,
    *,
    first_kind: str = "skill",
    second_kind: str = "skill",
    first_advantage: bool = False,
    first_disadvantage: bool = False,
    second_advantage: bool = False,
    second_disadvantage: bool = False,
    seed: int | None = None,
    rng: random.Random | None = None,
) -> ContestResult:
    """Two characters' checks against each other (Athletics vs Acrobatics...), from one stream."""
    gen, seed = _rng(seed, rng)
    a = check(
        first,
        first_kind,
        first_what,
        None,
        advantage=first_advantage,
        disadvantage=first_disadvantage,
        rng=gen,
        seed=seed,
    )
    b = check(
        second,
        second_kind,
        second_what,
        None,
        advantage=second_advantage,
        disadvantage=second_disadvantage,
        rng=gen,
        seed=seed,
    )
    return contest(a, b, seed)


def passive_score(
    sheet: CharacterSheet,
    what: str,
    *,
    kind: str = "skill",
    advantage: bool = False,
    disadvantage: bool = False,
) -> int:
    """10 + the check's modifiers, +5 with advantage, -5 with disadvantage (they cancel)."""
    _, mods = check_modifiers(sheet, kind, what)
    mode = _mode(advantage, disadvantage)
    return 10 + sum(v for _, v in mods) + (5 if mode == "advantage" else -5 if mode == "disadvantage" else 0)


def success_probability(modifier: int, dc: int, mode: str = "normal") -> float:
    """Exact chance that d20 + ``modifier`` >= ``dc`` (no auto-success on 20 for checks):
    p for a straight roll, 1 - (1 - p)^2 with advantage, p^2 with disadvantage."""
    p = min(1.0, max(0.0, (21 - (dc - modifier)) / 20))
    if mode == "advantage":
        return 1 - (1 - p) ** 2
    if mode == "disadvantage":
        return p * p
    return p
