"""The schema: migrations match the models, render valid T-SQL (fresh in deploy/sql), and guard JSON columns."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import IntegrityError, StatementError

from memory_svc.db import Database, alembic_config, render_sql
from memory_svc.models import Base, Campaign, Character, World

ROOT = Path(__file__).resolve().parents[2]
RENDERED = ROOT / "deploy" / "sql" / "memory_schema.sql"


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'dm.db'}")
    database.upgrade()
    return database


def _ours(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Compare only ORM tables: FTS5 shadow tables and alembic's own table are not models."""
    if type_ == "table" and name is not None:
        return "_fts" not in name and name != "alembic_version"
    return True


def test_migrations_create_exactly_the_model_schema(db: Database) -> None:
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": _ours, "compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def test_upgrade_is_idempotent_and_recorded(db: Database) -> None:
    db.upgrade()
    with db.engine.connect() as conn:
        recorded = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
    assert recorded == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_mssql_rendering_is_fresh() -> None:
    assert RENDERED.read_text(encoding="utf-8") == render_sql("mssql+pymssql://"), (
        "deploy/sql/memory_schema.sql is stale: run python -m memory_svc sql --out deploy/sql/memory_schema.sql"
    )


def test_mssql_rendering_has_temporal_table_full_text_and_json_checks() -> None:
    sql = render_sql("mssql+pymssql://")
    assert "valid_from DATETIME2(7) GENERATED ALWAYS AS ROW START NOT NULL" in sql
    assert "PERIOD FOR SYSTEM_TIME (valid_from, valid_to)" in sql
    assert "WITH (SYSTEM_VERSIONING = ON (HISTORY_TABLE = dbo.character_states_history))" in sql
    assert "CREATE FULLTEXT CATALOG dm_fulltext" in sql
    assert "CREATE FULLTEXT INDEX ON lore_texts (content LANGUAGE 1033) KEY INDEX pk_lore_texts" in sql
    assert "CREATE FULLTEXT INDEX ON events (content LANGUAGE 1033) KEY INDEX pk_events" in sql
    assert "CHECK (ISJSON(metadata) = 1)" in sql
    # Full-text DDL cannot run in a user transaction: alembic's autocommit block commits before it.
    before = sql[: sql.index("CREATE FULLTEXT CATALOG")]
    assert before.rstrip().endswith("GO") and "COMMIT;" in before[-40:]
    # Long text is NVARCHAR(max), never the deprecated NTEXT; bounded strings stay bounded.
    assert "NTEXT" not in sql and " TEXT" not in sql
    assert "[key] NVARCHAR(300) NOT NULL" in sql
    assert "content NVARCHAR(max) NOT NULL" in sql


def test_every_foreign_key_is_indexed() -> None:
    for table in Base.metadata.tables.values():
        indexed = {tuple(c.name for c in ix.columns) for ix in table.indexes}
        indexed |= {
            tuple(c.name for c in uq.columns)
            for uq in table.constraints
            if isinstance(uq, sa.UniqueConstraint)
        }
        for fk in table.foreign_keys:
            column = fk.parent.name
            assert any(cols[0] == column for cols in indexed), f"{table.name}.{column} has no index"


def test_json_columns_are_validated_in_python_and_by_the_database(db: Database) -> None:
    with db.write() as session:
        world = World(slug="w", name="W")
        session.add(world)
        session.flush()
        campaign = Campaign(world_id=world.id, name="C")
        session.add(campaign)
        session.flush()
        campaign_id = campaign.id
    with pytest.raises(StatementError, match="expected a JSON list"), db.write() as session:
        session.add(Character(campaign_id=campaign_id, name="Bad", secrets={"not": "a list"}))
    with pytest.raises(IntegrityError, match="ck_characters_secrets_is_json"), db.write() as session:
        session.execute(
            sa.text(
                "INSERT INTO characters (campaign_id, name, is_npc, ancestry, character_class, level, description,"
                " secrets, tags, created_at) VALUES (:c, 'x', 0, '', '', 0, '', '{broken', '[]', '2024-01-01')"
            ),
            {"c": campaign_id},
        )
