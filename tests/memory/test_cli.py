"""The command line (``python -m memory_svc ingest|sql``): progress bars, SQL written, vectors indexed."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from memory_svc.cli import main
from memory_svc.kinds import VectorScope
from memory_svc.vector_store import VectorStore
from mesh.settings import reset_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    data = tmp_path / "data"
    monkeypatch.setenv("DM_DATA_DIR", str(data))
    reset_settings()
    yield data
    reset_settings()


def test_ingest_command_writes_sql_and_indexes_with_progress(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = tmp_path / "tiny-world"
    world.mkdir()
    (world / "overview.md").write_text(
        "---\nkind: lore\npinned: true\n---\n# Tiny World\n\nA marsh and a hill under a grey sky.\n",
        encoding="utf-8",
    )
    (world / "places.md").write_text(
        "---\nkind: lore\n---\n# Places\n\n## The Marsh\n\nReeds and salt.\n\n## The Hill [DM only]\n\nA barrow.\n",
        encoding="utf-8",
    )
    assert main(["ingest", str(world)]) == 0
    err = capsys.readouterr().err
    assert "documents: 100%" in err and "embedding: 100%" in err, err
    assert "tiny-world: 2 documents, 3 chunks: 3 created" in err

    assert main(["ingest", str(world), "--no-index"]) == 0
    err = capsys.readouterr().err
    assert "0 created, 0 updated, 3 unchanged" in err and "0 index changes queued" in err

    engine = sa.create_engine(f"sqlite:///{data_dir / 'dungeonmaster.db'}")
    with engine.connect() as conn:
        ids = set(conn.execute(sa.text("SELECT id FROM lore_entries")).scalars())
        wid = conn.execute(sa.text("SELECT id FROM worlds WHERE slug = 'tiny-world'")).scalar_one()
    engine.dispose()
    store = VectorStore(str(data_dir / "milvus.db"), 384)
    try:
        assert store.ids(VectorScope.LORE, wid) == ids and len(ids) == 3
    finally:
        store.close()


def test_sql_command_checks_freshness(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", "--check", str(ROOT / "deploy" / "sql" / "memory_schema.sql")]) == 0
    stale = tmp_path / "old.sql"
    stale.write_text("-- old\n", encoding="utf-8")
    assert main(["sql", "--check", str(stale)]) == 1
    assert "stale" in capsys.readouterr().err


def test_module_entry_point_runs_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "memory_svc", "sql"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and "SYSTEM_VERSIONING = ON" in result.stdout
