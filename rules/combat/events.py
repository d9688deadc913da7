"""Events: every resolved step is a list of events, each with its dice and the patches it makes to the
state. :func:`fold` is the only code that changes a :class:`CombatState`, so the live state is a
projection of the event log by construction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from rules.combat.state import Combatant, CombatState

#: Patch values are JSON scalars or tuples of them.
Value = Any
#: Patches with this target change the combat itself rather than a combatant.
COMBAT = ""
#: The patch field that brings a whole new combatant into the fight (its value is the Combatant).
JOIN = "join"


@dataclass(frozen=True, slots=True)
class Roll:
    """One roll: what for (``kind``: attack, damage, save, check, initiative, death_save, recharge,
    concentration, heal), the dice kept and rolled, the modifier, total, and what it was against."""

    kind: str
    dice: tuple[int, ...]
    modifier: int
    total: int
    notation: str = ""
    advantage: int = 0  # -1 disadvantage, 0 straight, 1 advantage
    against: int = 0  # AC or DC; 0 when not applicable
    success: bool | None = None
    critical: bool = False


@dataclass(frozen=True, slots=True)
class Patch:
    """Set ``field`` of combatant ``target`` (or of the combat when ``target`` is :data:`COMBAT`)."""

    target: str
    field: str
    value: Value


@dataclass(frozen=True, slots=True)
class Event:
    """What happened, in order: ``step`` is the declared step it belongs to, ``seq`` its place in it."""

    step: int
    seq: int
    kind: str
    actor: str
    target: str
    text: str
    rolls: tuple[Roll, ...] = ()
    patches: tuple[Patch, ...] = ()
    amount: int = 0  # damage dealt or hit points regained, when that is what happened


def apply(state: CombatState, event: Event) -> CombatState:
    """The state after one event."""
    if not event.patches:
        return state
    combat: dict[str, Value] = {}
    changed: dict[str, dict[str, Value]] = {}
    for p in event.patches:
        if p.target == COMBAT:
            combat[p.field] = p.value
        else:
            changed.setdefault(p.target, {})[p.field] = p.value
    if changed:
        people: dict[str, Combatant] = dict(state.combatants)
        for cid, fields in changed.items():
            base = fields.pop(JOIN) if JOIN in fields else people[cid]
            people[cid] = replace(base, **fields) if fields else base
        combat["combatants"] = people
    return replace(state, **combat)


def fold(state: CombatState, events: Iterable[Event]) -> CombatState:
    """Apply events in order: ``fold(initial, log)`` is the live state."""
    for event in events:
        state = apply(state, event)
    return state
