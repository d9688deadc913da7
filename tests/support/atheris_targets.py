"""Coverage-guided fuzz targets (atheris / libFuzzer) for the two text parsers that take untrusted input.

Run one as a process: ``python -m tests.support.atheris_targets lore|dice [libFuzzer flags] [corpus dirs]``.
A target may only succeed or raise its domain error (a clean INVALID_ARGUMENT / FAILED_PRECONDITION for the
caller); any other exception is a finding, and libFuzzer exits non-zero with the input that caused it.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["lore", "rules", "d20"]):
    from lore.documents import parse_document_text
    from mesh.errors import DomainError
    from rules import dice


def lore_target(data: bytes) -> None:
    """The world-document parser: YAML front matter, kind keys, pydantic model, title from the body."""
    text = data.decode("utf-8", "replace")  # the service receives text; seed files stay readable
    try:
        parse_document_text(text, "fuzz.md")
    except DomainError:
        pass


def dice_target(data: bytes) -> None:
    """Dice notation: parse, roll with a seeded generator, and the stat-block average."""
    text = data[:256].decode("utf-8", "replace")
    for check in (lambda: dice.roll(text, 1, "notation"), lambda: dice.average(text, "notation")):
        try:
            check()
        except DomainError:
            pass


TARGETS = {"lore": lore_target, "dice": dice_target}


def main(argv: list[str]) -> None:
    target = TARGETS[argv[1]]
    atheris.Setup([argv[0], *argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
