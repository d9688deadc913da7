"""A combat's state: combatants (hit points, conditions, slots, resources, the turn's budget) and the
abstract range model, as frozen values that only :func:`rules.combat.events.fold` changes.

Range model (no grid): each combatant stands in a band measured from the melee line on its own side:
``engaged`` (0 ft), ``near`` (30 ft) or ``far`` (90 ft). Two foes are the sum of their bands apart
(at least 5 ft: both engaged means within reach), two allies the difference. Moving one band costs 30 ft
of movement (a Dash doubles the turn's movement).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

BANDS: dict[str, int] = {"engaged": 0, "near": 30, "far": 90}
ABILITIES: tuple[str, ...] = ("str", "dex", "con", "int", "wis", "cha")
PARTY = "party"
FOES = "foes"
ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class Combatant:
    """One creature in the fight. Resources and per-day uses are (name, count left) pairs so the value
    stays hashable and JSON-stable."""

    id: str
    name: str
    side: str  # PARTY | FOES
    kind: str  # "character" | "monster"
    source: str  # character id or SRD monster index
    hp: int
    hp_max: int
    ac: int
    speed: int
    saves: tuple[int, ...]  # str, dex, con, int, wis, cha
    dex: int  # Dexterity score, the initiative tie-break
    xp: int = 0  # what defeating it is worth (monsters)
    level: int = 0  # characters
    temp_hp: int = 0
    position: str = "near"
    initiative: int = 0
    conditions: tuple[str, ...] = ()
    # Conditions a creature may shake off: "condition:ability:dc", saved at the end of each of its turns.
    lingering: tuple[str, ...] = ()
    death_successes: int = 0
    death_failures: int = 0
    stable: bool = False
    dead: bool = False
    fled: bool = False
    slots: tuple[int, ...] = (0,) * 9  # left, by spell level 1..9
    resources: tuple[tuple[str, int], ...] = ()
    items: tuple[tuple[str, int], ...] = ()
    concentration: str = ""
    resistances: tuple[str, ...] = ()
    immunities: tuple[str, ...] = ()
    vulnerabilities: tuple[str, ...] = ()
    condition_immunities: tuple[str, ...] = ()
    spent: tuple[str, ...] = ()  # recharge actions waiting to recharge
    legendary_max: int = 0
    legendary_left: int = 0
    raging: bool = False
    # This turn's budget and flags (reset when its turn starts).
    action_used: bool = False
    bonus_used: bool = False
    reaction_used: bool = False
    movement: int = 0
    attacks_left: int = 0
    light_attack: bool = False  # attacked with a light weapon this turn (two-weapon fighting)
    sneak_used: bool = False
    dodging: bool = False
    disengaged: bool = False
    helped: bool = False  # advantage on its next attack roll
    hidden: bool = False

    @property
    def down(self) -> bool:
        """Out of the fight for now: dead, fled or at 0 hit points."""
        return self.dead or self.fled or self.hp <= 0

    @property
    def dying(self) -> bool:
        return not self.dead and self.hp <= 0 and not self.stable and self.kind == "character"

    def resource(self, name: str) -> int:
        return dict(self.resources).get(name, 0)

    def item(self, name: str) -> int:
        return dict(self.items).get(name, 0)

    def has(self, condition: str) -> bool:
        return condition in self.conditions

    def save(self, ability: str) -> int:
        return self.saves[ABILITIES.index(ability)]


def distance(a: Combatant, b: Combatant) -> int:
    """Feet between two combatants under the band model."""
    if a.id == b.id:
        return 0
    if a.side == b.side:
        return max(5, abs(BANDS[a.position] - BANDS[b.position]))
    return max(5, BANDS[a.position] + BANDS[b.position])


@dataclass(frozen=True)
class CombatState:
    """The whole fight. ``order`` is the initiative order; ``turn`` indexes it; ``step`` counts declared
    steps (each a unit recorded once); ``status`` is "active", "victory", "flight", "defeat" or "ended"."""

    combat_id: str
    seed: int
    combatants: Mapping[str, Combatant] = field(default_factory=dict)
    order: tuple[str, ...] = ()
    round: int = 0
    turn: int = 0
    step: int = 0
    status: str = ACTIVE
    xp_awarded: tuple[tuple[str, int], ...] = ()

    @property
    def current(self) -> Combatant:
        return self.combatants[self.order[self.turn]]

    @property
    def active(self) -> bool:
        return self.status == ACTIVE

    def get(self, cid: str) -> Combatant | None:
        return self.combatants.get(cid)

    def side(self, side: str) -> list[Combatant]:
        return [self.combatants[c] for c in self.order if self.combatants[c].side == side]

    def enemies_of(self, c: Combatant) -> list[Combatant]:
        return [x for x in self.side(FOES if c.side == PARTY else PARTY)]

    def allies_of(self, c: Combatant) -> list[Combatant]:
        return [x for x in self.side(c.side) if x.id != c.id]


STEPS: dict[str, int] = {"engaged": 0, "near": 1, "far": 2}


def band_cost(c: Combatant) -> int:
    """Feet of movement one band costs: 30, or the whole speed of a slower creature (a gnome's 25 ft still
    carries it one band a turn)."""
    return min(30, max(5, c.speed))


def move_cost(c: Combatant, to: str) -> int:
    return abs(STEPS[to] - STEPS[c.position]) * band_cost(c)
