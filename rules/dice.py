"""Dice through the ``d20`` library, seeded per request.

d20's ``Die`` draws from the module-level ``random`` (``random.randrange``), i.e. the process-wide generator:
two concurrent requests would interleave draws and neither would be reproducible. :class:`SeededRoller`
swaps in ``Dice``/``Die`` subclasses that read from a ``random.Random`` held by the roll context, so each
request owns its stream and the global generator is never touched. Notation errors, zero-sided dice and
runaway rolls become :class:`mesh.errors.InvalidArgument` naming the request field.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import d20
from d20 import diceast
from d20.expression import Dice, Die, Literal

from mesh.errors import InvalidArgument

#: Most dice one expression may roll (rerolls and explosions included); d20's own default is 1000.
MAX_ROLLS = 1000
#: Longest notation accepted; enough for any stat block, short enough to parse in microseconds.
MAX_NOTATION_LENGTH = 200
#: Largest total (either sign): totals travel as int64 and no game roll comes near it.
MAX_TOTAL = 2**53

_SIMPLE = re.compile(r"^\s*(?:(\d+)d(\d+))?\s*(?:([+-]?)\s*(\d+))?\s*$")


class _SeededContext(d20.RollContext):  # type: ignore[misc]
    """Roll budget plus this request's generator."""

    def __init__(self, rng: random.Random, max_rolls: int = MAX_ROLLS) -> None:
        super().__init__(max_rolls)
        self.rng = rng


class _SeededDie(Die):  # type: ignore[misc]
    """A die whose rolls come from the context's generator instead of the global ``random``."""

    __slots__ = ()

    @classmethod
    def new(cls, size: Any, context: Any = None) -> _SeededDie:
        inst = cls(size, [], context=context)
        inst._add_roll()
        return inst

    def _add_roll(self) -> None:
        if self.size != "%" and self.size < 1:
            raise d20.RollValueError("Cannot roll a 0-sided die.")
        ctx: _SeededContext = self._context
        ctx.count_roll()
        if self.size == "%":
            self.values.append(Literal(ctx.rng.randrange(0, 100, 10)))
        else:
            self.values.append(Literal(ctx.rng.randrange(self.size) + 1))


class _SeededDice(Dice):  # type: ignore[misc]
    """A set of :class:`_SeededDie`; ``roll_another`` (explosions) stays seeded too."""

    __slots__ = ()

    @classmethod
    def new(cls, num: int, size: Any, context: Any = None) -> _SeededDice:
        return cls(num, size, [_SeededDie.new(size, context=context) for _ in range(num)], context=context)

    def roll_another(self) -> None:
        self.values.append(_SeededDie.new(self.size, context=self._context))


@lru_cache(maxsize=1024)
def _parse(notation: str) -> Any:
    """Parse once per distinct notation for the whole process (lru_cache is thread-safe; evaluation
    never mutates the tree), instead of once per roller as d20's per-instance cache would."""
    return d20.Roller().parse(notation)


class SeededRoller(d20.Roller):  # type: ignore[misc]
    """A d20 roller that owns a ``random.Random``: same seed, same rolls, no shared state."""

    def __init__(self, rng: random.Random | int) -> None:
        self.rng = rng if isinstance(rng, random.Random) else random.Random(rng)
        super().__init__(context=_SeededContext(self.rng))

    def parse(self, expr: str, allow_comments: bool = False) -> Any:
        return super().parse(expr, allow_comments) if allow_comments else _parse(expr)

    def _eval_dice(self, node: diceast.Dice) -> _SeededDice:
        return _SeededDice.new(node.num, node.size, context=self.context)


class _Stringifier(d20.SimpleStringifier):  # type: ignore[misc]
    """d20's plain stringifier, taught our two subclasses (it dispatches on the exact type)."""

    def __init__(self) -> None:
        super().__init__()
        nodes: dict[Any, Any] = dict(self._nodes)  # type: ignore[has-type]  # untyped base class
        nodes.update({_SeededDice: self._str_dice, _SeededDie: self._str_die})
        self._nodes = nodes


@dataclass(frozen=True, slots=True)
class RollOutcome:
    """The total and d20's readable breakdown, e.g. ``2d6 (3, 5) + 2 = `10```."""

    notation: str
    total: int
    detail: str


def _check_length(notation: str, field: str) -> None:
    if not notation.strip():
        raise InvalidArgument([(field, "dice notation must not be empty, e.g. '2d6+3'")])
    if len(notation) > MAX_NOTATION_LENGTH:
        raise InvalidArgument([(field, f"dice notation longer than {MAX_NOTATION_LENGTH} characters")])


def roll(notation: str, rng: random.Random | int, field: str = "dice") -> RollOutcome:
    """Roll ``notation`` (d20 syntax: ``4d6kh3``, ``1d20+5``, ``2d6ro1``...) from ``rng``."""
    _check_length(notation, field)
    roller = SeededRoller(rng)
    shown = notation[:40] + ("..." if len(notation) > 40 else "")
    try:
        result = roller.roll(notation, stringifier=_Stringifier())
        total = result.total  # evaluated lazily: "1/0" fails only here
        detail = result.result
    except d20.RollSyntaxError as exc:
        raise InvalidArgument([(field, f"malformed dice notation {shown!r}: {exc}")]) from None
    except d20.TooManyRolls:
        raise InvalidArgument([(field, f"{shown!r} rolls more than {MAX_ROLLS} dice")]) from None
    except (d20.RollError, ArithmeticError, RecursionError) as exc:
        raise InvalidArgument([(field, f"invalid dice notation {shown!r}: {exc}")]) from None
    if not -MAX_TOTAL <= total <= MAX_TOTAL:
        raise InvalidArgument([(field, f"{shown!r} totals beyond +-{MAX_TOTAL:,}")])
    return RollOutcome(notation=notation, total=total, detail=detail)


def validate(notation: str, field: str = "dice") -> str:
    """Check that ``notation`` parses and can be rolled; returns it unchanged.

    Rolling once with a throwaway generator is the only way to catch d20's evaluation-time errors
    (a ``d0``, too many dice), and costs microseconds.
    """
    roll(notation, random.Random(0), field)
    return notation


def average(notation: str, field: str = "dice") -> float:
    """Expected value of a plain ``NdM[+/-K]`` expression or a flat number (the stat block's "10 (2d6 + 3)").

    Only the simple form has a closed-form mean; anything else is rejected rather than estimated.
    """
    _check_length(notation, field)
    m = _SIMPLE.match(notation)
    if (
        not m
        or (m.group(1) is None and m.group(4) is None)
        or (m.group(1) and m.group(3) == "" and m.group(4))
    ):
        raise InvalidArgument([(field, f"{notation!r} is not plain NdM+K notation")])
    count, sides = int(m.group(1) or 0), int(m.group(2) or 1)
    if sides < 1:
        raise InvalidArgument([(field, f"{notation!r} has a die with no sides")])
    bonus = int(m.group(4) or 0) * (-1 if m.group(3) == "-" else 1)
    return count * (sides + 1) / 2 + bonus


def average_floor(notation: str, field: str = "dice") -> int:
    """The stat-block average: the mean rounded down, as printed before the dice in "10 (2d6 + 3)"."""
    return int(average(notation, field) // 1)
