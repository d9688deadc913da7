"""Conversions between memory protos and domain values; the servicer stays a thin adapter.

Timestamps are naive UTC in the domain and ``Timestamp`` on the wire; ids are strings on the wire.
"""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import json_format, timestamp_pb2

from dungeonmaster.v1 import memory_pb2
from memory_svc import (
    authz,
    characters,
    seats,
    sheets,
)
from memory_svc.columns import dumps
from memory_svc.kinds import Audience
from memory_svc.models import (
    Asset,
    Campaign,
    Character,
    Event,
    GameSession,
    Location,
    LoreEntry,
    ModerationRecord,
    Relationship,
    World,
)
from memory_svc.packing import Piece

# --- domain -> proto --------------------------------------------------------------------------------------------


def ts(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    """A naive-UTC datetime as a Timestamp (None stays unset)."""
    if value is None:
        return None
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(value.replace(tzinfo=UTC))
    return out


def from_ts(value: timestamp_pb2.Timestamp) -> datetime:
    """A Timestamp as naive UTC."""
    return value.ToDatetime()


def world_pb(w: World) -> memory_pb2.World:
    return memory_pb2.World(
        id=str(w.id), slug=w.slug, name=w.name, description=w.description, create_time=ts(w.created_at)
    )


def campaign_pb(c: Campaign) -> memory_pb2.Campaign:
    return memory_pb2.Campaign(
        id=str(c.id),
        world_id=str(c.world_id),
        name=c.name,
        description=c.description,
        create_time=ts(c.created_at),
    )


def session_pb(s: GameSession) -> memory_pb2.Session:
    return memory_pb2.Session(
        id=str(s.id),
        campaign_id=str(s.campaign_id),
        number=s.number,
        title=s.title,
        start_time=ts(s.started_at),
        end_time=ts(s.ended_at),
    )


def character_pb(c: Character, who: Audience) -> memory_pb2.Character:
    out = memory_pb2.Character(
        id=str(c.id),
        campaign_id=str(c.campaign_id),
        name=c.name,
        is_npc=c.is_npc,
        ancestry=c.ancestry,
        character_class=c.character_class,
        level=c.level,
        description=c.description,
        secrets=characters.visible_secrets(c, who),
        tags=list(c.tags),
        create_time=ts(c.created_at),
        owner=c.owner or "",
        sheet_json=sheets.sheet_text(c.sheet),
    )
    if c.stat_block:
        json_format.ParseDict(c.stat_block, out.stat_block, ignore_unknown_fields=True)
    return out


def state_pb(s: characters.StateView) -> memory_pb2.CharacterState:
    live = s.live or {}
    return memory_pb2.CharacterState(
        character_id=str(s.character_id),
        hit_points=s.hit_points,
        max_hit_points=s.max_hit_points,
        temporary_hit_points=s.temporary_hit_points,
        conditions=s.conditions,
        inventory=s.inventory,
        location_id=str(s.location_id) if s.location_id is not None else "",
        notes=s.notes,
        valid_from=ts(s.valid_from),
        valid_to=ts(s.valid_to),
        hit_dice_left=int(live.get("hit_dice", 0)),
        slots_used=[int(n) for n in live.get("slots_used", [])],
        resources_used={str(k): int(n) for k, n in live.get("resources_used", {}).items()},
        exhaustion=int(live.get("exhaustion", 0)),
        xp=int(live.get("xp", 0)),
        death_successes=int(live.get("death_successes", 0)),
        death_failures=int(live.get("death_failures", 0)),
        stable=bool(live.get("stable", False)),
        dead=bool(live.get("dead", False)),
    )


def location_pb(loc: Location) -> memory_pb2.Location:
    return memory_pb2.Location(
        id=str(loc.id),
        world_id=str(loc.world_id),
        parent_id=str(loc.parent_id) if loc.parent_id is not None else "",
        name=loc.name,
        kind=loc.kind,
        description=loc.description,
        terrains=list(loc.terrains),
    )


def entry_pb(e: LoreEntry, who: Audience = Audience.DM) -> memory_pb2.LoreEntry:
    """A lore entry; for a player audience its structured metadata without DM-only facts."""
    metadata = e.metadata_json if who == Audience.DM else authz.player_view(e.metadata_json)
    return memory_pb2.LoreEntry(
        id=str(e.id),
        world_id=str(e.world_id),
        key=e.key,
        category=e.category,
        title=e.title,
        content=e.text.content,
        keywords=e.keywords,
        metadata_json=dumps(metadata),
        content_hash=e.text.sha256,
        version=e.version,
        audience=e.audience,  # type: ignore[arg-type]
        pinned=e.pinned,
        superseded=e.superseded,
        deleted=e.deleted,
        source_path=e.source_path,
        create_time=ts(e.created_at),
    )


def event_pb(e: Event) -> memory_pb2.Event:
    return memory_pb2.Event(
        id=str(e.id),
        campaign_id=str(e.campaign_id),
        session_id=str(e.session_id) if e.session_id is not None else "",
        kind=e.kind,  # type: ignore[arg-type]
        actor=e.actor,
        content=e.content,
        metadata_json=dumps(e.metadata_json),
        audience=e.audience,  # type: ignore[arg-type]
        occur_time=ts(e.occurred_at),
        request_id=e.request_id,
        sequence=e.sequence,
        recipients=seats.decode(e.recipients),
    )


def relationship_pb(r: Relationship) -> memory_pb2.Relationship:
    return memory_pb2.Relationship(
        id=str(r.id),
        campaign_id=str(r.campaign_id),
        source=r.source,
        target=r.target,
        kind=r.kind,
        description=r.description,
        strength=r.strength,
    )


def asset_pb(a: Asset, with_data: bool) -> memory_pb2.Asset:
    return memory_pb2.Asset(
        sha256=a.sha256,
        kind=a.kind,
        mime_type=a.mime_type,
        data=a.data if with_data else b"",
        width=a.width,
        height=a.height,
        metadata_json=dumps(a.metadata_json),
        create_time=ts(a.created_at),
    )


def decision_pb(d: ModerationRecord) -> memory_pb2.ModerationDecision:
    return memory_pb2.ModerationDecision(
        id=str(d.id),
        campaign_id=str(d.campaign_id) if d.campaign_id is not None else "",
        direction=d.direction,
        allowed=d.allowed,
        categories=list(d.categories),
        backend=d.backend,
        reason=d.reason,
        text_sha256=d.text_sha256,
        create_time=ts(d.created_at),
    )


def piece_pb(p: Piece) -> memory_pb2.ContextPiece:
    return memory_pb2.ContextPiece(
        source=int(p.source),  # type: ignore[arg-type]
        source_id=p.source_id,
        citation=p.citation,
        title=p.title,
        text=p.text,
        score=p.score,
        tokens=p.tokens,
        audience=p.audience,  # type: ignore[arg-type]
    )


# --- proto -> domain --------------------------------------------------------------------------------------------


def state_input(s: memory_pb2.CharacterState) -> characters.StateInput:
    return characters.StateInput(
        hit_points=s.hit_points,
        max_hit_points=s.max_hit_points,
        temporary_hit_points=s.temporary_hit_points,
        conditions=tuple(s.conditions),
        inventory=tuple(s.inventory),
        location_id=s.location_id,
        notes=s.notes,
        live={
            "hit_dice": s.hit_dice_left,
            "slots_used": list(s.slots_used),
            "resources_used": dict(s.resources_used),
            "exhaustion": s.exhaustion,
            "xp": s.xp,
            "death_successes": s.death_successes,
            "death_failures": s.death_failures,
            "stable": s.stable,
            "dead": s.dead,
        },
    )
