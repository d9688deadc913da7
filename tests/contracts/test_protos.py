"""The contracts: buf lint clean, no breaking change against the previous commit, stubs fresh, C# generation."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROTOS = ROOT / "protos"
PROTO_FILES = sorted((PROTOS / "dungeonmaster" / "v1").glob("*.proto"))
BIN = Path(sys.executable).parent
EXPECTED = {"common", "memory", "narrative", "encounter", "npc", "item", "visual", "gateway"}


def _buf() -> str:
    buf = shutil.which("buf") or str(BIN / "buf")
    if not Path(buf).exists():
        pytest.fail("buf missing: it is installed from PyPI buf-bin by the dev extra")
    return buf


def test_all_contracts_exist() -> None:
    assert {p.stem for p in PROTO_FILES} == EXPECTED
    for proto in PROTO_FILES:
        text = proto.read_text()
        assert "package dungeonmaster.v1;" in text
        assert 'option csharp_namespace = "DungeonMaster.V1";' in text


def test_buf_lint_is_clean() -> None:
    result = subprocess.run([_buf(), "lint"], cwd=PROTOS, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_buf_breaking_against_previous_commit() -> None:
    """Compare with the last commit before HEAD that had protos; a contract may grow but never break."""
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    log = subprocess.run(
        [git, "log", "--format=%H", "-n", "2", "--", "protos"], cwd=ROOT, capture_output=True, text=True
    )
    commits = log.stdout.split()
    head = subprocess.run([git, "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    base = next((c for c in commits if c != head), None)
    if base is None:
        pytest.skip("no earlier commit with protos to compare against")
    against = f"{ROOT / '.git'}#ref={base},subdir=protos"
    result = subprocess.run(
        [_buf(), "breaking", str(PROTOS), "--against", against], capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_python_stubs_are_fresh(tmp_path: Path) -> None:
    """Regenerate exactly as `make protos` does and compare byte for byte with the committed stubs."""
    env_path = f"{BIN}:{shutil.os.environ.get('PATH', '')}"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{PROTOS}",
            f"--python_out={tmp_path}",
            f"--grpc_python_out={tmp_path}",
            f"--mypy_out={tmp_path}",
            f"--mypy_grpc_out={tmp_path}",
            *[str(p) for p in PROTO_FILES],
        ],
        capture_output=True,
        text=True,
        env={**shutil.os.environ, "PATH": env_path},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    fresh = tmp_path / "dungeonmaster" / "v1"
    committed = ROOT / "dungeonmaster" / "v1"
    generated = sorted(p.name for p in fresh.iterdir())
    assert generated == sorted(p.name for p in committed.iterdir() if p.name != "__init__.py" and p.is_file())
    stale = [name for name in generated if not filecmp.cmp(fresh / name, committed / name, shallow=False)]
    assert not stale, f"stale stubs (run `make protos`): {stale}"


def test_csharp_generation(tmp_path: Path) -> None:
    """A protoc with the C# generator (Debian's protobuf-compiler) compiles every contract for the C# client."""
    protoc = shutil.which("protoc")
    if protoc is None:
        pytest.fail("protoc (Debian protobuf-compiler) is required; .ci/run installs it")
    result = subprocess.run(
        [protoc, f"-I{PROTOS}", f"--csharp_out={tmp_path}", *[str(p) for p in PROTO_FILES]],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    produced = {p.name for p in tmp_path.iterdir()}
    assert produced == {f"{stem.capitalize()}.cs" for stem in EXPECTED}, produced
    memory_cs = (tmp_path / "Memory.cs").read_text()
    assert "namespace DungeonMaster.V1" in memory_cs
    assert "class RetrieveContextRequest" in memory_cs
