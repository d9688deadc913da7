"""Domain objects -> ``dungeonmaster.v1`` messages (NPCs, provenance). No grpc, no logic.

Stat blocks use encounter_svc's converter (``stat_block_proto``), so every service renders the shared
``StatBlock`` contract the same way.
"""

from __future__ import annotations

from dungeonmaster.v1 import npc_pb2
from encounter_svc.convert import stat_block_proto
from npc_svc.builder import Npc


def npc_pb(npc: Npc) -> npc_pb2.Npc:
    p = npc.prose
    msg = npc_pb2.Npc(
        id=npc.id,
        name=npc.name.full,
        archetype=npc.archetype,
        rank=npc.rank,
        title=npc.title,
        culture=npc.culture,
        faith=npc.faith,
        region=npc.region,
        description=p.description,
        personality_tags=list(npc.personality_tags),
        traits=list(p.traits),
        ideals=list(p.ideals),
        bonds=list(p.bonds),
        flaws=list(p.flaws),
        motivations=list(p.motivations),
        mannerisms=list(p.mannerisms),
        voice=p.voice,
        secrets=list(p.secrets),
        stat_block=stat_block_proto(npc.stat_block),
        target_challenge_rating=npc.target_cr,
        rated_challenge_rating=npc.rated_cr,
        rating_note=npc.rating_note,
    )
    for r in npc.relationships:
        msg.relationships.add(target=r.target, target_id=r.target_id, kind=r.kind, description=r.description)
    return msg


#: The shared StatBlock converter under this module's naming.
stat_block_pb = stat_block_proto
