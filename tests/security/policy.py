"""The expected outcome of every RPC for every kind of caller: the authorisation matrix's specification.

One line per RPC, keyed "Service/Method". A new RPC fails tests/security/test_matrix.py until it has a line here,
so whoever adds an RPC decides who may call it. The four columns are the callers that hold a valid key, each
making the same request about campaign A's resources: a player of campaign B, a player of campaign A, the DM of
campaign A and an administrator (a DM key over every campaign). Callers with no key or a wrong key are refused
(UNAUTHENTICATED) everywhere but public RPCs, and a direct call to a module service without a client certificate
never gets past the TLS handshake; those columns need no line.

Outcomes: ``OK`` (authorised: whatever the request's validity gives, never UNAUTHENTICATED, PERMISSION_DENIED,
NOT_FOUND, INTERNAL or UNKNOWN), ``DENIED`` (PERMISSION_DENIED: the key may not do this), ``HIDDEN`` (NOT_FOUND:
the resource belongs to a campaign the key does not cover, answered as if it did not exist).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Outcome = Literal["OK", "DENIED", "HIDDEN"]
OK: Outcome = "OK"
DENIED: Outcome = "DENIED"
HIDDEN: Outcome = "HIDDEN"

#: The callers with a key, in column order (key ids of tests/security/conftest.py).
CALLERS: tuple[str, ...] = ("player-b", "player-a", "dm-a", "admin")


@dataclass(frozen=True)
class Expect:
    """One RPC's row: outcome per keyed caller; ``public`` RPCs need no key at all."""

    other_player: Outcome
    player: Outcome
    dm: Outcome
    admin: Outcome
    public: bool = False

    def outcome(self, caller: str) -> Outcome:
        return (self.other_player, self.player, self.dm, self.admin)[CALLERS.index(caller)]


EVERYONE = Expect(OK, OK, OK, OK)
ADMIN_ONLY = Expect(DENIED, DENIED, DENIED, OK)
STAFF = Expect(DENIED, DENIED, OK, OK)  # the campaign's DM and administrators, no player
ITS_CAMPAIGN = Expect(DENIED, OK, OK, OK)  # anyone whose key covers campaign A
ITS_STAFF = Expect(DENIED, DENIED, OK, OK)  # DM of campaign A, administrators
SCOPED_BY_RESOURCE = Expect(HIDDEN, OK, OK, OK)  # allowed RPC, the resource of campaign A hidden from B
ITS_RESOURCE = SCOPED_BY_RESOURCE
NOBODY_BUT_SERVICES = Expect(
    DENIED, DENIED, DENIED, DENIED
)  # none of these keys is a service key  # named by id (character, session): hidden from other campaigns' keys

POLICY: dict[str, Expect] = {
    # memory: worlds, campaigns, sessions
    "MemoryService/CreateWorld": ADMIN_ONLY,
    "MemoryService/GetWorld": EVERYONE,
    "MemoryService/ListWorlds": EVERYONE,
    "MemoryService/CreateCampaign": ADMIN_ONLY,
    "MemoryService/GetCampaign": ITS_CAMPAIGN,
    "MemoryService/ListCampaigns": ADMIN_ONLY,
    "MemoryService/CreateSession": ITS_STAFF,
    "MemoryService/GetSession": ITS_RESOURCE,
    "MemoryService/ListSessions": ITS_CAMPAIGN,
    "MemoryService/UpdateSession": ITS_STAFF,
    # memory: characters
    "MemoryService/CreateCharacter": ITS_STAFF,
    "MemoryService/GetCharacter": ITS_RESOURCE,
    "MemoryService/ListCharacters": ITS_CAMPAIGN,
    "MemoryService/UpdateCharacterState": ITS_STAFF,
    "MemoryService/GetCharacterState": ITS_RESOURCE,
    # memory: world lore (world-level, players see the player audience)
    "MemoryService/CreateLocation": ADMIN_ONLY,
    "MemoryService/ListLocations": EVERYONE,
    "MemoryService/CreateLoreEntry": ADMIN_ONLY,
    "MemoryService/GetLoreEntry": EVERYONE,
    "MemoryService/ListLoreEntries": EVERYONE,
    "MemoryService/UpdateLoreEntry": ADMIN_ONLY,
    "MemoryService/DeleteLoreEntry": ADMIN_ONLY,
    "MemoryService/IngestLore": ADMIN_ONLY,
    # memory: campaign log, relationships, assets, moderation, retrieval, index
    "MemoryService/RecordEvent": ITS_STAFF,
    "MemoryService/ListEvents": ITS_CAMPAIGN,
    "MemoryService/CreateRelationship": ITS_STAFF,
    "MemoryService/ListRelationships": ITS_CAMPAIGN,
    "MemoryService/PutAsset": ITS_STAFF,
    "MemoryService/GetAsset": SCOPED_BY_RESOURCE,
    "MemoryService/LogModeration": ADMIN_ONLY,
    "MemoryService/ListModerationDecisions": ITS_STAFF,
    "MemoryService/RetrieveContext": ITS_CAMPAIGN,
    "MemoryService/Reindex": ADMIN_ONLY,
    "MemoryService/GetIndexStatus": STAFF,
    # memory: the shared table (the log stream; the turn queue and live relay are the gateway's own calls,
    # open through the gateway to service keys only)
    "MemoryService/WatchEvents": ITS_CAMPAIGN,
    "MemoryService/PublishLive": NOBODY_BUT_SERVICES,
    "MemoryService/AcquireTurn": NOBODY_BUT_SERVICES,
    "MemoryService/ReleaseTurn": NOBODY_BUT_SERVICES,
    # narrative
    "NarrativeService/Narrate": ITS_CAMPAIGN,
    "NarrativeService/PlotTwist": ITS_STAFF,
    "NarrativeService/SummarizeSession": ITS_STAFF,
    # encounter
    "EncounterService/GenerateEncounter": STAFF,
    "EncounterService/EvaluateEncounter": EVERYONE,
    "EncounterService/GetMonster": EVERYONE,
    "EncounterService/ListMonsters": EVERYONE,
    "EncounterService/RollDice": EVERYONE,
    "EncounterService/ResolveCheck": ITS_CAMPAIGN,
    "EncounterService/StartCombat": ITS_CAMPAIGN,
    "EncounterService/TakeAction": ITS_CAMPAIGN,
    "EncounterService/GetCombat": ITS_CAMPAIGN,
    "EncounterService/EndCombat": ITS_STAFF,
    # npc
    "NpcService/GenerateNpc": ITS_STAFF,
    "NpcService/BuildCreature": STAFF,
    "NpcService/GetNpcOptions": EVERYONE,
    "NpcService/BuildCharacter": ITS_CAMPAIGN,
    # item
    "ItemService/GenerateItem": STAFF,
    "ItemService/AppraiseItem": EVERYONE,
    # visual
    "VisualService/GenerateImage": ITS_STAFF,
    "VisualService/StreamImage": ITS_STAFF,
    "VisualService/BuildImagePrompt": SCOPED_BY_RESOURCE,
    # the gateway's own
    "GameMasterService/PlayTurn": ITS_CAMPAIGN,
    "GameMasterService/GenerateScene": ITS_STAFF,
    "GameMasterService/WatchCampaign": ITS_CAMPAIGN,
    "GameMasterService/GetStatus": Expect(OK, OK, OK, OK, public=True),
}
