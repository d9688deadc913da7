"""Errors of the lore package, expressed as the mesh's transport-free domain errors.

A broken world folder is a deployment problem (FAILED_PRECONDITION: retrying the same request cannot help), while
an unknown rank, culture or region named in a request is the caller's mistake (INVALID_ARGUMENT naming the
field). Both also subclass the built-in exception a plain Python caller would expect.
"""

from __future__ import annotations

from collections.abc import Iterable

from mesh.errors import FailedPrecondition, InvalidArgument


class LoreFormatError(FailedPrecondition, ValueError):
    """A world document is malformed; the message names the file and every offending field."""

    def __init__(self, path: str, problems: Iterable[tuple[str, str]]) -> None:
        self.path = path
        self.problems = list(problems) or [("", "invalid document")]
        self.field = self.problems[0][0]
        details = "; ".join(f"{field}: {msg}" if field else msg for field, msg in self.problems)
        super().__init__(f"{path}: {details}")


class UnknownChoice(InvalidArgument, LookupError):
    """A lookup by id or name found nothing; the message lists the valid choices."""

    def __init__(self, field: str, resource: str, value: str, valid: Iterable[str]) -> None:
        self.resource = resource
        self.value = value
        self.valid = sorted(valid)
        super().__init__([(field, f"unknown {resource} {value!r}; valid: {', '.join(self.valid)}")])
