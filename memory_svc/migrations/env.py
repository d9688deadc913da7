"""Alembic environment: online against a connection or URL, offline (``--sql``) for any dialect's script.

The URL is, in order: a connection handed over by ``memory_svc.db.upgrade`` (config attribute
``connection``), ``-x url=...``, ``sqlalchemy.url`` in the ini file, then the mesh settings' database URL.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from memory_svc.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from mesh.settings import get_settings

    return get_settings().database_url


def run_offline() -> None:
    """Render the migration as a SQL script (``alembic upgrade head --sql``)."""
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Apply the migrations to a live database."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection, target_metadata=target_metadata, transaction_per_migration=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
