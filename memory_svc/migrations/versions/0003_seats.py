"""Seats and the live table: character owners, a per-campaign log sequence, whispers, the turn queue.

- ``campaigns.last_sequence`` and ``events.sequence``: the campaign log's order (1, 2, 3… per campaign), which
  watchers resume from; existing events are numbered by id.
- ``events.recipients``: a whisper's recipients (``,key-a,key-b,``); NULL for everyone of the audience.
- ``characters.owner``: the key id of the player seat that controls a character.
- ``turn_tickets``: the FCFS turn queue, shared by every gateway because it lives here.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mssql as mssql_types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Ts = sa.DateTime().with_variant(mssql_types.DATETIME2(precision=7), "mssql")  # type: ignore[no-untyped-call]


def upgrade() -> None:
    # Plain ADD COLUMN (no table rebuild on SQLite, which would drop the full-text triggers on events).
    op.add_column(
        "campaigns", sa.Column("last_sequence", sa.BigInteger(), nullable=False, server_default="0")
    )
    op.add_column("characters", sa.Column("owner", sa.Unicode(128), nullable=True))
    op.create_index("ix_characters_owner", "characters", ["owner"])
    op.add_column("events", sa.Column("sequence", sa.BigInteger(), nullable=False, server_default="0"))
    op.add_column("events", sa.Column("recipients", sa.Unicode(2200), nullable=True))
    # Number the existing log in id order, per campaign (the same statement on SQLite and SQL Server).
    op.execute(
        "UPDATE events SET sequence = (SELECT COUNT(*) FROM events AS e2 "
        "WHERE e2.campaign_id = events.campaign_id AND e2.id <= events.id)"
    )
    op.execute(
        "UPDATE campaigns SET last_sequence = COALESCE((SELECT MAX(e.sequence) FROM events AS e "
        "WHERE e.campaign_id = campaigns.id), 0)"
    )
    op.create_index("ix_events_campaign_id_sequence", "events", ["campaign_id", "sequence"], unique=True)
    op.create_table(
        "turn_tickets",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "campaign_id",
            BigId,
            sa.ForeignKey("campaigns.id", name="fk_turn_tickets_campaign_id_campaigns"),
            nullable=False,
        ),
        sa.Column("turn_id", sa.Unicode(128), nullable=False),
        sa.Column("holder", sa.Unicode(200), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("expires_at", Ts, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_turn_tickets"),
        sa.UniqueConstraint("campaign_id", "turn_id", name="uq_turn_tickets_campaign_id_turn_id"),
    )
    op.create_index("ix_turn_tickets_campaign_id", "turn_tickets", ["campaign_id"])


def downgrade() -> None:
    op.drop_index("ix_turn_tickets_campaign_id", table_name="turn_tickets")
    op.drop_table("turn_tickets")
    op.drop_index("ix_events_campaign_id_sequence", table_name="events")
    op.drop_index("ix_characters_owner", table_name="characters")
    for table, column in (
        ("events", "recipients"),
        ("events", "sequence"),
        ("characters", "owner"),
        ("campaigns", "last_sequence"),
    ):
        op.drop_column(table, column, mssql_drop_default=True)
