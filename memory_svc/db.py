"""Database access: one engine per process, short transactions, migrations applied with Alembic.

SQLite (the embedded default) is tuned for durability and concurrent readers: WAL journal, ``synchronous=FULL``
(a commit is on disk before we answer, so an acknowledged write survives SIGKILL and power loss), foreign keys
on, and writes opened with ``BEGIN IMMEDIATE`` so two writers queue on the busy timeout instead of failing when
a read lock cannot be upgraded. SQL Server needs none of this: the same code runs on ``mssql+pymssql://``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.engine.url import make_url
from sqlalchemy.orm import Session, sessionmaker

PACKAGE_DIR = Path(__file__).resolve().parent
ALEMBIC_INI = PACKAGE_DIR / "alembic.ini"


def alembic_config(url: str = "", output: io.StringIO | None = None) -> Config:
    """Alembic configuration of this package (``url`` overrides the settings' database URL)."""
    cfg = Config(str(ALEMBIC_INI), output_buffer=output)
    cfg.set_main_option("script_location", str(PACKAGE_DIR / "migrations"))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def render_sql(url: str = "mssql+pymssql://") -> str:
    """The migrations as a SQL script for ``url``'s dialect (``alembic upgrade head --sql``)."""
    buffer = io.StringIO()
    command.upgrade(alembic_config(url, buffer), "head", sql=True)
    return buffer.getvalue()


class Database:
    """The engine and session factories of one database URL."""

    def __init__(self, url: str, *, busy_timeout_s: float = 30.0, echo: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": self.dialect != "sqlite"}
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": busy_timeout_s, "check_same_thread": False}
        self.engine: Engine = create_engine(url, **kwargs)
        if self.dialect == "sqlite":
            _tune_sqlite(self.engine, busy_timeout_s)
        writer = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(writer, expire_on_commit=False)

    def upgrade(self) -> None:
        """Bring the schema to the latest migration (idempotent)."""
        with self.engine.begin() as conn:
            cfg = alembic_config(self.url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A read-write transaction, committed when the block exits without an exception."""
        with self._writer.begin() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only unit of work; closing it ends the transaction and keeps loaded objects usable."""
        with self._reader() as session:
            yield session

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()


def _tune_sqlite(engine: Engine, busy_timeout_s: float) -> None:
    """Per-connection pragmas and explicit BEGIN so SQLAlchemy, not the driver, opens transactions."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let the "begin" hook below issue BEGIN
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")
