"""Player characters: a character's sheet (validated JSON built by the rules engine) and its live numbers
(hit dice, slots and resources used, exhaustion, XP, death saves) kept in the character-state history, so an
"as of" read returns them as they were.

Both are nullable JSON columns: NPCs and states written by older callers simply have none. On SQL Server the
new ``character_states`` column is added to the system-versioned table, which adds it to its history table; on
SQLite the history table gets the column and the history trigger is recreated to copy it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_NOW = "(strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')"
_HISTORY_COLUMNS = (
    "id, character_id, hit_points, max_hit_points, temporary_hit_points, conditions, inventory, "
    "location_id, notes, request_id"
)


def _mssql() -> bool:
    return op.get_context().dialect.name == "mssql"


def _sqlite_history_trigger(columns: str) -> None:
    old = ", ".join(f"OLD.{c.strip()}" for c in columns.split(","))
    op.execute("DROP TRIGGER IF EXISTS trg_character_states_history")
    op.execute(
        f"""
CREATE TRIGGER trg_character_states_history AFTER UPDATE ON character_states
FOR EACH ROW BEGIN
    INSERT INTO character_states_history ({columns}, valid_from, valid_to)
    VALUES ({old}, OLD.valid_from, {SQLITE_NOW});
    UPDATE character_states SET valid_from = {SQLITE_NOW} WHERE id = NEW.id;
END"""
    )


def upgrade() -> None:
    if _mssql():
        op.execute(
            "ALTER TABLE characters ADD sheet_json NVARCHAR(max) NULL "
            "CONSTRAINT ck_characters_sheet_json_is_json CHECK (ISJSON(sheet_json) = 1)"
        )
        # Adding a nullable column to a system-versioned table adds it to the history table too.
        op.execute(
            "ALTER TABLE character_states ADD live NVARCHAR(max) NULL "
            "CONSTRAINT ck_character_states_live_is_json CHECK (ISJSON(live) = 1)"
        )
        return
    op.execute(
        "ALTER TABLE characters ADD COLUMN sheet_json TEXT NULL "
        "CONSTRAINT ck_characters_sheet_json_is_json CHECK (sheet_json IS NULL OR json_valid(sheet_json))"
    )
    op.execute(
        "ALTER TABLE character_states ADD COLUMN live TEXT NULL "
        "CONSTRAINT ck_character_states_live_is_json CHECK (live IS NULL OR json_valid(live))"
    )
    op.execute("ALTER TABLE character_states_history ADD COLUMN live TEXT NULL")
    _sqlite_history_trigger(_HISTORY_COLUMNS + ", live")


def downgrade() -> None:
    if _mssql():
        op.execute("ALTER TABLE character_states DROP CONSTRAINT ck_character_states_live_is_json")
        op.execute("ALTER TABLE character_states DROP COLUMN live")
        op.execute("ALTER TABLE characters DROP CONSTRAINT ck_characters_sheet_json_is_json")
        op.execute("ALTER TABLE characters DROP COLUMN sheet_json")
        return
    _sqlite_history_trigger(_HISTORY_COLUMNS)
    op.execute("ALTER TABLE character_states_history DROP COLUMN live")
    op.execute("ALTER TABLE character_states DROP COLUMN live")
    op.execute("ALTER TABLE characters DROP COLUMN sheet_json")
