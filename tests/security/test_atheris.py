"""Coverage-guided fuzzing (atheris) of the lore front-matter parser and the dice parser, bounded per run.

Each target runs in its own process (libFuzzer owns the process and exits on a finding) from a seeded corpus: the
sample world's documents for lore, stat-block notations for dice. Findings kept in ``atheris_findings/`` are
replayed every time, so a fixed bug stays fixed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lore.documents import parse_document_text
from lore.errors import LoreFormatError
from tests.support.procs import ROOT

FINDINGS = Path(__file__).parent / "atheris_findings"
DICE_SEEDS = ("2d6+3", "4d6kh3", "1d20+5", "2d20kh1", "8d6", "1d4-1", "(1d8+2)*2", "10d10ro1", "3d6e6")


def fuzz(
    target: str, corpus: Path, runs: int, tmp_path: Path, *inputs: Path
) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "tests.support.atheris_targets", target]
    if inputs:
        args += [str(p) for p in inputs]  # replay mode: run each file once
    else:
        args += [
            f"-runs={runs}",
            "-seed=1",
            "-max_len=4096",
            "-timeout=10",
            f"-artifact_prefix={tmp_path}/",
            str(corpus),
        ]
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.timeout(150)
def test_lore_front_matter_parser(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for doc in sorted((ROOT / "worlds" / "ashen-reach").glob("*.md")):
        shutil.copy(doc, corpus / doc.name)
    done = fuzz("lore", corpus, 1500, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Done 1500 runs" in done.stderr
    assert not list(tmp_path.glob("crash-*"))


@pytest.mark.timeout(150)
def test_dice_parser(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, seed in enumerate(DICE_SEEDS):
        (corpus / f"seed{i}").write_text(seed)
    done = fuzz("dice", corpus, 5000, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Done 5000 runs" in done.stderr


def test_findings_are_replayed_clean(tmp_path: Path) -> None:
    findings = sorted(FINDINGS.glob("lore-*"))
    assert findings
    done = fuzz("lore", tmp_path, 0, tmp_path, *findings)
    assert done.returncode == 0, done.stderr[-3000:]
    with pytest.raises(LoreFormatError) as err:
        parse_document_text(findings[0].read_text(errors="replace"), "finding.md")
    assert "mapping keys must be plain values" in str(err.value)
