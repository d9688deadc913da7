"""``MemoryPort`` over gRPC: memory_svc through ``mesh.channels``, protos mapped to the NPC domain's values.

An adapter (like the servicer, it is where grpc meets the domain): gRPC failures become ``mesh.errors``. Saving
an NPC is three kinds of write: ``CreateCharacter`` with the secrets in ``Character.secrets`` (memory returns
them only to the DM audience); two ``RecordEvent`` notes, the public introduction for everyone and the secrets
for the DM audience only (so retrieval finds the NPC, and a player-audience retrieval never finds a secret);
and one ``CreateRelationship`` per relationship. Events carry request ids derived from the NPC's id, so a
retried save does not log twice.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Sequence
from typing import TypeVar

import grpc

from dungeonmaster.v1 import common_pb2, memory_pb2, memory_pb2_grpc
from mesh.channels import Channels, memory_error
from mesh.settings import Settings
from npc_svc.convert import stat_block_pb
from npc_svc.ports import CampaignCharacter, CampaignFaction, NpcRecord, SavedNpc

T = TypeVar("T")
SERVICE = "dungeonmaster.v1.MemoryService"
IDEMPOTENT = tuple(f"{SERVICE}/{m}" for m in ("ListCharacters", "ListRelationships", "RecordEvent"))
PAGE = 1000
#: Pages read at most per listing (100k rows): a campaign beyond that is a bug, not a workload.
MAX_PAGES = 100


class GrpcMemory:
    """The memory service, reached through the mesh's shared channels."""

    def __init__(self, settings: Settings, channels: Channels | None = None) -> None:
        self.channels = channels or Channels(settings, idempotent=IDEMPOTENT)

    @property
    def stub(self) -> memory_pb2_grpc.MemoryServiceStub:
        return memory_pb2_grpc.MemoryServiceStub(self.channels.for_service("memory"))

    async def _call(self, call: Awaitable[T], campaign_id: str) -> T:
        try:
            return await call
        except grpc.aio.AioRpcError as exc:
            raise memory_error(exc, "campaign", campaign_id, "campaign_id") from exc

    async def campaign_npcs(self, campaign_id: str) -> Sequence[CampaignCharacter]:
        out: list[CampaignCharacter] = []
        token = ""
        for _ in range(MAX_PAGES):
            request = memory_pb2.ListCharactersRequest(
                campaign_id=campaign_id, is_npc=True, page_size=PAGE, page_token=token
            )
            reply = await self._call(self.stub.ListCharacters(request), campaign_id)
            out += [CampaignCharacter(c.id, c.name, tuple(c.tags)) for c in reply.characters]
            token = reply.next_page_token
            if not token:
                break
        return out

    async def campaign_factions(self, campaign_id: str) -> Sequence[CampaignFaction]:
        seen: dict[str, CampaignFaction] = {}
        token = ""
        for _ in range(MAX_PAGES):
            request = memory_pb2.ListRelationshipsRequest(
                campaign_id=campaign_id, page_size=PAGE, page_token=token
            )
            reply = await self._call(self.stub.ListRelationships(request), campaign_id)
            for rel in reply.relationships:
                for entity in (rel.source, rel.target):
                    if entity.startswith("faction:"):
                        ident = entity.removeprefix("faction:")
                        seen.setdefault(ident, CampaignFaction(ident, ident.replace("-", " ").title()))
            token = reply.next_page_token
            if not token:
                break
        return list(seen.values())

    async def save_npc(self, record: NpcRecord) -> SavedNpc:
        cid = record.campaign_id
        character = memory_pb2.Character(
            campaign_id=cid,
            name=record.name,
            is_npc=True,
            ancestry=record.ancestry,
            character_class=record.archetype,
            description=record.description,
            secrets=list(record.secrets),
            stat_block=stat_block_pb(record.stat_block),
            tags=list(record.tags),
        )
        created = await self._call(
            self.stub.CreateCharacter(
                memory_pb2.CreateCharacterRequest(campaign_id=cid, character=character)
            ),
            cid,
        )
        char_id = created.character.id
        events = []
        for suffix, audience, content in (
            ("intro", common_pb2.AUDIENCE_PLAYER, record.public_summary),
            (
                "secrets",
                common_pb2.AUDIENCE_DM,
                f"Secrets of {record.name} (DM only): " + " ".join(record.secrets),
            ),
        ):
            event = memory_pb2.Event(
                campaign_id=cid,
                kind=memory_pb2.EVENT_KIND_NOTE,
                actor=record.name,
                content=content,
                metadata_json=json.dumps({"npc_id": record.npc_id, "character_id": char_id, "part": suffix}),
                audience=audience,
            )
            reply = await self._call(
                self.stub.RecordEvent(
                    memory_pb2.RecordEventRequest(
                        campaign_id=cid, event=event, request_id=f"{record.npc_id}:{suffix}"
                    )
                ),
                cid,
            )
            events.append(reply.event.id)
        rel_ids = []
        for target, kind, description in record.relationships:
            rel = memory_pb2.Relationship(
                campaign_id=cid,
                source=f"character:{char_id}",
                target=target,
                kind=kind,
                description=description,
            )
            made = await self._call(
                self.stub.CreateRelationship(
                    memory_pb2.CreateRelationshipRequest(campaign_id=cid, relationship=rel)
                ),
                cid,
            )
            rel_ids.append(made.relationship.id)
        return SavedNpc(char_id, tuple(events), tuple(rel_ids))

    async def save_character(self, campaign_id: str, name: str, description: str, sheet_json: str) -> str:
        character = memory_pb2.Character(
            campaign_id=campaign_id, name=name, description=description, sheet_json=sheet_json
        )
        created = await self._call(
            self.stub.CreateCharacter(
                memory_pb2.CreateCharacterRequest(campaign_id=campaign_id, character=character)
            ),
            campaign_id,
        )
        return str(created.character.id)

    async def close(self) -> None:
        await self.channels.close()
