"""The relational schema (SQLAlchemy 2 typed ORM): the source of truth for campaigns and world lore.

Sizes follow the seed: bounded strings are NVARCHAR(n) (indexable, in-row), only long-form text (lore content,
event text) is NVARCHAR(MAX). Every foreign key and every lookup column has an index. The Alembic migration
in ``memory_svc/migrations`` creates exactly these tables (a test compares them) plus what the ORM cannot
express: the SQL Server temporal table / SQLite history trigger for character states, the full-text indexes
(SQL Server full-text / SQLite FTS5) and the JSON CHECK constraints.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    FetchedValue,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Unicode,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from memory_svc.columns import BigId, Blob, JsonDocument, LongText, Timestamp, utcnow

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SHA256_LEN = 64
REQUEST_ID_LEN = 128
NAME_LEN = 200
KIND_LEN = 50
DESCRIPTION_LEN = 4000
KEY_LEN = 300
PATH_LEN = 400
KEYWORD_LEN = 100
KEY_ID_LEN = 128
RECIPIENTS_LEN = 2200


class Base(DeclarativeBase):
    """Declarative base with a naming convention so constraint names are stable across dialects."""

    metadata = MetaData(naming_convention=NAMING)


def _fk(target: str, *, nullable: bool = False, ondelete: str | None = None) -> Mapped[Any]:
    return mapped_column(BigId, ForeignKey(target, ondelete=ondelete), nullable=nullable, index=True)


class World(Base):
    """A lore namespace shared by its campaigns."""

    __tablename__ = "worlds"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slug: Mapped[str] = mapped_column(Unicode(64), unique=True)
    name: Mapped[str] = mapped_column(Unicode(NAME_LEN))
    description: Mapped[str] = mapped_column(Unicode(DESCRIPTION_LEN), default="")
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class Campaign(Base):
    """A campaign played in a world."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    world_id: Mapped[int] = _fk("worlds.id")
    name: Mapped[str] = mapped_column(Unicode(NAME_LEN))
    description: Mapped[str] = mapped_column(Unicode(DESCRIPTION_LEN), default="")
    current_session_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("sessions.id", use_alter=True), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    #: Sequence of the campaign's last logged event; bumped in the event's transaction, so the row lock
    #: makes commit order equal sequence order.
    last_sequence: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class GameSession(Base):
    """One sitting of a campaign, numbered from 1."""

    __tablename__ = "sessions"
    __table_args__ = (UniqueConstraint("campaign_id", "number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = _fk("campaigns.id")
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Unicode(NAME_LEN), default="")
    started_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)


class Character(Base):
    """A player character or an NPC of a campaign."""

    __tablename__ = "characters"
    __table_args__ = (Index(None, "campaign_id", "is_npc"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = _fk("campaigns.id")
    name: Mapped[str] = mapped_column(Unicode(NAME_LEN), index=True)
    is_npc: Mapped[bool] = mapped_column(Boolean, default=False)
    ancestry: Mapped[str] = mapped_column(Unicode(100), default="")
    character_class: Mapped[str] = mapped_column(Unicode(100), default="")
    level: Mapped[int] = mapped_column(Integer, default=0)
    description: Mapped[str] = mapped_column(Unicode(DESCRIPTION_LEN), default="")
    secrets: Mapped[list[str]] = mapped_column(JsonDocument(list), default=list)
    stat_block: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument(dict), nullable=True)
    tags: Mapped[list[str]] = mapped_column(JsonDocument(list), default=list)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    #: Key id of the player seat controlling the character; NULL: only the DM role acts for it.
    owner: Mapped[str | None] = mapped_column(Unicode(KEY_ID_LEN), nullable=True, index=True)
    #: A player character's sheet (``rules.sheets.CharacterSheet.to_json``), validated before it is stored.
    sheet: Mapped[dict[str, Any] | None] = mapped_column("sheet_json", JsonDocument(dict), nullable=True)


class CharacterState(Base):
    """The current state of a character; older states live in ``character_states_history``.

    On SQL Server this is a system-versioned temporal table: ``valid_from``/``valid_to`` are GENERATED ALWAYS
    and the engine writes the history. On SQLite a trigger does the same. The application only ever updates
    this row, never the period columns.
    """

    __tablename__ = "character_states"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    character_id: Mapped[int] = mapped_column(BigId, ForeignKey("characters.id"), unique=True)
    hit_points: Mapped[int] = mapped_column(Integer, default=0)
    max_hit_points: Mapped[int] = mapped_column(Integer, default=0)
    temporary_hit_points: Mapped[int] = mapped_column(Integer, default=0)
    conditions: Mapped[list[str]] = mapped_column(JsonDocument(list), default=list)
    inventory: Mapped[list[str]] = mapped_column(JsonDocument(list), default=list)
    location_id: Mapped[int | None] = _fk("locations.id", nullable=True)
    notes: Mapped[str] = mapped_column(Unicode(DESCRIPTION_LEN), default="")
    request_id: Mapped[str | None] = mapped_column(Unicode(REQUEST_ID_LEN), nullable=True, index=True)
    #: A player character's live numbers beyond hit points and conditions (hit dice, slots, XP...).
    live: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument(dict), nullable=True)
    valid_from: Mapped[datetime] = mapped_column(
        Timestamp, server_default=FetchedValue(), server_onupdate=FetchedValue()
    )
    valid_to: Mapped[datetime] = mapped_column(
        Timestamp, server_default=FetchedValue(), server_onupdate=FetchedValue()
    )

    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012


#: History of character states (read-only for the application; written by the engine or the trigger).
character_states_history = Table(
    "character_states_history",
    Base.metadata,
    Column("id", BigId, nullable=False),
    Column("character_id", BigId, nullable=False),
    Column("hit_points", Integer, nullable=False),
    Column("max_hit_points", Integer, nullable=False),
    Column("temporary_hit_points", Integer, nullable=False),
    Column("conditions", JsonDocument(list), nullable=False),
    Column("inventory", JsonDocument(list), nullable=False),
    Column("location_id", BigId, nullable=True),
    Column("notes", Unicode(DESCRIPTION_LEN), nullable=False),
    Column("request_id", Unicode(REQUEST_ID_LEN), nullable=True, index=True),
    Column("valid_from", Timestamp, nullable=False),
    Column("valid_to", Timestamp, nullable=False),
    Column("live", JsonDocument(dict), nullable=True),
    Index(None, "character_id", "valid_to", "valid_from"),
)


class Location(Base):
    """A place in a world; ``parent_id`` nests it (a tavern in a city in a region)."""

    __tablename__ = "locations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    world_id: Mapped[int] = _fk("worlds.id")
    parent_id: Mapped[int | None] = _fk("locations.id", nullable=True)
    name: Mapped[str] = mapped_column(Unicode(NAME_LEN), index=True)
    kind: Mapped[str] = mapped_column(Unicode(KIND_LEN), default="")
    description: Mapped[str] = mapped_column(Unicode(DESCRIPTION_LEN), default="")
    terrains: Mapped[list[str]] = mapped_column(JsonDocument(list), default=list)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class Item(Base):
    """An item of a world or campaign, optionally owned by a character."""

    __tablename__ = "items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    world_id: Mapped[int | None] = _fk("worlds.id", nullable=True)
    campaign_id: Mapped[int | None] = _fk("campaigns.id", nullable=True)
    owner_character_id: Mapped[int | None] = _fk("characters.id", nullable=True)
    name: Mapped[str] = mapped_column(Unicode(NAME_LEN), index=True)
    item_type: Mapped[str] = mapped_column(Unicode(KIND_LEN), default="")
    rarity: Mapped[str] = mapped_column(Unicode(KIND_LEN), default="")
    description: Mapped[str] = mapped_column(Unicode(DESCRIPTION_LEN), default="")
    properties: Mapped[dict[str, Any]] = mapped_column(JsonDocument(dict), default=dict)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class LoreText(Base):
    """One copy of each distinct normalised lore text, addressed by its SHA-256 (entries share it)."""

    __tablename__ = "lore_texts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(SHA256_LEN), unique=True)
    content: Mapped[str] = mapped_column(LongText)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class LoreEntry(Base):
    """One version of a lore entry. An edit adds a version and marks this one superseded; delete is soft."""

    __tablename__ = "lore_entries"
    __table_args__ = (
        UniqueConstraint("world_id", "key", "version"),
        Index(None, "world_id", "key", "superseded"),
        Index(None, "world_id", "category"),
        Index(None, "world_id", "pinned", "superseded", "deleted"),
        Index(None, "world_id", "source_path"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("audience IN (1, 2)", name="audience_known"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    world_id: Mapped[int] = _fk("worlds.id")
    key: Mapped[str] = mapped_column(Unicode(KEY_LEN))
    version: Mapped[int] = mapped_column(Integer)
    text_id: Mapped[int] = _fk("lore_texts.id")
    category: Mapped[str] = mapped_column(Unicode(KIND_LEN), default="")
    title: Mapped[str] = mapped_column(Unicode(PATH_LEN), default="")
    metadata_json: Mapped[dict[str, Any]] = mapped_column("metadata", JsonDocument(dict), default=dict)
    audience: Mapped[int] = mapped_column(SmallInteger, default=1)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    source_path: Mapped[str] = mapped_column(Unicode(PATH_LEN), default="")
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    superseded_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)

    text: Mapped[LoreText] = relationship(lazy="joined", innerjoin=True)
    keyword_rows: Mapped[list[LoreKeyword]] = relationship(
        lazy="selectin", order_by="LoreKeyword.position", cascade="all, delete-orphan"
    )

    @property
    def keywords(self) -> list[str]:
        """Keywords in their stored order."""
        return [row.keyword for row in self.keyword_rows]

    @property
    def live(self) -> bool:
        """True for the current, non-deleted version (the only kind retrieval may return)."""
        return not (self.superseded or self.deleted)


class LoreKeyword(Base):
    """A keyword of a lore entry version, one row each so keyword lookups use an index."""

    __tablename__ = "lore_keywords"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_id: Mapped[int] = _fk("lore_entries.id")
    position: Mapped[int] = mapped_column(SmallInteger, default=0)
    keyword: Mapped[str] = mapped_column(Unicode(KEYWORD_LEN), index=True)


class Event(Base):
    """An entry of the campaign log, recorded once per client request id."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("campaign_id", "request_id"),
        Index(None, "campaign_id", "sequence", unique=True),
        Index(None, "campaign_id", "occurred_at", "id"),
        Index(None, "campaign_id", "kind"),
        CheckConstraint("audience IN (1, 2)", name="audience_known"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = _fk("campaigns.id")
    session_id: Mapped[int | None] = _fk("sessions.id", nullable=True)
    kind: Mapped[int] = mapped_column(SmallInteger)
    actor: Mapped[str] = mapped_column(Unicode(NAME_LEN), default="")
    content: Mapped[str] = mapped_column(LongText)
    content_sha256: Mapped[str] = mapped_column(String(SHA256_LEN))
    metadata_json: Mapped[dict[str, Any]] = mapped_column("metadata", JsonDocument(dict), default=dict)
    audience: Mapped[int] = mapped_column(SmallInteger, default=1)
    occurred_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    recorded_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    request_id: Mapped[str] = mapped_column(Unicode(REQUEST_ID_LEN))
    #: Position in the campaign log (1, 2, 3… per campaign, in commit order).
    sequence: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    #: A whisper's recipients as ",key-a,key-b," (so one LIKE finds a key); NULL: the whole audience.
    recipients: Mapped[str | None] = mapped_column(Unicode(RECIPIENTS_LEN), nullable=True)


class TurnTicket(Base):
    """A place in a campaign's turn queue: the lowest live ticket holds the turn lease, the rest wait.

    ``expires_at`` bounds every ticket: a waiting one by its caller's deadline, a granted one by its lease, so a
    caller that vanished never blocks the table for longer than that.
    """

    __tablename__ = "turn_tickets"
    __table_args__ = (UniqueConstraint("campaign_id", "turn_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = _fk("campaigns.id")
    turn_id: Mapped[str] = mapped_column(Unicode(REQUEST_ID_LEN))
    holder: Mapped[str] = mapped_column(Unicode(NAME_LEN), default="")
    granted: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[datetime] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class Relationship(Base):
    """A directed relationship between two entities of a campaign (characters, factions, locations)."""

    __tablename__ = "relationships"
    __table_args__ = (
        Index(None, "campaign_id", "source"),
        Index(None, "campaign_id", "target"),
        CheckConstraint("strength BETWEEN -100 AND 100", name="strength_range"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = _fk("campaigns.id")
    source: Mapped[str] = mapped_column(Unicode(NAME_LEN))
    target: Mapped[str] = mapped_column(Unicode(NAME_LEN))
    kind: Mapped[str] = mapped_column(Unicode(KIND_LEN))
    description: Mapped[str] = mapped_column(Unicode(DESCRIPTION_LEN), default="")
    strength: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class Asset(Base):
    """A stored binary (an image), identified by the SHA-256 of its bytes."""

    __tablename__ = "assets"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(SHA256_LEN), unique=True)
    campaign_id: Mapped[int | None] = _fk("campaigns.id", nullable=True)
    kind: Mapped[str] = mapped_column(Unicode(KIND_LEN), default="")
    mime_type: Mapped[str] = mapped_column(Unicode(100), default="application/octet-stream")
    data: Mapped[bytes] = mapped_column(Blob)
    width: Mapped[int] = mapped_column(Integer, default=0)
    height: Mapped[int] = mapped_column(Integer, default=0)
    metadata_json: Mapped[dict[str, Any]] = mapped_column("metadata", JsonDocument(dict), default=dict)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class ModerationRecord(Base):
    """A moderation decision; only the SHA-256 of the screened text is kept, never the text."""

    __tablename__ = "moderation_log"
    __table_args__ = (Index(None, "campaign_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("campaigns.id"), nullable=True)
    direction: Mapped[str] = mapped_column(Unicode(16))
    allowed: Mapped[bool] = mapped_column(Boolean)
    categories: Mapped[list[str]] = mapped_column(JsonDocument(list), default=list)
    backend: Mapped[str] = mapped_column(Unicode(KIND_LEN), default="")
    reason: Mapped[str] = mapped_column(Unicode(1000), default="")
    text_sha256: Mapped[str] = mapped_column(String(SHA256_LEN), default="")
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, index=True)


class OutboxRow(Base):
    """A pending change to the vector index, written in the same transaction as the SQL change it mirrors."""

    __tablename__ = "vector_outbox"
    __table_args__ = (Index(None, "available_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    scope_id: Mapped[int] = mapped_column(BigId)
    row_id: Mapped[int] = mapped_column(BigId)
    op: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    last_error: Mapped[str] = mapped_column(Unicode(1000), default="")
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class Embedding(Base):
    """A cached embedding: one per (model, SHA-256 of the embedded text), so no text is embedded twice.

    This is the seed's VectorEmbeddings table (VARBINARY(MAX) float32 vectors); Milvus holds the searchable
    copy and is rebuilt from here without touching the model.
    """

    __tablename__ = "embeddings"

    model: Mapped[str] = mapped_column(Unicode(NAME_LEN), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(SHA256_LEN), primary_key=True)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(Blob)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
