"""Turn the ids and slugs callers send into rows, with the errors the contract promises.

Ids travel as decimal strings; anything else in an id field is INVALID_ARGUMENT naming the field, and a
well-formed id or slug with no row is NOT_FOUND. Values reach SQL only as bound parameters.
"""

from __future__ import annotations

import re
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from memory_svc import authz
from memory_svc.models import Base, Campaign, Character, GameSession, World
from mesh.errors import InvalidArgument, NotFound

T = TypeVar("T", bound=Base)

_ID = re.compile(r"^[0-9]{1,18}$")
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def parse_id(value: str, field: str, *, required: bool = True) -> int | None:
    """The integer id in ``value``; None when empty and not required."""
    text = value.strip()
    if not text:
        if required:
            raise InvalidArgument([(field, "must not be empty")])
        return None
    if not _ID.match(text):
        raise InvalidArgument([(field, f"must be a numeric id, got {value[:40]!r}")])
    return int(text)


def require_id(value: str, field: str) -> int:
    """Like ``parse_id`` for a required field."""
    parsed = parse_id(value, field)
    assert parsed is not None
    return parsed


def get_row(session: Session, model: type[T], row_id: int, resource: str) -> T:
    """The row with this primary key, or NotFound."""
    row = session.get(model, row_id)
    if row is None:
        raise NotFound(resource, str(row_id))
    return row


def world(session: Session, ref: str, field: str = "world_id") -> World:
    """A world by numeric id or slug."""
    text = ref.strip()
    if not text:
        raise InvalidArgument([(field, "must not be empty")])
    if _ID.match(text):
        return get_row(session, World, int(text), "world")
    if not SLUG.match(text) or len(text) > 64:
        raise InvalidArgument([(field, "must be a world id or a slug of [a-z0-9-]")])
    found = session.scalar(select(World).where(World.slug == text))
    if found is None:
        raise NotFound("world", text)
    return found


def campaign(session: Session, ref: str, field: str = "campaign_id") -> Campaign:
    """A campaign by id, if the caller may touch it (``memory_svc.authz``)."""
    row = get_row(session, Campaign, require_id(ref, field), "campaign")
    authz.check(row.id, "campaign", str(row.id))
    return row


def character(session: Session, ref: str, field: str = "character_id") -> Character:
    """A character by id, if the caller may touch its campaign."""
    row = get_row(session, Character, require_id(ref, field), "character")
    authz.check(row.campaign_id, "character", str(row.id))
    return row


def game_session(session: Session, ref: str, field: str = "session_id") -> GameSession:
    """A game session by id, if the caller may touch its campaign."""
    row = get_row(session, GameSession, require_id(ref, field), "session")
    authz.check(row.campaign_id, "session", str(row.id))
    return row
