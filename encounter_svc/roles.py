"""Tactical roles read off a stat block, so tactics prose and the client can say who does what."""

from __future__ import annotations

from rules.challenge import cr_index
from rules.statblock import StatBlock

# Hit points at the top of each CR's row in the DMG's Monster Statistics by CR table (used to spot brutes).
_HP_TOP = (6, 35, 49, 70, 85, 100, 115, 130, 145, 160, 175, 190, 205, 220, 235, 250, 265, 280, 295, 310, 325,
           340, 355, 400, 445, 490, 535, 580, 625, 670, 715, 760, 805, 850)  # fmt: skip


def _ranged(block: StatBlock) -> bool:
    return any("Ranged" in a.description[:40] for a in block.actions) or bool(block.spellcasting)


def role_of(block: StatBlock, leader: bool = False) -> str:
    """One of: leader, solo, artillery, controller, skirmisher, brute, soldier."""
    if leader:
        return "leader"
    if block.legendary_actions:
        return "solo"
    if _ranged(block) and not any(a.attack_bonus and "Melee" in a.description[:40] for a in block.actions):
        return "artillery"
    if block.spellcasting or any(a.save and not a.damage for a in block.actions):
        return "controller"
    if block.speeds.fly >= 40 or block.speeds.walk >= 40:
        return "skirmisher"
    if block.hit_points > _HP_TOP[cr_index(block.challenge_rating)]:
        return "brute"
    return "soldier"
