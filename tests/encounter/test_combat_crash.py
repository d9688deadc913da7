"""Crash safety with real processes: SIGKILL the encounter service and then the memory service in the
middle of a fight; after each restart GetCombat returns the same state and the fight goes on, with every
step in the campaign log exactly once."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import grpc

from dungeonmaster.v1 import encounter_pb2, encounter_pb2_grpc, memory_pb2, memory_pb2_grpc
from rules.sheets import CharacterSheet, pregenerated
from tests.encounter.test_combat_service import CLASSES, FOES, choose
from tests.support.procs import ServiceProcess, mesh_env, start_service

E, M = encounter_pb2, memory_pb2


def _act(enc: encounter_pb2_grpc.EncounterServiceStub, campaign: str, state: E.CombatState,
         sheets: dict[str, CharacterSheet]) -> E.CombatState:  # fmt: skip
    reply = enc.TakeAction(
        E.TakeActionRequest(
            campaign_id=campaign, combat_id="siege", actor=state.current, action=choose(state, sheets)
        ),
        timeout=30,
    )
    return reply.combat


def _get(enc: encounter_pb2_grpc.EncounterServiceStub, campaign: str) -> E.CombatState:
    return enc.GetCombat(E.GetCombatRequest(campaign_id=campaign, combat_id="siege"), timeout=30).combat


def test_sigkill_encounter_then_memory_mid_fight_loses_and_repeats_nothing(tmp_path: Path) -> None:
    env = mesh_env(tmp_path / "data")
    logs = tmp_path / "logs"
    procs: dict[str, ServiceProcess] = {}
    try:
        procs["memory"] = start_service("memory", env, logs)
        procs["encounter"] = start_service("encounter", env, logs)
        with (
            grpc.insecure_channel(procs["memory"].address) as mch,
            grpc.insecure_channel(procs["encounter"].address) as ech,
        ):
            mem, enc = memory_pb2_grpc.MemoryServiceStub(mch), encounter_pb2_grpc.EncounterServiceStub(ech)
            world = mem.CreateWorld(M.CreateWorldRequest(slug="w", name="W")).world
            campaign = mem.CreateCampaign(M.CreateCampaignRequest(world_id=world.id, name="C")).campaign.id
            sheets: dict[str, CharacterSheet] = {}
            for cls in CLASSES:
                sheet = pregenerated(cls, 3)
                made = mem.CreateCharacter(
                    M.CreateCharacterRequest(
                        campaign_id=campaign,
                        character=M.Character(name=sheet.name, sheet_json=json.dumps(sheet.to_json())),
                    )
                )
                sheets[made.character.id] = sheet
            state = enc.StartCombat(
                E.StartCombatRequest(
                    campaign_id=campaign,
                    character_ids=list(sheets),
                    monsters=list(FOES),
                    seed=8,
                    combat_id="siege",
                ),
                timeout=30,
            ).combat
            for _ in range(2):
                state = _act(enc, campaign, state, sheets)
            assert state.status == "active"

            procs["encounter"].stop(signal.SIGKILL)
            procs["encounter"] = start_service("encounter", env, logs)
            with grpc.insecure_channel(procs["encounter"].address) as ech2:
                enc = encounter_pb2_grpc.EncounterServiceStub(ech2)
                assert _get(enc, campaign) == state  # resumed from memory: same actor, same state
                if state.status == "active":
                    state = _act(enc, campaign, state, sheets)

                procs["memory"].stop(signal.SIGKILL)
                procs["memory"] = start_service("memory", procs["memory"].env, logs)
                assert _get(enc, campaign) == state
                if state.status == "active":
                    state = _act(enc, campaign, state, sheets)  # the encounter service reconnects to memory
                assert _get(enc, campaign) == state

            with grpc.insecure_channel(procs["memory"].address) as mch2:
                mem = memory_pb2_grpc.MemoryServiceStub(mch2)
                logged = mem.ListEvents(
                    M.ListEventsRequest(campaign_id=campaign, kinds=[M.EVENT_KIND_COMBAT], page_size=1000)
                ).events
                steps = sorted(json.loads(e.metadata_json)["step"] for e in logged)
                assert steps == list(range(state.step))  # none lost, none twice
    finally:
        for sp in reversed(list(procs.values())):
            sp.stop()
