"""Social encounters: who the party faces, what they want, and the checks with tier-fitting DCs.

DCs follow the DMG's Typical Difficulty Classes (p.238: easy 10, medium 15, hard 20, very hard 25) set by
the requested difficulty, plus one per tier above the first so high-level talks are not trivial.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from encounter_svc.hazards import tier_of
from encounter_svc.models import CreatureGroup, SocialStakes
from rules.difficulty import Difficulty

BASE_DC: dict[Difficulty, int] = {
    Difficulty.EASY: 10, Difficulty.LOW: 10, Difficulty.MEDIUM: 13, Difficulty.MODERATE: 13,
    Difficulty.HARD: 15, Difficulty.HIGH: 17, Difficulty.DEADLY: 18,
}  # fmt: skip

_GOALS = (
    ("safe passage through their territory", "a toll or a service", "they attack or raise the alarm"),
    ("the return of something the party carries", "their gratitude and a guide", "a lasting grudge"),
    ("help against a rival", "a share of the rival's hoard", "being drawn into their feud"),
    ("news from the outside world", "directions to a hidden place", "being taken for spies"),
    ("a trade on their terms", "rare goods or knowledge", "being cheated"),
    ("proof the party means no harm", "shelter for the night", "an ambush at dawn"),
)
_SKILLS = ("Persuasion", "Deception", "Intimidation", "Insight")


def stakes_for(
    groups: Sequence[CreatureGroup], levels: Sequence[int], difficulty: Difficulty, rng: random.Random
) -> SocialStakes:
    """Stakes for a parley with the creature groups the band search chose."""
    dc = BASE_DC[difficulty] + tier_of(levels) - 1
    goal, reward, risk = rng.choice(_GOALS)
    skills = rng.sample(_SKILLS, k=3)
    checks = tuple(f"{skill} DC {dc + i}" for i, skill in enumerate(skills))
    participants = tuple(
        f"{g.count} {g.stat_block.name}" if g.count > 1 else g.stat_block.name for g in groups
    )
    return SocialStakes(participants=participants, goal=goal, reward=reward, risk=risk, checks=checks)
