"""Same seed and same declared actions: the same events, byte for byte; the state is the fold of the log."""

from __future__ import annotations

from rules.combat import codec
from rules.combat.actions import Declared
from rules.combat.engine import take_action
from rules.combat.events import Event, fold
from rules.combat.state import CombatState
from rules.combat.tactics import autopilot
from tests.rules.combat.conftest import make_fight


def _play(seed: int) -> tuple[CombatState, list[Event], list[Declared], CombatState]:
    state, log, sources = make_fight(seed=seed)
    initial = CombatState(combat_id=state.combat_id, seed=state.seed)
    declared: list[Declared] = []
    while state.active:
        d = autopilot(state, sources, state.current)
        declared.append(d)
        state, events = take_action(state, sources, d)
        log += events
    return state, log, declared, initial


def _replay(seed: int, declared: list[Declared]) -> list[Event]:
    state, log, sources = make_fight(seed=seed)
    for d in declared:
        state, events = take_action(state, sources, d)
        log += events
    return log


def test_replay_reproduces_every_roll_byte_for_byte() -> None:
    final, log, declared, _ = _play(11)
    assert final.status in ("victory", "flight", "defeat")
    assert sum(len(e.rolls) for e in log) > 50
    again = _replay(11, declared)
    assert codec.dumps(again) == codec.dumps(log)
    other = _play(12)[1]
    assert codec.dumps(other) != codec.dumps(log)  # the seed matters


def test_state_is_the_fold_of_the_log_and_the_codec_is_byte_stable() -> None:
    final, log, _, initial = _play(5)
    assert fold(initial, log) == final
    raw = codec.dumps(log)
    decoded = codec.loads(raw)
    assert decoded == log
    assert codec.dumps(decoded) == raw
    assert fold(initial, decoded) == final
    # Every step is numbered once and in order.
    steps = [e.step for e in log]
    assert steps == sorted(steps) and final.step == steps[-1] + 1
