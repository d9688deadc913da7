"""The SRD conditions' mechanical effects on attack rolls, saving throws, actions and movement."""

from __future__ import annotations

from collections.abc import Sequence

from rules.combat.state import Combatant

CONDITIONS: tuple[str, ...] = (
    "blinded",
    "charmed",
    "deafened",
    "frightened",
    "grappled",
    "incapacitated",
    "invisible",
    "paralyzed",
    "petrified",
    "poisoned",
    "prone",
    "restrained",
    "stunned",
    "unconscious",
)
#: Conditions that take away actions and reactions (each of these includes incapacitated).
NO_ACTIONS: frozenset[str] = frozenset({"incapacitated", "paralyzed", "petrified", "stunned", "unconscious"})
#: Conditions that set speed to 0.
NO_MOVEMENT: frozenset[str] = frozenset(
    {"grappled", "restrained", "paralyzed", "petrified", "stunned", "unconscious"}
)
#: A target with one of these is attacked with advantage.
GRANTS_ADVANTAGE: frozenset[str] = frozenset(
    {"blinded", "paralyzed", "petrified", "restrained", "stunned", "unconscious"}
)
#: Melee hits from within 5 feet against these are critical hits.
AUTO_CRIT: frozenset[str] = frozenset({"paralyzed", "unconscious"})
#: Strength and Dexterity saves fail automatically under these.
FAIL_STR_DEX: frozenset[str] = frozenset({"paralyzed", "petrified", "stunned", "unconscious"})


def can_act(c: Combatant) -> bool:
    return not c.down and not any(x in NO_ACTIONS for x in c.conditions)


def can_move(c: Combatant) -> bool:
    return can_act(c) and not any(x in NO_MOVEMENT for x in c.conditions)


def attack_advantage(
    attacker: Combatant, target: Combatant, melee: bool, reasons: list[str], extra_dis: Sequence[str] = ()
) -> int:
    """+1 advantage, -1 disadvantage, 0 when neither or both (advantage and disadvantage cancel).
    ``reasons`` collects why, for the event text."""
    adv: list[str] = []
    dis: list[str] = list(extra_dis)
    if attacker.has("invisible") or attacker.hidden:
        adv.append("unseen attacker")
    if attacker.helped:
        adv.append("helped")
    for cond in ("blinded", "frightened", "poisoned", "prone", "restrained"):
        if attacker.has(cond):
            dis.append(f"attacker {cond}")
    for cond in sorted(GRANTS_ADVANTAGE & set(target.conditions)):
        adv.append(f"target {cond}")
    if target.has("invisible") or target.hidden:
        dis.append("target unseen")
    if target.has("prone"):
        (adv if melee else dis).append("target prone")
    if target.dodging and can_act(target):
        dis.append("target dodging")
    reasons.extend(adv + dis)
    return (1 if adv else 0) - (1 if dis else 0)


def save_advantage(c: Combatant, ability: str) -> int | None:
    """None when the save fails automatically; otherwise +1/0/-1."""
    if ability in ("str", "dex") and any(x in FAIL_STR_DEX for x in c.conditions):
        return None
    adv = (ability == "dex" and c.dodging and can_act(c)) or (ability == "str" and c.raging)
    dis = ability == "dex" and c.has("restrained")
    return int(adv) - int(dis)


def is_auto_crit(target: Combatant, melee: bool) -> bool:
    return melee and any(x in AUTO_CRIT for x in target.conditions)
