"""Attack math against the exact values: over 20,000 seeded attacks per case, hit and critical rates within
one percentage point and mean damage within 1% of the values computed by enumerating every die."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace

import pytest

from rules.combat.engine import Strike, resolve_attack
from rules.combat.events import JOIN, Event, Patch, apply
from rules.combat.state import FOES, PARTY, Combatant, CombatState

#: Attacks per case: at least 20,000; 40,000 keeps mean damage's sampling error near half the 1% tolerance.
N = 40_000


def _person(cid: str, side: str, **kw: object) -> Combatant:
    base = Combatant(
        id=cid, name=cid, side=side, kind="monster", source=cid, hp=10**9, hp_max=10**9, ac=15, speed=30,
        saves=(0,) * 6, dex=10, position="engaged",
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


def _state(attacker: Combatant, target: Combatant) -> CombatState:
    s = CombatState(combat_id="math", seed=0)
    s = apply(s, Event(0, 0, "join", "", "", "", (), (Patch("a", JOIN, attacker), Patch("t", JOIN, target))))
    return replace(s, order=("a", "t"))


def _exact(
    bonus: int, ac: int, adv: int, dmg_sides: int, flat: int, factor: float
) -> tuple[float, float, float]:
    """(hit rate, crit rate, mean damage) by enumerating the d20(s) and the damage dice."""
    pairs = [(a,) for a in range(1, 21)] if adv == 0 else list(itertools.product(range(1, 21), repeat=2))
    hit = crit = 0.0
    for p in pairs:
        kept = p[0] if adv == 0 else (max(p) if adv > 0 else min(p))
        if kept == 20:
            crit += 1
        elif kept != 1 and kept + bonus >= ac:
            hit += 1
    hit, crit = hit / len(pairs), crit / len(pairs)

    def mean(dice: int) -> float:
        outcomes = itertools.product(range(1, dmg_sides + 1), repeat=dice)
        values = [
            int(max(0, sum(o) + flat) * factor) if factor >= 1 else max(0, sum(o) + flat) // 2
            for o in outcomes
        ]
        return sum(values) / len(values)

    return hit + crit, crit, hit * mean(1) + crit * mean(2)


CASES = [  # bonus, AC, attacker/target tweaks, advantage, damage type against the target
    pytest.param(5, 15, {}, {}, 0, 1.0, id="straight"),
    pytest.param(5, 15, {"hidden": 15}, {}, 1, 1.0, id="advantage-unseen"),
    pytest.param(5, 15, {"conditions": ("poisoned",)}, {}, -1, 1.0, id="disadvantage-poisoned"),
    pytest.param(5, 15, {}, {"resistances": ("slashing",)}, 0, 0.5, id="resistance"),
    pytest.param(5, 15, {}, {"vulnerabilities": ("slashing",)}, 0, 2.0, id="vulnerability"),
    pytest.param(
        8, 12, {}, {"conditions": ("restrained",), "resistances": ("slashing",)}, 1, 0.5, id="adv-resist"
    ),
    pytest.param(
        6, 14, {"conditions": ("blinded",)}, {"vulnerabilities": ("slashing",)}, -1, 2.0, id="dis-vuln"
    ),
]


@pytest.mark.parametrize(("bonus", "ac", "attacker", "target", "adv", "factor"), CASES)
def test_rates_and_mean_damage_match_the_exact_values(
    bonus: int, ac: int, attacker: dict[str, object], target: dict[str, object], adv: int, factor: float
) -> None:
    a = _person("a", PARTY, **attacker)
    t = _person("t", FOES, ac=ac, **target)
    state = _state(a, t)
    strike = Strike("Longsword", bonus, (("1d8+3", "slashing"),), True)
    rng = random.Random(f"attack-math:{bonus}:{ac}:{adv}:{factor}")
    hits = crits = damage = 0
    for _ in range(N):
        _, events = resolve_attack(state, "a", "t", strike, rng)  # the state is reused: every attack is fresh
        roll = events[0].rolls[0]
        assert roll.advantage == adv
        hits += bool(roll.success)
        crits += roll.critical
        damage += sum(e.amount for e in events if e.kind == "damage")
    hit_rate, crit_rate, mean_damage = _exact(bonus, ac, adv, 8, 3, factor)
    assert abs(hits / N - hit_rate) < 0.01, (hits / N, hit_rate)
    assert abs(crits / N - crit_rate) < 0.01, (crits / N, crit_rate)
    assert abs(damage / N - mean_damage) / mean_damage < 0.01, (damage / N, mean_damage)


def test_a_natural_one_misses_and_a_natural_twenty_hits_whatever_the_numbers() -> None:
    a, t = _person("a", PARTY), _person("t", FOES, ac=60)
    state = _state(a, replace(t))
    rng = random.Random(3)
    seen = set()
    for _ in range(400):
        _, events = resolve_attack(state, "a", "t", Strike("Claw", 30, (("1d4", "slashing"),), True), rng)
        roll = events[0].rolls[0]
        nat = roll.dice[0]
        seen.add(nat)
        assert roll.success == (nat == 20)  # +30 never reaches AC 60: only a natural 20 hits
    assert {1, 20} <= seen
    easy = _state(a, _person("t", FOES, ac=2))
    for _ in range(400):
        _, events = resolve_attack(easy, "a", "t", Strike("Claw", 30, (("1d4", "slashing"),), True), rng)
        roll = events[0].rolls[0]
        assert roll.success == (roll.dice[0] != 1)  # 1 + 30 beats AC 2, but a natural 1 misses
