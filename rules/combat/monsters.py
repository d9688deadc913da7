"""Which of a stat block's actions combat can run, and how: weapon attacks (bonus, damage, reach or range,
conditions on a hit), save-DC actions (damage, half on a save, areas, conditions), Multiattack routines,
Recharge X-Y and per-day limits, legendary actions (their own attack or save, or "makes a tail attack").
Anything else (Change Shape, Teleport, summoning...) is reported as unsupported with the reason."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from rules.statblock import Ability, Action, Damage, SaveDC, StatBlock

_CONDITION = re.compile(
    r"\b(?:is|be|becomes?|being|falls?)\s+(?:knocked\s+)?"
    r"(blinded|charmed|frightened|grappled|incapacitated|paralyzed|poisoned|prone|restrained|stunned)"
)
_REACH = re.compile(r"reach (\d+) ft")
_RANGE = re.compile(r"range (\d+)(?:/(\d+))? ft")
_AREA = re.compile(r"\b(cone|line|radius|sphere|cube|each creature|all creatures)\b", re.IGNORECASE)
_REF = re.compile(r"makes? (?:one|a|an|two)?\s*([a-z]+(?: [a-z]+)?)(?: attack|\.)", re.IGNORECASE)
_HEAL = re.compile(r"regains? (\d+) \(([\dd +]+)\) hit points")
_REPOSITION = re.compile(r"teleports|moves up to its speed|flies up to (?:half )?its (?:flying )?speed")
_DETECT = re.compile(r"Wisdom \(Perception\) check")
#: Most creatures an area action catches under the band model (the engaged band around the target).
AREA_TARGETS = 3


@dataclass(frozen=True, slots=True)
class MonsterMove:
    """One runnable action: an attack, a save effect, or a Multiattack of other moves."""

    name: str
    kind: str  # "attack" | "save" | "multiattack" | "heal" | "reposition" | "detect"
    attack_bonus: int = 0
    damage: tuple[Damage, ...] = ()
    save_dc: int = 0
    save_ability: str = ""
    half_on_save: bool = False
    ranged: bool = False
    reach: int = 5
    range_normal: int = 0
    range_long: int = 0
    conditions: tuple[str, ...] = ()
    area: bool = False
    recharge: int = 0  # recharges on a d6 roll of this or more; 0 when always ready
    per_day: int = 0
    parts: tuple[tuple[str, int], ...] = ()  # multiattack: (move name, times)
    cost: int = 1  # legendary actions

    @property
    def expected(self) -> float:
        return sum(d.average for d in self.damage)


@dataclass(frozen=True, slots=True)
class MonsterKit:
    """What a monster can do in combat, and what it cannot (name -> reason)."""

    moves: dict[str, MonsterMove]
    legendary: dict[str, MonsterMove]
    unsupported: dict[str, str]
    unsupported_legendary: dict[str, str]

    @property
    def total(self) -> int:
        return len(self.moves) + len(self.legendary) + len(self.unsupported) + len(self.unsupported_legendary)

    @property
    def supported(self) -> int:
        return len(self.moves) + len(self.legendary)


def _conditions(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(m.group(1) for m in _CONDITION.finditer(text)))


_DC = re.compile(r"DC (\d+) (Strength|Dexterity|Constitution|Intelligence|Wisdom|Charisma) saving throw")


def _save_of(a: Action) -> SaveDC | None:
    """The action's save, from the data or else from its text ("DC 11 Strength saving throw")."""
    if a.save is not None:
        return a.save
    m = _DC.search(a.description)
    if not m:
        return None
    return SaveDC(int(m.group(1)), Ability(m.group(2)[:3].lower()), "half as much" in a.description)


def _single(a: Action) -> MonsterMove | str:
    a = replace(a, save=_save_of(a))
    damage = a.damage or (a.damage_options[0] if a.damage_options else ())
    conditions = _conditions(a.description)
    recharge = a.usage.min_roll if a.usage and a.usage.kind == "recharge on roll" else 0
    per_day = a.usage.times if a.usage and a.usage.kind == "per day" else 0
    if a.usage and a.usage.kind == "recharge after rest":
        per_day = 1
    if a.attack_bonus is not None and (damage or conditions):
        ranged = "Ranged" in a.description and "Melee or Ranged" not in a.description
        reach = _REACH.search(a.description)
        rng = _RANGE.search(a.description)
        return MonsterMove(
            name=a.name,
            kind="attack",
            attack_bonus=a.attack_bonus,
            damage=damage,
            save_dc=a.save.dc if a.save else 0,
            save_ability=a.save.ability.value if a.save else "",
            half_on_save=bool(a.save and (a.save.half_on_success or "half as much damage" in a.description)),
            ranged=ranged,
            reach=int(reach.group(1)) if reach else 5,
            range_normal=int(rng.group(1)) if rng else 0,
            range_long=int(rng.group(2) or rng.group(1)) if rng else 0,
            conditions=conditions,
            recharge=recharge,
            per_day=per_day,
            cost=a.legendary_cost,
        )
    if a.save is not None and (damage or conditions):
        return MonsterMove(
            name=a.name,
            kind="save",
            damage=damage,
            save_dc=a.save.dc,
            save_ability=a.save.ability.value,
            half_on_save=a.save.half_on_success or "half as much damage" in a.description,
            conditions=conditions,
            area=bool(_AREA.search(a.description)),
            recharge=recharge,
            per_day=per_day,
            cost=a.legendary_cost,
        )
    heal = _HEAL.search(a.description)
    if heal and a.attack_bonus is None and a.save is None:
        dice = heal.group(2).replace(" ", "")
        return MonsterMove(
            name=a.name,
            kind="heal",
            damage=(Damage(dice, "healing", float(heal.group(1))),),
            per_day=per_day,
            cost=a.legendary_cost,
        )
    if _REPOSITION.search(a.description) and not damage:
        return MonsterMove(name=a.name, kind="reposition", per_day=per_day, cost=a.legendary_cost)
    if _DETECT.search(a.description) and not damage:
        return MonsterMove(name=a.name, kind="detect", cost=a.legendary_cost)
    if a.attack_bonus is not None:
        return "an attack with no damage and no condition the rules model"
    if a.save is not None:
        return "a saving throw whose effect is neither damage nor a modelled condition"
    return "no attack roll, damage or saving throw (a special ability the rules do not model)"


def _find(moves: dict[str, MonsterMove], name: str) -> MonsterMove | None:
    key = name.lower()
    for move in moves.values():
        if move.name.lower() == key:
            return move
    for move in moves.values():  # "Tail" for "tail attack", "Claw" for "claws"
        if move.name.lower().rstrip("s") == key.rstrip("s") or move.name.lower().startswith(key.rstrip("s")):
            return move
    return None


_KITS: dict[tuple[str, str, str], MonsterKit] = {}


def monster_kit(block: StatBlock) -> MonsterKit:
    """The block's kit, cached by its source and index (stat blocks are immutable)."""
    key = (block.source, block.index, block.name)
    kit = _KITS.get(key)
    if kit is None:
        kit = _KITS[key] = _kit(block)
    return kit


def _kit(block: StatBlock) -> MonsterKit:
    moves: dict[str, MonsterMove] = {}
    unsupported: dict[str, str] = {}
    multis: list[Action] = []
    for a in block.actions:
        if a.multiattack:
            multis.append(a)
            continue
        got = _single(a)
        if isinstance(got, str):
            unsupported[a.name] = got
        else:
            moves[a.name] = got
    for a in multis:
        for routine in a.multiattack:
            found = [(_find(moves, p.action), p.count) for p in routine]
            if found and all(m is not None for m, _ in found):
                parts = tuple((m.name, n) for m, n in found if m is not None)
                moves[a.name] = MonsterMove(name=a.name, kind="multiattack", parts=parts)
                break
        else:
            unsupported[a.name] = "no Multiattack routine made only of actions the rules model"
    legendary: dict[str, MonsterMove] = {}
    unsupported_legendary: dict[str, str] = {}
    for a in block.legendary_actions:
        got = _single(a)
        ref = _REF.search(a.description)
        if isinstance(got, MonsterMove) and (got.kind != "reposition" or not ref):
            legendary[a.name] = got
            continue
        target = _find(moves, ref.group(1).removesuffix(" attack")) if ref else None
        if target is not None and target.kind != "multiattack":
            legendary[a.name] = MonsterMove(
                name=a.name, kind="multiattack", parts=((target.name, 1),), cost=a.legendary_cost
            )
        elif isinstance(got, MonsterMove):
            legendary[a.name] = got
        else:
            unsupported_legendary[a.name] = got
    return MonsterKit(moves, legendary, unsupported, unsupported_legendary)
