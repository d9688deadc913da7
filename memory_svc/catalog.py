"""Worlds, campaigns, game sessions, locations and relationships: the plain records around the campaign log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from memory_svc import authz, paging, refs
from memory_svc.columns import utcnow
from memory_svc.db import Database
from memory_svc.models import (
    NAME_LEN,
    Campaign,
    GameSession,
    Location,
    Relationship,
    World,
)
from mesh.errors import FailedPrecondition, InvalidArgument, NotFound, Violations

DESCRIPTION_MAX = 4000

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing and the token of the next ("" at the end)."""

    items: list[T]
    next_token: str


def check_text(v: Violations, value: str, field: str, limit: int, *, required: bool = False) -> None:
    """Record violations for a bounded text field."""
    if required and not value.strip():
        v.add(field, "must not be empty")
    elif len(value) > limit:
        v.add(field, f"must be at most {limit} characters, got {len(value)}")


# --- worlds ------------------------------------------------------------------------------------------------------


def create_world(db: Database, slug: str, name: str, description: str = "") -> tuple[World, bool]:
    """Create a world, or return the existing one with this slug; the flag is True when it was created."""
    v = Violations()
    if not refs.SLUG.match(slug) or len(slug) > 64:
        v.add("slug", "must be 1-64 characters of [a-z0-9-], not starting or ending with '-'")
    check_text(v, name or slug, "name", NAME_LEN)
    check_text(v, description, "description", DESCRIPTION_MAX)
    v.raise_if_any()
    with db.read() as session:
        existing = session.scalar(select(World).where(World.slug == slug))
    if existing is not None:
        return existing, False
    try:
        with db.write() as session:
            world = World(slug=slug, name=name or slug, description=description)
            session.add(world)
        return world, True
    except IntegrityError:  # created concurrently
        with db.read() as session:
            return refs.world(session, slug, "slug"), False


def get_world(db: Database, ref: str) -> World:
    """A world by id or slug."""
    with db.read() as session:
        return refs.world(session, ref)


def list_worlds(db: Database, size: int, token: str) -> Page[World]:
    """Worlds in id order."""
    limit = paging.page_size(size)
    after = paging.after_id(token)
    with db.read() as session:
        rows = list(
            session.scalars(select(World).where(World.id > after).order_by(World.id).limit(limit + 1))
        )
    return _page(rows, limit)


# --- campaigns ---------------------------------------------------------------------------------------------------


def create_campaign(db: Database, world_ref: str, name: str, description: str = "") -> Campaign:
    """Create a campaign in a world."""
    v = Violations()
    check_text(v, name, "name", NAME_LEN, required=True)
    check_text(v, description, "description", DESCRIPTION_MAX)
    v.raise_if_any()
    with db.write() as session:
        world = refs.world(session, world_ref)
        campaign = Campaign(world_id=world.id, name=name.strip(), description=description)
        session.add(campaign)
    return campaign


def get_campaign(db: Database, ref: str) -> Campaign:
    """A campaign by id."""
    with db.read() as session:
        return refs.campaign(session, ref)


def list_campaigns(db: Database, world_ref: str, size: int, token: str) -> Page[Campaign]:
    """Campaigns in id order, optionally of one world."""
    limit = paging.page_size(size)
    after = paging.after_id(token)
    with db.read() as session:
        query = select(Campaign).where(Campaign.id > after)
        visible = authz.visible_campaign_ids()
        if visible is not None:
            query = query.where(Campaign.id.in_(visible))
        if world_ref:
            query = query.where(Campaign.world_id == refs.world(session, world_ref).id)
        rows = list(session.scalars(query.order_by(Campaign.id).limit(limit + 1)))
    return _page(rows, limit)


# --- sessions ----------------------------------------------------------------------------------------------------


def create_session(db: Database, campaign_ref: str, title: str) -> GameSession:
    """Start the next numbered session of a campaign and make it the campaign's current one."""
    v = Violations()
    check_text(v, title, "title", NAME_LEN)
    v.raise_if_any()
    with db.write() as session:
        campaign = refs.campaign(session, campaign_ref)
        last = session.scalar(
            select(func.max(GameSession.number)).where(GameSession.campaign_id == campaign.id)
        )
        game = GameSession(campaign_id=campaign.id, number=(last or 0) + 1, title=title)
        session.add(game)
        session.flush()
        campaign.current_session_id = game.id
    return game


def get_session(db: Database, ref: str) -> GameSession:
    """A game session by id."""
    with db.read() as session:
        return refs.game_session(session, ref)


def list_sessions(db: Database, campaign_ref: str, size: int, token: str) -> Page[GameSession]:
    """A campaign's sessions, oldest first."""
    limit = paging.page_size(size)
    after = paging.after_id(token)
    with db.read() as session:
        campaign = refs.campaign(session, campaign_ref)
        rows = list(
            session.scalars(
                select(GameSession)
                .where(GameSession.campaign_id == campaign.id, GameSession.id > after)
                .order_by(GameSession.id)
                .limit(limit + 1)
            )
        )
    return _page(rows, limit)


def update_session(db: Database, ref: str, title: str, end: bool) -> GameSession:
    """Retitle a session and/or end it (ending twice keeps the first end time)."""
    v = Violations()
    check_text(v, title, "title", NAME_LEN)
    v.raise_if_any()
    with db.write() as session:
        game = refs.game_session(session, ref)
        if title:
            game.title = title
        if end and game.ended_at is None:
            game.ended_at = utcnow()
    return game


# --- locations ---------------------------------------------------------------------------------------------------


def create_location(
    db: Database,
    world_ref: str,
    *,
    name: str,
    kind: str,
    description: str,
    terrains: list[str],
    parent_ref: str,
) -> Location:
    """Create a location, optionally inside a parent of the same world."""
    v = Violations()
    check_text(v, name, "location.name", NAME_LEN, required=True)
    check_text(v, kind, "location.kind", 50)
    check_text(v, description, "location.description", DESCRIPTION_MAX)
    for i, terrain in enumerate(terrains):
        check_text(v, terrain, f"location.terrains[{i}]", 50, required=True)
    parent_id = refs.parse_id(parent_ref, "location.parent_id", required=False)
    v.raise_if_any()
    with db.write() as session:
        world = refs.world(session, world_ref)
        if parent_id is not None:
            parent = session.get(Location, parent_id)
            if parent is None:
                raise NotFound("location", str(parent_id))
            if parent.world_id != world.id:
                raise InvalidArgument([("location.parent_id", "parent belongs to another world")])
        location = Location(
            world_id=world.id,
            parent_id=parent_id,
            name=name.strip(),
            kind=kind,
            description=description,
            terrains=list(terrains),
        )
        session.add(location)
    return location


def list_locations(db: Database, world_ref: str, parent_ref: str, size: int, token: str) -> Page[Location]:
    """A world's locations in id order, optionally only the children of one parent."""
    limit = paging.page_size(size)
    after = paging.after_id(token)
    parent_id = refs.parse_id(parent_ref, "parent_id", required=False)
    with db.read() as session:
        world = refs.world(session, world_ref)
        query = select(Location).where(Location.world_id == world.id, Location.id > after)
        if parent_id is not None:
            query = query.where(Location.parent_id == parent_id)
        rows = list(session.scalars(query.order_by(Location.id).limit(limit + 1)))
    return _page(rows, limit)


# --- relationships -----------------------------------------------------------------------------------------------


def create_relationship(
    db: Database,
    campaign_ref: str,
    *,
    source: str,
    target: str,
    kind: str,
    description: str,
    strength: int,
) -> Relationship:
    """Record a directed relationship between two entities of a campaign."""
    v = Violations()
    check_text(v, source, "relationship.source", NAME_LEN, required=True)
    check_text(v, target, "relationship.target", NAME_LEN, required=True)
    check_text(v, kind, "relationship.kind", 50, required=True)
    check_text(v, description, "relationship.description", DESCRIPTION_MAX)
    v.check(-100 <= strength <= 100, "relationship.strength", f"must be between -100 and 100, got {strength}")
    v.raise_if_any()
    if source == target:
        raise FailedPrecondition("a relationship needs two different entities")
    with db.write() as session:
        campaign = refs.campaign(session, campaign_ref)
        rel = Relationship(
            campaign_id=campaign.id,
            source=source,
            target=target,
            kind=kind,
            description=description,
            strength=strength,
        )
        session.add(rel)
    return rel


def list_relationships(
    db: Database, campaign_ref: str, entity: str, size: int, token: str
) -> Page[Relationship]:
    """A campaign's relationships in id order, optionally those touching one entity."""
    limit = paging.page_size(size)
    after = paging.after_id(token)
    with db.read() as session:
        campaign = refs.campaign(session, campaign_ref)
        query = select(Relationship).where(Relationship.campaign_id == campaign.id, Relationship.id > after)
        if entity:
            query = query.where(or_(Relationship.source == entity, Relationship.target == entity))
        rows = list(session.scalars(query.order_by(Relationship.id).limit(limit + 1)))
    return _page(rows, limit)


def _page(rows: list[Any], limit: int) -> Page[Any]:
    """Cut a ``limit + 1`` fetch into a page; rows must have an integer ``id``."""
    if len(rows) > limit:
        rows = rows[:limit]
        return Page(rows, paging.encode([rows[-1].id]))
    return Page(rows, "")
