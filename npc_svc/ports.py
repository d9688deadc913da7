"""What the NPC domain needs from campaign memory, as a Protocol; ``memory_client`` implements it over gRPC."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from rules.statblock import StatBlock


@dataclass(frozen=True, slots=True)
class CampaignCharacter:
    """An existing NPC of the campaign, as relationships need it."""

    id: str
    name: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CampaignFaction:
    """A faction the campaign knows: from the world's lore or from memory's relationships ("faction:<id>")."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class SavedNpc:
    """Where a saved NPC went in memory."""

    character_id: str
    event_ids: tuple[str, ...]
    relationship_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NpcRecord:
    """What memory stores for a generated NPC: the public character, its DM-only secrets, its relationships."""

    campaign_id: str
    npc_id: str
    name: str
    ancestry: str
    archetype: str
    description: str
    public_summary: str
    secrets: tuple[str, ...]
    tags: tuple[str, ...]
    stat_block: StatBlock
    relationships: tuple[tuple[str, str, str], ...]  # (target entity, kind, description)


class MemoryPort(Protocol):
    """Campaign memory as the NPC service uses it; implementations raise ``mesh.errors`` errors."""

    async def campaign_npcs(self, campaign_id: str) -> Sequence[CampaignCharacter]:
        """The campaign's NPCs (every page)."""
        ...

    async def campaign_factions(self, campaign_id: str) -> Sequence[CampaignFaction]:
        """Factions named in the campaign's relationships."""
        ...

    async def save_npc(self, record: NpcRecord) -> SavedNpc:
        """Create the character, record its public introduction and its DM-only secrets, link relationships."""
        ...

    async def save_character(self, campaign_id: str, name: str, description: str, sheet_json: str) -> str:
        """Store a player character with its sheet (memory gives it a rested live state); its id."""
        ...

    async def close(self) -> None: ...
