"""A fight in play, through the gateway in front of the real services (each its own process).

"I attack the goblins" by a stored character starts a fight against the turn's generated encounter: the
initiative order and every roll stream as a CombatEvent before the narration, which states what happened.
During the fight a character acting out of turn is refused with FAILED_PRECONDITION naming whose turn it is,
and nothing is recorded; the character whose turn it is acts, and the narration states that outcome.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from rich.console import Console

from dungeonmaster.v1 import (
    encounter_pb2,
    encounter_pb2_grpc,
    gateway_pb2,
    gateway_pb2_grpc,
    memory_pb2,
    memory_pb2_grpc,
    npc_pb2,
    npc_pb2_grpc,
)
from gateway.combat_card import combat_card, hp_bar
from gateway.combat_turn import TOLD
from tests.gateway.realmesh import RealMesh, start_mesh

KEYS = {"dm": ("dm", None, {}), "player-a": ("player", ["A"], {})}
PARTY = (("Ash", "fighter"), ("Bree", "rogue"), ("Cato", "wizard"), ("Dara", "cleric"))


@dataclass
class Fight:
    mesh: RealMesh
    heroes: dict[str, str]
    """Character id -> name."""
    opening: list[gateway_pb2.PlayTurnResponse]


def _turn(mesh: RealMesh, turn_id: str, character_id: str, text: str) -> list[gateway_pb2.PlayTurnResponse]:
    with grpc.insecure_channel(mesh.gateway) as channel:
        request = gateway_pb2.PlayTurnRequest(
            campaign_id=mesh.campaign_a, turn_id=turn_id, input=text, character_id=character_id, seed=7
        )
        return list(
            gateway_pb2_grpc.GameMasterServiceStub(channel).PlayTurn(
                request, metadata=mesh.auth("player-a"), timeout=60
            )
        )


def _events(mesh: RealMesh, kind: memory_pb2.EventKind.ValueType) -> list[memory_pb2.Event]:
    with grpc.insecure_channel(mesh.procs["memory"].address) as channel:
        reply = memory_pb2_grpc.MemoryServiceStub(channel).ListEvents(
            memory_pb2.ListEventsRequest(campaign_id=mesh.campaign_a, kinds=[kind], page_size=100), timeout=30
        )
    return list(reply.events)


@pytest.fixture(scope="module")
def fight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fight]:
    mesh = start_mesh(tmp_path_factory.mktemp("combat-play"), KEYS)
    try:
        heroes: dict[str, str] = {}
        with grpc.insecure_channel(mesh.gateway) as channel:
            stub = npc_pb2_grpc.NpcServiceStub(channel)
            for name, cls in PARTY:
                reply = stub.BuildCharacter(
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
                heroes[reply.character_id] = name
        ash = next(iter(heroes))
        opening = _turn(mesh, "fight-open", ash, "I draw my sword and attack the goblins")
        yield Fight(mesh, heroes, opening)
    finally:
        mesh.stop_all()


def _narration(replies: list[gateway_pb2.PlayTurnResponse]) -> str:
    return "".join(r.narration.text for r in replies if r.WhichOneof("event") == "narration")


def _assert_told(combat: gateway_pb2.CombatTurnEvent, narration: str) -> None:
    """The narration states the step's outcome as the events have it: every attack, hit and fall."""
    told = [e.text for e in combat.events if e.kind in TOLD and e.text][-8:]
    assert told, list(combat.events)
    for line in told:
        assert line in narration, (line, narration)
    for name in combat.fallen:
        assert name in narration, (name, narration)


def test_a_fight_starts_from_a_turn_and_streams_before_the_narration(fight: Fight) -> None:
    replies = fight.opening
    kinds = [r.WhichOneof("event") for r in replies]
    assert kinds.count("combat") == 1, [r.warning.message for r in replies if r.warning.message]
    assert kinds.count("encounter") == 1 and "narration" in kinds
    assert kinds.index("combat") < kinds.index("narration"), kinds
    combat = replies[kinds.index("combat")].combat
    state = combat.state
    assert combat.started and combat.combat_id == state.combat_id and state.status == "active"
    assert set(fight.heroes) <= set(state.order) and len(state.order) > len(fight.heroes)
    # Initiative: one roll per combatant, with its d20 and Dexterity modifier.
    rolls = [e.rolls[0] for e in combat.events if e.kind == "initiative"]
    assert len(rolls) == len(state.order)
    assert all(len(r.dice) == 1 and 1 <= r.dice[0] <= 20 and r.total == r.dice[0] + r.modifier for r in rolls)
    # Monsters ahead of the first character have acted; it is a character's turn now.
    assert state.current in fight.heroes and combat.next_actor == fight.heroes[state.current]
    if any(e.kind in TOLD for e in combat.events):  # monsters acted before the first character
        _assert_told(combat, _narration(replies))
    assert replies[-1].done.recorded_event_ids


def _current(fight: Fight) -> gateway_pb2.CombatTurnEvent:
    combat = next(r.combat for r in fight.opening if r.WhichOneof("event") == "combat")
    return combat


def test_acting_out_of_turn_is_refused_naming_whose_turn_and_nothing_is_recorded(fight: Fight) -> None:
    state = _current(fight).state
    other = next(cid for cid in fight.heroes if cid != state.current)
    actions = len(_events(fight.mesh, memory_pb2.EVENT_KIND_PLAYER_ACTION))
    steps = len(_events(fight.mesh, memory_pb2.EVENT_KIND_COMBAT))
    with pytest.raises(grpc.RpcError) as caught:
        _turn(fight.mesh, "out-of-turn", other, "I attack the nearest goblin")
    err = caught.value
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    whose = fight.heroes[state.current]
    assert whose in (err.details() or ""), err.details()
    status = status_pb2.Status.FromString(dict(err.trailing_metadata() or ())["grpc-status-details-bin"])
    failure = error_details_pb2.PreconditionFailure()
    assert any(d.Unpack(failure) for d in status.details)
    assert failure.violations[0].subject == state.current
    assert len(_events(fight.mesh, memory_pb2.EVENT_KIND_PLAYER_ACTION)) == actions
    assert len(_events(fight.mesh, memory_pb2.EVENT_KIND_COMBAT)) == steps


def test_the_character_whose_turn_it_is_acts_and_the_narration_states_the_outcome(fight: Fight) -> None:
    opening = _current(fight)
    actor = opening.state.current
    standing = [c for c in opening.state.combatants if c.side == "foes" and c.hit_points > 0]
    foe = next((c for c in standing if c.position == "engaged"), standing[0])
    replies = _turn(fight.mesh, "fight-act-1", actor, f"I attack the {foe.name}")
    kinds = [r.WhichOneof("event") for r in replies]
    assert kinds.count("combat") == 1 and kinds.count("encounter") == 0 and kinds.count("check") == 0, kinds
    assert kinds.index("combat") < kinds.index("narration")
    combat = replies[kinds.index("combat")].combat
    assert not combat.started and combat.combat_id == opening.combat_id
    assert combat.state.step > opening.state.step
    attacks = [e for e in combat.events if e.kind == "attack" and e.actor == actor]
    assert attacks, [(e.kind, e.actor, e.text) for e in combat.events]
    assert attacks[0].target == foe.id and foe.name in attacks[0].text
    roll = attacks[0].rolls[0]
    assert roll.kind == "attack" and roll.dice and roll.against == foe.armor_class
    # Damage and hit points after agree with the state: the foe lost what the damage events say.
    dealt = sum(e.amount for e in combat.events if e.kind == "damage" and e.target == foe.id)
    after = next(c for c in combat.state.combatants if c.id == foe.id)
    assert after.hit_points == max(0, foe.hit_points - dealt)
    _assert_told(combat, _narration(replies))
    # The same turn again does not act twice: the recorded narration comes back, no step is added.
    steps = len(_events(fight.mesh, memory_pb2.EVENT_KIND_COMBAT))
    again = _turn(fight.mesh, "fight-act-1", actor, f"I attack the {foe.name}")
    assert again[-1].done.replayed and _narration(again).split() == _narration(replies).split()
    assert len(_events(fight.mesh, memory_pb2.EVENT_KIND_COMBAT)) == steps
    if combat.state.status == "active":
        assert combat.next_actor == next(
            c.name for c in combat.state.combatants if c.id == combat.state.current
        )


def test_the_terminal_client_shows_the_initiative_order_and_hp_bars(fight: Fight) -> None:
    combat = _current(fight)
    console = Console(record=True, width=140, color_system=None)
    console.print(combat_card(combat))
    shown = console.export_text()
    rows = [line for line in shown.splitlines() if "AC " in line and "/" in line]
    state = combat.state
    by_id = {c.id: c for c in state.combatants}
    assert len(rows) == len(state.order)
    for row, cid in zip(rows, state.order, strict=True):
        c = by_id[cid]
        assert c.name in row and hp_bar(c.hit_points, c.max_hit_points) in row, row
        assert ("▶" in row) == (cid == state.current), row
    assert f"Next: {combat.next_actor}" in shown
    assert hp_bar(0, 7, 10) == "[----------]   0/7"
    assert hp_bar(1, 100, 10) == "[#---------]   1/100"
    assert hp_bar(7, 7, 10) == "[##########]   7/7"


def test_words_spoken_mid_fight_strike_no_blow(fight: Fight) -> None:
    # "I ask ... about the tunnel" on a character's turn: the turn passes, the speaker attacks nobody.
    opening = _current(fight)
    with grpc.insecure_channel(fight.mesh.procs["encounter"].address) as channel:
        state = (
            encounter_pb2_grpc.EncounterServiceStub(channel)
            .GetCombat(
                encounter_pb2.GetCombatRequest(
                    campaign_id=fight.mesh.campaign_a, combat_id=opening.combat_id
                ),
                timeout=30,
            )
            .combat
        )
    if state.status != "active" or state.current not in fight.heroes:
        pytest.skip("the fight ended before a character's turn came round")
    actor = state.current
    replies = _turn(fight.mesh, "fight-talk", actor, "I ask the innkeeper about the tunnel under the inn")
    combat = next(r.combat for r in replies if r.WhichOneof("event") == "combat")
    assert combat.state.step > state.step
    assert not [e for e in combat.events if e.actor == actor and e.kind in ("attack", "damage", "cast")], [
        (e.kind, e.actor, e.text) for e in combat.events
    ]
    assert combat.state.current != actor or combat.state.status != "active"
