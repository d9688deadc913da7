"""A newcomer's first session: the sample world ingested and a demo campaign with a pregenerated party of four.

The launcher calls :func:`ensure_demo` once every service is up, through the gateway like any client (the
services' own ports take only the mesh's certificates). It is idempotent: the world is ingested only
when memory does not know it yet, the campaign is found by name before one is created, and each hero is built
(by npc_svc's ``BuildCharacter``, stored in memory) only when the campaign lacks a character of that name, so
a restart, or a start after a crash half-way, ends with exactly one campaign and four heroes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from dungeonmaster.v1 import memory_pb2, memory_pb2_grpc, npc_pb2, npc_pb2_grpc
from lore.world_folder import world_documents

DEMO_CAMPAIGN = "The Drowned Bells"
DEMO_DESCRIPTION = "A demo campaign: the bells of a drowned chapel ring again at low tide, and people vanish."
#: The pregenerated party: (name, class), all at DEMO_LEVEL; the first is who ``play`` joins as.
DEMO_PARTY: tuple[tuple[str, str], ...] = (
    ("Ash", "fighter"),
    ("Bree", "rogue"),
    ("Cor", "cleric"),
    ("Dov", "wizard"),
)
DEMO_LEVEL = 3
TIMEOUT_S = 60.0
Metadata = Sequence[tuple[str, str]]
INGEST_TIMEOUT_S = 600.0


@dataclass
class Demo:
    """The demo campaign, its heroes (name -> memory id) and what this call had to create."""

    world: str
    campaign_id: str
    characters: dict[str, str] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)


def ensure_world(
    memory: memory_pb2_grpc.MemoryServiceStub, folder: Path, metadata: Metadata = ()
) -> tuple[str, bool]:
    """The world's slug, ingesting the folder first when memory does not know the world; (slug, ingested)."""
    info, docs = world_documents(folder)
    try:
        memory.GetWorld(
            memory_pb2.GetWorldRequest(world_id=info["slug"]), metadata=metadata, timeout=TIMEOUT_S
        )
        return info["slug"], False
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND:
            raise
    memory.CreateWorld(
        memory_pb2.CreateWorldRequest(slug=info["slug"], name=info["name"], description=info["description"]),
        metadata=metadata,
        timeout=TIMEOUT_S,
    )

    def requests() -> Iterator[memory_pb2.IngestLoreRequest]:
        for i, doc in enumerate(docs):
            yield memory_pb2.IngestLoreRequest(
                world_id=info["slug"] if i == 0 else "",
                path=str(doc.relative_to(folder)),
                content=doc.read_text(encoding="utf-8"),
            )

    memory.IngestLore(requests(), metadata=metadata, timeout=INGEST_TIMEOUT_S)
    return info["slug"], True


def find_campaign(
    memory: memory_pb2_grpc.MemoryServiceStub, world: str, name: str, metadata: Metadata = ()
) -> str:
    """The id of ``world``'s campaign called ``name``, or ""."""
    token = ""
    while True:
        page = memory.ListCampaigns(
            memory_pb2.ListCampaignsRequest(world_id=world, page_size=1000, page_token=token),
            metadata=metadata,
            timeout=TIMEOUT_S,
        )
        for campaign in page.campaigns:
            if campaign.name == name:
                return str(campaign.id)
        token = page.next_page_token
        if not token:
            return ""


def player_characters(
    memory: memory_pb2_grpc.MemoryServiceStub, campaign_id: str, metadata: Metadata = ()
) -> dict[str, str]:
    """The campaign's player characters, name -> id (the first of a name wins)."""
    reply = memory.ListCharacters(
        memory_pb2.ListCharactersRequest(campaign_id=campaign_id, is_npc=False, page_size=1000),
        metadata=metadata,
        timeout=TIMEOUT_S,
    )
    found: dict[str, str] = {}
    for character in reply.characters:
        found.setdefault(character.name, character.id)
    return found


def ensure_demo(gateway: grpc.Channel, world_folder: Path, metadata: Metadata = ()) -> Demo:
    """The sample world, the demo campaign and its four heroes, creating whatever is missing (``metadata``: the
    caller's API key, when the gateway has keys configured)."""
    memory = memory_pb2_grpc.MemoryServiceStub(gateway)
    npc = npc_pb2_grpc.NpcServiceStub(gateway)
    world, ingested = ensure_world(memory, world_folder, metadata)
    demo = Demo(world, find_campaign(memory, world, DEMO_CAMPAIGN, metadata))
    if ingested:
        demo.created.append(f"world {world}")
    if not demo.campaign_id:
        demo.campaign_id = memory.CreateCampaign(
            memory_pb2.CreateCampaignRequest(
                world_id=world, name=DEMO_CAMPAIGN, description=DEMO_DESCRIPTION
            ),
            metadata=metadata,
            timeout=TIMEOUT_S,
        ).campaign.id
        demo.created.append(f"campaign {DEMO_CAMPAIGN}")
    existing = player_characters(memory, demo.campaign_id, metadata)
    for name, character_class in DEMO_PARTY:
        if name in existing:
            demo.characters[name] = existing[name]
            continue
        reply = npc.BuildCharacter(
            npc_pb2.BuildCharacterRequest(
                campaign_id=demo.campaign_id,
                name=name,
                character_class=character_class,
                level=DEMO_LEVEL,
                pregenerated=True,
                save=True,
            ),
            metadata=metadata,
            timeout=TIMEOUT_S,
        )
        demo.characters[name] = reply.character_id
        demo.created.append(f"{name} ({character_class} {DEMO_LEVEL})")
    warm_up(memory, demo.campaign_id, metadata)
    return demo


def warm_up(memory: memory_pb2_grpc.MemoryServiceStub, campaign_id: str, metadata: Metadata = ()) -> None:
    """One retrieval, so the embedding model is loaded before the first player waits on it (best effort)."""
    try:
        memory.RetrieveContext(
            memory_pb2.RetrieveContextRequest(
                campaign_id=campaign_id, query=DEMO_DESCRIPTION, token_budget=256
            ),
            metadata=metadata,
            timeout=INGEST_TIMEOUT_S,
        )
    except grpc.RpcError as exc:
        if exc.code() not in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE):
            raise
