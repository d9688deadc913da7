"""Relationships of a new NPC to the campaign's existing NPCs and to factions (the world's and the campaign's).

Targets come only from what exists: campaign NPCs read from memory (sorted by id, so the same campaign state and
seed give the same choices) and factions declared in the world's lore or named in the campaign's relationships.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from npc_svc.ports import CampaignCharacter, CampaignFaction

#: (kind, what it means, in a sentence with {npc} and {other}).
PERSONAL: tuple[tuple[str, str], ...] = (
    ("rival", "{npc} and {other} want the same thing, and both know it."),
    ("old friend", "{npc} and {other} go back years; each still owes the other a favour."),
    ("debtor", "{npc} owes {other} money and has been avoiding the subject."),
    ("creditor", "{other} owes {npc} money, and {npc} has not forgotten."),
    ("sibling", "{npc} and {other} share a parent and little else."),
    ("former lover", "{npc} and {other} parted badly; neither speaks of it."),
    ("patron", "{npc} quietly pays {other}'s way and expects loyalty in return."),
    ("protege", "{npc} learned the trade from {other} and still seeks approval."),
    ("sworn enemy", "{npc} blames {other} for a ruin that cannot be undone."),
)
FACTION: tuple[tuple[str, str], ...] = (
    ("member", "{npc} belongs to {other} and wears its favour openly."),
    ("informant", "{npc} passes word to {other}, for coin or for fear."),
    ("enemy", "{npc} has crossed {other}, and {other} remembers."),
    ("supplicant", "{npc} wants something from {other} and has not yet paid the price."),
)
MAX_PEOPLE = 2
MAX_FACTIONS = 1


@dataclass(frozen=True, slots=True)
class NpcRelationship:
    target: str
    target_id: str  # memory character id, or "faction:<id>"
    kind: str
    description: str


def pick_relationships(
    npc_name: str,
    people: Sequence[CampaignCharacter],
    factions: Sequence[CampaignFaction],
    rng: random.Random,
) -> tuple[NpcRelationship, ...]:
    """Up to two ties to campaign NPCs and one to a faction, chosen by the seed."""
    out: list[NpcRelationship] = []
    others = sorted((p for p in people if p.name != npc_name), key=lambda p: p.id)
    for person in rng.sample(others, min(MAX_PEOPLE, len(others), rng.randint(1, MAX_PEOPLE))):
        kind, text = rng.choice(PERSONAL)
        out.append(
            NpcRelationship(person.name, person.id, kind, text.format(npc=npc_name, other=person.name))
        )
    groups = sorted(factions, key=lambda f: f.id)
    for faction in rng.sample(groups, min(MAX_FACTIONS, len(groups))):
        kind, text = rng.choice(FACTION)
        out.append(
            NpcRelationship(
                faction.name, f"faction:{faction.id}", kind, text.format(npc=npc_name, other=faction.name)
            )
        )
    return tuple(out)
