"""Outcomes the rules decided, as facts a narrator must honour and as prose the offline writer tells itself.

The turn rolls a check before anything is narrated; the narration is then written from the result. A model is
given :func:`fact` (the result in plain words, with the instruction not to change it); the procedural writer
tells it with :func:`tell`, from the phrase tables in ``tables/outcomes.yaml``: a line for the skill and the
result, coloured by the degree (a critical success, a fumble), varied and deterministic under the seed.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

TABLE = Path(__file__).with_name("tables") / "outcomes.yaml"

DEGREES: tuple[str, ...] = ("critical", "success", "failure", "fumble")


@functools.cache
def load_tables(_name: str = "outcomes") -> dict[str, Any]:
    """The phrase tables (read once)."""
    data = yaml.safe_load(TABLE.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{TABLE.name} must hold a mapping")
    return data


@dataclass(frozen=True, slots=True)
class Outcome:
    """A resolved check as the narrator needs it: who, which check, the result and how clearly."""

    actor: str
    check: str
    """The skill index ("investigation", "sleight-of-hand") or ability ("dex") that was rolled."""
    success: bool
    degree: str
    total: int = 0
    dc: int = 0
    statement: str = ""
    """An outcome already put in words (a fight step); told as written."""

    @property
    def label(self) -> str:
        """ "Investigation", "Sleight of Hand", "Dexterity"."""
        abilities = load_tables("outcomes")["abilities"]
        if self.check in abilities:
            return str(abilities[self.check])
        return self.check.replace("-", " ").title().replace(" Of ", " of ")

    @property
    def verdict(self) -> str:
        """ "a critical success", "a success", "a failure" or "a bad failure"."""
        return {
            "critical": "a critical success",
            "success": "a success",
            "failure": "a failure",
            "fumble": "a bad failure",
        }.get(self.degree, "a success" if self.success else "a failure")

    def as_variables(self) -> dict[str, Any]:
        """The prompt-variable form (read back by :func:`outcome_from_variables`); ``fact`` is for templates."""
        return {
            "actor": self.actor,
            "check": self.check,
            "success": self.success,
            "degree": self.degree,
            "total": self.total,
            "dc": self.dc,
            "statement": self.statement,
            "fact": fact(self),
        }


def stated(outcome: Outcome) -> str:
    """A stated outcome as a sentence of its own (statements arrive as clauses, e.g. "... 6 vs AC 14, miss")."""
    text = outcome.statement.strip()
    return text if not text or text[-1] in ".!?\"'" else f"{text}."


def fact(outcome: Outcome) -> str:
    """The outcome as a sentence the model must honour."""
    if outcome.statement:
        return stated(outcome)
    who = outcome.actor or "The character"
    numbers = f" ({outcome.total} against DC {outcome.dc})" if outcome.dc else ""
    told = "succeeds" if outcome.success else "fails"
    return f"{who}'s {outcome.label} check{numbers} is {outcome.verdict}: the attempt {told}."


def tell(outcome: Outcome, rng: random.Random) -> str:
    """The outcome told in prose by the offline writer: the skill's line for the result, coloured by degree."""
    if outcome.statement:
        return stated(outcome)
    tables = load_tables("outcomes")
    result = "success" if outcome.success else "failure"
    lines = tables["skills"].get(outcome.check) or tables["skills"]["default"]
    sentence = str(rng.choice(lines[result])).format(actor=outcome.actor or "You")
    if outcome.degree == "critical":
        sentence = f"{rng.choice(tables['critical'])} {sentence}"
    elif outcome.degree == "fumble":
        sentence = f"{sentence} {rng.choice(tables['fumble'])}"
    return sentence


def outcome_from_variables(data: dict[str, Any]) -> Outcome | None:
    """An outcome from its prompt-variable form (:meth:`Outcome.as_variables`); None if malformed."""
    try:
        return Outcome(
            actor=str(data.get("actor", "")),
            check=str(data.get("check", "")) if data.get("statement") else str(data["check"]),
            success=bool(data["success"]),
            degree=str(data.get("degree", "")),
            total=int(data.get("total", 0)),
            dc=int(data.get("dc", 0)),
            statement=str(data.get("statement", "")),
        )
    except (KeyError, TypeError, ValueError):
        return None
