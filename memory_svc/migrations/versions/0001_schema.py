"""Initial schema: worlds, campaigns, sessions, characters and their state history, locations, items,
versioned lore with one copy of each text, the campaign log, relationships, assets, moderation log,
the vector outbox and the embedding cache.

What differs by dialect, with the same meaning on both:
- character state history: a system-versioned temporal table on SQL Server; on SQLite a history table
  filled by a trigger that stamps the same ``valid_from``/``valid_to`` periods;
- keyword search: SQL Server full-text indexes on lore and event content; SQLite FTS5 tables kept in step
  by triggers;
- JSON columns: CHECK (ISJSON(...) = 1) on SQL Server, CHECK (json_valid(...)) on SQLite.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mssql as mssql_types

_DATETIME2 = mssql_types.DATETIME2(precision=7)  # type: ignore[no-untyped-call]
_VARBINARY = mssql_types.VARBINARY()  # type: ignore[no-untyped-call]

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Ts = sa.DateTime().with_variant(_DATETIME2, "mssql")
Blob = sa.LargeBinary().with_variant(_VARBINARY, "mssql")
#: Long-form text: NVARCHAR(MAX) on SQL Server (never the deprecated NTEXT, which ISJSON rejects).
Text = sa.UnicodeText().with_variant(mssql_types.NVARCHAR(), "mssql")

#: SQLite's clock with microsecond digits, the format SQLAlchemy reads and writes for DateTime.
SQLITE_NOW = "(strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')"
SQLITE_END_OF_TIME = "'9999-12-31 23:59:59.999999'"


def _mssql() -> bool:
    return op.get_context().dialect.name == "mssql"


def _json(table: str, column: str) -> sa.CheckConstraint:
    # SQLite's json_valid(NULL) is 0, not NULL, so nullable columns need the explicit IS NULL.
    expr = f"ISJSON({column}) = 1" if _mssql() else f"{column} IS NULL OR json_valid({column})"
    return sa.CheckConstraint(expr, name=op.f(f"ck_{table}_{column}_is_json"))


def _id() -> sa.Column[int]:
    return sa.Column("id", BigId, primary_key=True, autoincrement=True)


def _fk(column: str, target: str, table: str, *, nullable: bool = False) -> sa.Column[int]:
    ref_table = target.split(".")[0]
    return sa.Column(
        column,
        BigId,
        sa.ForeignKey(target, name=f"fk_{table}_{column}_{ref_table}"),
        nullable=nullable,
    )


def _index(table: str, *columns: str, unique: bool = False) -> None:
    op.create_index(f"ix_{table}_{'_'.join(columns)}", table, list(columns), unique=unique)


def upgrade() -> None:
    mssql = _mssql()

    op.create_table(
        "worlds",
        _id(),
        sa.Column("slug", sa.Unicode(64), nullable=False),
        sa.Column("name", sa.Unicode(200), nullable=False),
        sa.Column("description", sa.Unicode(4000), nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_worlds"),
        sa.UniqueConstraint("slug", name="uq_worlds_slug"),
    )

    campaign_cols: list[sa.Column[int] | sa.Constraint] = [
        sa.Column("current_session_id", BigId, nullable=True),
    ]
    if not mssql:
        # SQLite accepts a forward reference; SQL Server gets the constraint once sessions exists.
        campaign_cols.append(
            sa.ForeignKeyConstraint(
                ["current_session_id"], ["sessions.id"], name="fk_campaigns_current_session_id_sessions"
            )
        )
    op.create_table(
        "campaigns",
        _id(),
        _fk("world_id", "worlds.id", "campaigns"),
        sa.Column("name", sa.Unicode(200), nullable=False),
        sa.Column("description", sa.Unicode(4000), nullable=False),
        *campaign_cols,
        sa.Column("created_at", Ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_campaigns"),
    )
    _index("campaigns", "world_id")
    _index("campaigns", "current_session_id")

    op.create_table(
        "sessions",
        _id(),
        _fk("campaign_id", "campaigns.id", "sessions"),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.Unicode(200), nullable=False),
        sa.Column("started_at", Ts, nullable=False),
        sa.Column("ended_at", Ts, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
        sa.UniqueConstraint("campaign_id", "number", name="uq_sessions_campaign_id_number"),
    )
    _index("sessions", "campaign_id")
    if mssql:
        op.create_foreign_key(
            "fk_campaigns_current_session_id_sessions",
            "campaigns",
            "sessions",
            ["current_session_id"],
            ["id"],
        )

    op.create_table(
        "characters",
        _id(),
        _fk("campaign_id", "campaigns.id", "characters"),
        sa.Column("name", sa.Unicode(200), nullable=False),
        sa.Column("is_npc", sa.Boolean(), nullable=False),
        sa.Column("ancestry", sa.Unicode(100), nullable=False),
        sa.Column("character_class", sa.Unicode(100), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("description", sa.Unicode(4000), nullable=False),
        sa.Column("secrets", Text, nullable=False),
        sa.Column("stat_block", Text, nullable=True),
        sa.Column("tags", Text, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_characters"),
        _json("characters", "secrets"),
        _json("characters", "stat_block"),
        _json("characters", "tags"),
    )
    _index("characters", "campaign_id")
    _index("characters", "name")
    _index("characters", "campaign_id", "is_npc")

    op.create_table(
        "locations",
        _id(),
        _fk("world_id", "worlds.id", "locations"),
        _fk("parent_id", "locations.id", "locations", nullable=True),
        sa.Column("name", sa.Unicode(200), nullable=False),
        sa.Column("kind", sa.Unicode(50), nullable=False),
        sa.Column("description", sa.Unicode(4000), nullable=False),
        sa.Column("terrains", Text, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_locations"),
        _json("locations", "terrains"),
    )
    _index("locations", "world_id")
    _index("locations", "parent_id")
    _index("locations", "name")

    _create_character_states(mssql)

    op.create_table(
        "items",
        _id(),
        _fk("world_id", "worlds.id", "items", nullable=True),
        _fk("campaign_id", "campaigns.id", "items", nullable=True),
        _fk("owner_character_id", "characters.id", "items", nullable=True),
        sa.Column("name", sa.Unicode(200), nullable=False),
        sa.Column("item_type", sa.Unicode(50), nullable=False),
        sa.Column("rarity", sa.Unicode(50), nullable=False),
        sa.Column("description", sa.Unicode(4000), nullable=False),
        sa.Column("properties", Text, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_items"),
        _json("items", "properties"),
    )
    for column in ("world_id", "campaign_id", "owner_character_id", "name"):
        _index("items", column)

    op.create_table(
        "lore_texts",
        _id(),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", Text, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lore_texts"),
        sa.UniqueConstraint("sha256", name="uq_lore_texts_sha256"),
    )

    op.create_table(
        "lore_entries",
        _id(),
        _fk("world_id", "worlds.id", "lore_entries"),
        sa.Column("key", sa.Unicode(300), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _fk("text_id", "lore_texts.id", "lore_entries"),
        sa.Column("category", sa.Unicode(50), nullable=False),
        sa.Column("title", sa.Unicode(400), nullable=False),
        sa.Column("metadata", Text, nullable=False),
        sa.Column("audience", sa.SmallInteger(), nullable=False),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("superseded", sa.Boolean(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("source_path", sa.Unicode(400), nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("superseded_at", Ts, nullable=True),
        sa.Column("deleted_at", Ts, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_lore_entries"),
        sa.UniqueConstraint("world_id", "key", "version", name="uq_lore_entries_world_id_key_version"),
        sa.CheckConstraint("version >= 1", name=op.f("ck_lore_entries_version_positive")),
        sa.CheckConstraint("audience IN (1, 2)", name=op.f("ck_lore_entries_audience_known")),
        _json("lore_entries", "metadata"),
    )
    _index("lore_entries", "world_id")
    _index("lore_entries", "text_id")
    _index("lore_entries", "world_id", "key", "superseded")
    _index("lore_entries", "world_id", "category")
    _index("lore_entries", "world_id", "pinned", "superseded", "deleted")
    _index("lore_entries", "world_id", "source_path")

    op.create_table(
        "lore_keywords",
        _id(),
        _fk("entry_id", "lore_entries.id", "lore_keywords"),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("keyword", sa.Unicode(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lore_keywords"),
    )
    _index("lore_keywords", "entry_id")
    _index("lore_keywords", "keyword")

    op.create_table(
        "events",
        _id(),
        _fk("campaign_id", "campaigns.id", "events"),
        _fk("session_id", "sessions.id", "events", nullable=True),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("actor", sa.Unicode(200), nullable=False),
        sa.Column("content", Text, nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("metadata", Text, nullable=False),
        sa.Column("audience", sa.SmallInteger(), nullable=False),
        sa.Column("occurred_at", Ts, nullable=False),
        sa.Column("recorded_at", Ts, nullable=False),
        sa.Column("request_id", sa.Unicode(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.UniqueConstraint("campaign_id", "request_id", name="uq_events_campaign_id_request_id"),
        sa.CheckConstraint("audience IN (1, 2)", name=op.f("ck_events_audience_known")),
        _json("events", "metadata"),
    )
    _index("events", "campaign_id")
    _index("events", "session_id")
    _index("events", "campaign_id", "occurred_at", "id")
    _index("events", "campaign_id", "kind")

    op.create_table(
        "relationships",
        _id(),
        _fk("campaign_id", "campaigns.id", "relationships"),
        sa.Column("source", sa.Unicode(200), nullable=False),
        sa.Column("target", sa.Unicode(200), nullable=False),
        sa.Column("kind", sa.Unicode(50), nullable=False),
        sa.Column("description", sa.Unicode(4000), nullable=False),
        sa.Column("strength", sa.Integer(), nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_relationships"),
        sa.CheckConstraint("strength BETWEEN -100 AND 100", name=op.f("ck_relationships_strength_range")),
    )
    _index("relationships", "campaign_id")
    _index("relationships", "campaign_id", "source")
    _index("relationships", "campaign_id", "target")

    op.create_table(
        "assets",
        _id(),
        sa.Column("sha256", sa.String(64), nullable=False),
        _fk("campaign_id", "campaigns.id", "assets", nullable=True),
        sa.Column("kind", sa.Unicode(50), nullable=False),
        sa.Column("mime_type", sa.Unicode(100), nullable=False),
        sa.Column("data", Blob, nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("metadata", Text, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_assets"),
        sa.UniqueConstraint("sha256", name="uq_assets_sha256"),
        _json("assets", "metadata"),
    )
    _index("assets", "campaign_id")

    op.create_table(
        "moderation_log",
        _id(),
        _fk("campaign_id", "campaigns.id", "moderation_log", nullable=True),
        sa.Column("direction", sa.Unicode(16), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("categories", Text, nullable=False),
        sa.Column("backend", sa.Unicode(50), nullable=False),
        sa.Column("reason", sa.Unicode(1000), nullable=False),
        sa.Column("text_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_moderation_log"),
        _json("moderation_log", "categories"),
    )
    _index("moderation_log", "campaign_id", "created_at")
    _index("moderation_log", "created_at")

    op.create_table(
        "vector_outbox",
        _id(),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("scope_id", BigId, nullable=False),
        sa.Column("row_id", BigId, nullable=False),
        sa.Column("op", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", Ts, nullable=False),
        sa.Column("last_error", sa.Unicode(1000), nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_vector_outbox"),
    )
    _index("vector_outbox", "available_at", "id")

    op.create_table(
        "embeddings",
        sa.Column("model", sa.Unicode(200), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("vector", Blob, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.PrimaryKeyConstraint("model", "sha256", name="pk_embeddings"),
    )

    _create_full_text(mssql)


def _create_character_states(mssql: bool) -> None:
    """Current character states plus their history (temporal table on SQL Server, trigger on SQLite)."""
    if mssql:
        op.execute(
            """
CREATE TABLE character_states (
    id BIGINT IDENTITY(1,1) NOT NULL,
    character_id BIGINT NOT NULL,
    hit_points INTEGER NOT NULL,
    max_hit_points INTEGER NOT NULL,
    temporary_hit_points INTEGER NOT NULL,
    conditions NVARCHAR(max) NOT NULL,
    inventory NVARCHAR(max) NOT NULL,
    location_id BIGINT NULL,
    notes NVARCHAR(4000) NOT NULL,
    request_id NVARCHAR(128) NULL,
    valid_from DATETIME2(7) GENERATED ALWAYS AS ROW START NOT NULL,
    valid_to DATETIME2(7) GENERATED ALWAYS AS ROW END NOT NULL,
    PERIOD FOR SYSTEM_TIME (valid_from, valid_to),
    CONSTRAINT pk_character_states PRIMARY KEY (id),
    CONSTRAINT uq_character_states_character_id UNIQUE (character_id),
    CONSTRAINT fk_character_states_character_id_characters FOREIGN KEY (character_id) REFERENCES characters (id),
    CONSTRAINT fk_character_states_location_id_locations FOREIGN KEY (location_id) REFERENCES locations (id),
    CONSTRAINT ck_character_states_conditions_is_json CHECK (ISJSON(conditions) = 1),
    CONSTRAINT ck_character_states_inventory_is_json CHECK (ISJSON(inventory) = 1)
)
WITH (SYSTEM_VERSIONING = ON (HISTORY_TABLE = dbo.character_states_history))"""
        )
    else:

        def state_columns() -> list[sa.Column[object]]:
            return [
                sa.Column("hit_points", sa.Integer(), nullable=False),
                sa.Column("max_hit_points", sa.Integer(), nullable=False),
                sa.Column("temporary_hit_points", sa.Integer(), nullable=False),
                sa.Column("conditions", Text, nullable=False),
                sa.Column("inventory", Text, nullable=False),
            ]

        op.create_table(
            "character_states",
            _id(),
            sa.Column(
                "character_id",
                BigId,
                sa.ForeignKey("characters.id", name="fk_character_states_character_id_characters"),
                nullable=False,
            ),
            *state_columns(),
            _fk("location_id", "locations.id", "character_states", nullable=True),
            sa.Column("notes", sa.Unicode(4000), nullable=False),
            sa.Column("request_id", sa.Unicode(128), nullable=True),
            sa.Column("valid_from", Ts, nullable=False, server_default=sa.text(SQLITE_NOW)),
            sa.Column("valid_to", Ts, nullable=False, server_default=sa.text(SQLITE_END_OF_TIME)),
            sa.PrimaryKeyConstraint("id", name="pk_character_states"),
            sa.UniqueConstraint("character_id", name="uq_character_states_character_id"),
            _json("character_states", "conditions"),
            _json("character_states", "inventory"),
        )
        op.create_table(
            "character_states_history",
            sa.Column("id", BigId, nullable=False),
            sa.Column("character_id", BigId, nullable=False),
            *state_columns(),
            sa.Column("location_id", BigId, nullable=True),
            sa.Column("notes", sa.Unicode(4000), nullable=False),
            sa.Column("request_id", sa.Unicode(128), nullable=True),
            sa.Column("valid_from", Ts, nullable=False),
            sa.Column("valid_to", Ts, nullable=False),
        )
        columns = (
            "id, character_id, hit_points, max_hit_points, temporary_hit_points, conditions, inventory, "
            "location_id, notes, request_id"
        )
        old = ", ".join(f"OLD.{c.strip()}" for c in columns.split(","))
        op.execute(
            f"""
CREATE TRIGGER trg_character_states_history AFTER UPDATE ON character_states
FOR EACH ROW BEGIN
    INSERT INTO character_states_history ({columns}, valid_from, valid_to)
    VALUES ({old}, OLD.valid_from, {SQLITE_NOW});
    UPDATE character_states SET valid_from = {SQLITE_NOW} WHERE id = NEW.id;
END"""
        )
    _index("character_states", "location_id")
    _index("character_states", "request_id")
    _index("character_states_history", "character_id", "valid_to", "valid_from")
    _index("character_states_history", "request_id")


def _create_full_text(mssql: bool) -> None:
    """Keyword search over lore and event text: SQL Server full-text, or SQLite FTS5 kept by triggers."""
    if mssql:
        # Full-text DDL may not run inside a user transaction.
        with op.get_context().autocommit_block():
            op.execute("CREATE FULLTEXT CATALOG dm_fulltext")
            for table in ("lore_texts", "events"):
                op.execute(
                    f"CREATE FULLTEXT INDEX ON {table} (content LANGUAGE 1033) KEY INDEX pk_{table} "
                    "ON dm_fulltext WITH (CHANGE_TRACKING = AUTO, STOPLIST = SYSTEM)"
                )
        return
    for table in ("lore_texts", "events"):
        fts = f"{table}_fts"
        op.execute(
            f"CREATE VIRTUAL TABLE {fts} USING fts5(content, content='{table}', content_rowid='id', "
            "tokenize='unicode61 remove_diacritics 2')"
        )
        op.execute(
            f"CREATE TRIGGER trg_{fts}_insert AFTER INSERT ON {table} BEGIN "
            f"INSERT INTO {fts}(rowid, content) VALUES (new.id, new.content); END"
        )
        op.execute(
            f"CREATE TRIGGER trg_{fts}_delete AFTER DELETE ON {table} BEGIN "
            f"INSERT INTO {fts}({fts}, rowid, content) VALUES ('delete', old.id, old.content); END"
        )
        op.execute(
            f"CREATE TRIGGER trg_{fts}_update AFTER UPDATE OF content ON {table} BEGIN "
            f"INSERT INTO {fts}({fts}, rowid, content) VALUES ('delete', old.id, old.content); "
            f"INSERT INTO {fts}(rowid, content) VALUES (new.id, new.content); END"
        )


def downgrade() -> None:
    mssql = _mssql()
    if mssql:
        with op.get_context().autocommit_block():
            for table in ("lore_texts", "events"):
                op.execute(f"DROP FULLTEXT INDEX ON {table}")
            op.execute("DROP FULLTEXT CATALOG dm_fulltext")
        op.execute("ALTER TABLE character_states SET (SYSTEM_VERSIONING = OFF)")
        op.drop_constraint("fk_campaigns_current_session_id_sessions", "campaigns", type_="foreignkey")
    else:
        for table in ("lore_texts", "events"):
            op.execute(f"DROP TABLE IF EXISTS {table}_fts")
        op.execute("DROP TRIGGER IF EXISTS trg_character_states_history")
    for table in (
        "embeddings",
        "vector_outbox",
        "moderation_log",
        "assets",
        "relationships",
        "events",
        "lore_keywords",
        "lore_entries",
        "lore_texts",
        "items",
        "character_states_history",
        "character_states",
        "locations",
        "characters",
        "sessions",
        "campaigns",
        "worlds",
    ):
        op.drop_table(table)
