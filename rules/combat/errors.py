"""Combat's domain errors: each names the field or the rule that was broken (the transport maps
FailedPrecondition to FAILED_PRECONDITION and InvalidArgument to INVALID_ARGUMENT)."""

from __future__ import annotations

from collections.abc import Sequence

from mesh.errors import FailedPrecondition


class NotYourTurn(FailedPrecondition):
    """Someone acted out of turn; ``current`` is the combatant whose turn it is."""

    def __init__(self, actor: str, current: str, current_name: str) -> None:
        self.actor = actor
        self.current = current
        self.current_name = current_name
        super().__init__(f"not {actor}'s turn: it is {current_name}'s turn ({current})")
        #: (type, subject, description) for the transport's PreconditionFailure details.
        self.precondition = [("TURN", current, f"it is {current_name}'s turn")]


class IllegalAction(FailedPrecondition):
    """The action breaks a rule (no slot left, out of range, already used the action...); ``legal`` lists
    what the actor may do now."""

    def __init__(self, rule: str, legal: Sequence[str] = ()) -> None:
        self.rule = rule
        self.legal = tuple(legal)
        suffix = f"; legal now: {', '.join(self.legal)}" if self.legal else ""
        super().__init__(f"{rule}{suffix}")
        self.precondition = [("RULE", rule, f"legal now: {', '.join(self.legal)}" if self.legal else rule)]


class CombatOver(FailedPrecondition):
    """The combat has ended; nothing more can be declared."""
