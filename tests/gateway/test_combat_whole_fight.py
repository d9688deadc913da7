"""A whole fight played through the gateway from a client's point of view, each service its own process.

Four stored level-3 characters say "I attack" on their turns against a generated Medium encounter until the
fight ends; every step is in the campaign log exactly once, in order, and the XP is awarded to the survivors.
The same seed and the same declared actions on a fresh data directory give the same combat log.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from dungeonmaster.v1 import (
    gateway_pb2,
    gateway_pb2_grpc,
    memory_pb2,
    memory_pb2_grpc,
    npc_pb2,
    npc_pb2_grpc,
)
from tests.gateway.realmesh import RealMesh, start_mesh

KEYS = {"dm": ("dm", None, {}), "player-a": ("player", ["A"], {})}
PARTY = (("Ash", "fighter"), ("Bree", "rogue"), ("Cato", "ranger"), ("Dara", "cleric"))

#: More turns than a Medium fight of four level-3 characters takes.
MAX_TURNS = 80


@dataclass(frozen=True)
class Fight:
    """A fight played to its end, and its combat events as logged."""

    state: Any
    turns: int
    foes: int
    heroes: dict[str, str]
    events: list[memory_pb2.Event]


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealMesh]:
    started = start_mesh(tmp_path_factory.mktemp("whole-fight"), KEYS)
    try:
        yield started
    finally:
        started.stop_all()


def _combat(mesh: RealMesh, turn_id: str, character_id: str, text: str) -> gateway_pb2.CombatTurnEvent:
    with grpc.insecure_channel(mesh.gateway) as channel:
        replies = list(
            gateway_pb2_grpc.GameMasterServiceStub(channel).PlayTurn(
                gateway_pb2.PlayTurnRequest(
                    campaign_id=mesh.campaign_a,
                    turn_id=turn_id,
                    input=text,
                    character_id=character_id,
                    seed=3,
                ),
                metadata=mesh.auth("player-a"),
                timeout=60,
            )
        )
    fights = [r.combat for r in replies if r.WhichOneof("event") == "combat"]
    assert len(fights) == 1, [r.warning.message for r in replies if r.WhichOneof("event") == "warning"]
    return fights[0]


def _logged(mesh: RealMesh) -> list[memory_pb2.Event]:
    events: list[memory_pb2.Event] = []
    token = ""
    with grpc.insecure_channel(mesh.procs["memory"].address) as channel:
        stub = memory_pb2_grpc.MemoryServiceStub(channel)
        while True:
            page = stub.ListEvents(
                memory_pb2.ListEventsRequest(
                    campaign_id=mesh.campaign_a,
                    kinds=[memory_pb2.EVENT_KIND_COMBAT],
                    page_size=100,
                    page_token=token,
                ),
                timeout=30,
            )
            events.extend(page.events)
            token = page.next_page_token
            if not token:
                return events


def _play_fight(mesh: RealMesh) -> Fight:
    """Build the party, then everyone says "I attack" on their turn until the fight ends."""
    heroes: dict[str, str] = {}
    with grpc.insecure_channel(mesh.gateway) as channel:
        stub = npc_pb2_grpc.NpcServiceStub(channel)
        for name, cls in PARTY:
            built = stub.BuildCharacter(
                npc_pb2.BuildCharacterRequest(
                    campaign_id=mesh.campaign_a,
                    name=name,
                    character_class=cls,
                    level=3,
                    pregenerated=True,
                    save=True,
                ),
                metadata=mesh.auth("dm"),
                timeout=30,
            )
            heroes[built.character_id] = name
    combat = _combat(mesh, "whole-0", next(iter(heroes)), "We draw our weapons and attack the monsters")
    assert combat.started
    foes = [c for c in combat.state.combatants if c.side == "foes"]
    assert foes and all(c.kind == "monster" for c in foes)
    turns = 0
    while combat.state.status == "active" and turns < MAX_TURNS:
        turns += 1
        actor = combat.state.current
        assert actor in heroes and combat.next_actor == heroes[actor]
        step = combat.state.step
        combat = _combat(mesh, f"whole-{turns}", actor, "I attack")
        assert combat.state.step > step
    return Fight(combat.state, turns, len(foes), heroes, _logged(mesh))


@pytest.fixture(scope="module")
def fight(mesh: RealMesh) -> Fight:
    return _play_fight(mesh)


def _comparable(mesh: RealMesh, played: Fight) -> list[tuple[Any, ...]]:
    """The logged combat events with this data directory's ids named by role, and no event ids or times."""
    combat_id = played.state.combat_id
    names = {mesh.campaign_a: "<campaign>", combat_id: "<combat>"}
    names.update({cid: f"<{name}>" for cid, name in played.heroes.items()})

    def neutral(value: Any) -> Any:
        """Whole ids (exact values, and keys) by role; the fight's id inside text too (it is unique)."""
        if isinstance(value, dict):
            return {neutral(k): neutral(v) for k, v in value.items()}
        if isinstance(value, list):
            return [neutral(v) for v in value]
        if isinstance(value, str):
            if value in names:
                return names[value]
            if value[:1] in "[{":
                with contextlib.suppress(ValueError):
                    return neutral(json.loads(value))
            return value.replace(combat_id, "<combat>")
        return value

    return [
        (
            e.kind,
            e.actor,
            e.audience,
            e.session_id,
            neutral(e.request_id),
            neutral(e.content),
            neutral(json.loads(e.metadata_json or "{}")),
        )
        for e in played.events
    ]


def test_four_characters_fight_a_medium_encounter_to_the_end(fight: Fight) -> None:
    state = fight.state
    assert state.status in ("victory", "flight", "defeat"), (state.status, fight.turns)
    survivors = {c.id for c in state.combatants if c.side == "party" and not c.dead}
    if state.status != "defeat":
        awarded = {a.character_id: a.xp for a in state.xp_awarded}
        assert set(awarded) == survivors and all(xp > 0 for xp in awarded.values()), awarded
    # Every step in the campaign log once, none missing.
    logged = [e.request_id for e in fight.events]
    prefix = f"combat:{state.combat_id}:"
    steps = sorted(int(r.removeprefix(prefix)) for r in logged if r.startswith(prefix))
    assert steps == list(range(len(steps))) and len(steps) == len(set(logged)) == len(logged)
    assert len(steps) == state.step
    print(f"whole fight: {fight.turns} player turns, {state.step} steps, {state.status}, {fight.foes} foes")


def test_same_seed_and_actions_give_the_same_combat_log_on_a_fresh_data_directory(
    mesh: RealMesh, fight: Fight, tmp_path: Path
) -> None:
    again = start_mesh(tmp_path / "replayed-fight", KEYS)
    try:
        replayed = _play_fight(again)
    finally:
        again.stop_all()
    first, second = _comparable(mesh, fight), _comparable(again, replayed)
    assert len(first) == fight.state.step > 0
    assert second == first
    assert (replayed.state.status, replayed.turns) == (fight.state.status, fight.turns)
