"""A turn decides before it narrates, through the gateway in front of the real services (each its own process).

A stored character's "I search the body for clues" is rolled as that character's Investigation check, streamed
as a CheckEvent before any narration, narrated consistently with its result, and recorded in the campaign log
exactly once, even when the same turn id is played again. Another campaign's character is refused.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import grpc
import pytest
from rich.console import Console

from dungeonmaster.v1 import (
    common_pb2,
    gateway_pb2,
    gateway_pb2_grpc,
    memory_pb2,
    memory_pb2_grpc,
    npc_pb2,
    npc_pb2_grpc,
)
from gateway import cli
from mesh.text.outcomes import load_tables
from tests.gateway.realmesh import RealMesh, start_mesh

KEYS = {"dm": ("dm", None, {}), "player-a": ("player", ["A"], {})}


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealMesh]:
    started = start_mesh(tmp_path_factory.mktemp("play-checks"), KEYS)
    try:
        yield started
    finally:
        started.stop_all()


def _build(mesh: RealMesh, campaign_id: str, name: str, cls: str) -> npc_pb2.BuildCharacterResponse:
    with grpc.insecure_channel(mesh.gateway) as channel:
        reply: npc_pb2.BuildCharacterResponse = npc_pb2_grpc.NpcServiceStub(channel).BuildCharacter(
            npc_pb2.BuildCharacterRequest(
                campaign_id=campaign_id, name=name, character_class=cls, level=3, pregenerated=True, save=True
            ),
            metadata=mesh.auth("dm"),
            timeout=30,
        )
    return reply


def _turn(
    mesh: RealMesh, turn_id: str, character_id: str, key: str = "player-a"
) -> list[gateway_pb2.PlayTurnResponse]:
    with grpc.insecure_channel(mesh.gateway) as channel:
        request = gateway_pb2.PlayTurnRequest(
            campaign_id=mesh.campaign_a,
            turn_id=turn_id,
            input="I search the body for clues",
            character_id=character_id,
            seed=11,
        )
        stub = gateway_pb2_grpc.GameMasterServiceStub(channel)
        return list(stub.PlayTurn(request, metadata=mesh.auth(key), timeout=60))


def _check_events(mesh: RealMesh, campaign_id: str) -> list[memory_pb2.Event]:
    with grpc.insecure_channel(mesh.procs["memory"].address) as channel:
        reply = memory_pb2_grpc.MemoryServiceStub(channel).ListEvents(
            memory_pb2.ListEventsRequest(
                campaign_id=campaign_id, kinds=[memory_pb2.EVENT_KIND_CHECK], page_size=100
            ),
            timeout=30,
        )
    return list(reply.events)


def _told(text: str, result: str, actor: str) -> bool:
    return any(
        str(line).format(actor=actor) in text for line in load_tables()["skills"]["investigation"][result]
    )


def test_search_is_an_investigation_check_rolled_before_the_narration(mesh: RealMesh) -> None:
    bree = _build(mesh, mesh.campaign_a, "Bree", "rogue")
    modifier = next(s.modifier for s in bree.sheet.skills if s.skill == "investigation")

    replies = _turn(mesh, "turn-search-1", bree.character_id)
    kinds = [r.WhichOneof("event") for r in replies]
    assert kinds.count("check") == 1 and "narration" in kinds, kinds
    assert kinds.index("check") < kinds.index("narration"), kinds
    check = replies[kinds.index("check")].check
    result = check.result
    assert result.kind == common_pb2.CHECK_KIND_SKILL and result.skill == "investigation"
    assert result.ability == common_pb2.ABILITY_INTELLIGENCE
    assert result.modifier == modifier and result.total == result.kept + modifier
    assert result.dc == 15  # nothing in "the body" makes it harder or easier: the DMG's medium DC
    assert result.character_id == bree.character_id and result.character_name == "Bree"
    assert not check.replayed and check.event_id

    narration = "".join(r.narration.text for r in replies if r.WhichOneof("event") == "narration")
    assert _told(narration, "success" if result.success else "failure", "Bree"), narration
    assert not _told(narration, "failure" if result.success else "success", "Bree"), narration
    done = replies[-1].done
    assert check.event_id in done.recorded_event_ids

    logged = _check_events(mesh, mesh.campaign_a)
    assert [e.id for e in logged] == [check.event_id]

    # The same turn again: the recorded roll and narration come back; nothing is recorded twice.
    again = _turn(mesh, "turn-search-1", bree.character_id)
    replayed = next(r.check for r in again if r.WhichOneof("event") == "check")
    assert replayed.replayed and replayed.event_id == check.event_id
    assert replayed.result.total == result.total and replayed.result.success == result.success
    assert again[-1].done.replayed
    assert "".join(r.narration.text for r in again if r.WhichOneof("event") == "narration") == narration
    assert [e.id for e in _check_events(mesh, mesh.campaign_a)] == [check.event_id]


def test_a_character_of_another_campaign_is_not_found_and_nothing_is_rolled(mesh: RealMesh) -> None:
    stranger = _build(mesh, mesh.campaign_b, "Dov", "wizard")
    before = _check_events(mesh, mesh.campaign_a)
    with pytest.raises(grpc.RpcError) as info:
        _turn(mesh, "turn-stranger", stranger.character_id, key="dm")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND, info.value
    assert "character" in (info.value.details() or "")
    assert _check_events(mesh, mesh.campaign_a) == before
    assert _check_events(mesh, mesh.campaign_b) == []


def test_cli_builds_a_character_by_flags_or_questions_and_shows_its_sheet(
    mesh: RealMesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    def run(argv: list[str]) -> str:
        buffer = io.StringIO()
        console = Console(file=buffer, width=140, color_system=None)
        code = cli.main(["--gateway", mesh.gateway, "--key", mesh.keys["dm"], *argv], console)
        assert code == 0, buffer.getvalue()
        return buffer.getvalue()

    flags = "--name Wren --class ranger --race elf --subrace high-elf --level 2 --background-skills insight,religion"
    built = run(["character", "new", "--campaign", mesh.campaign_a, *flags.split()])
    assert "Wren — high elf ranger 2" in built, built
    character_id = re.search(r"--character (\S+)", built)
    assert character_id is not None, built
    shown = run(["character", "show", character_id.group(1)])
    assert "Wren — high elf ranger 2" in shown and "Saving throws: Str +" in shown and "HP " in shown, shown

    # No flags: the questions are asked (a wrong answer is asked again), then the sheet is printed.
    monkeypatch.setattr("sys.stdin", io.StringIO("Tamsin\nnecromancer\nwizard\ngnome\nrock-gnome\n4\n"))
    asked = run(["character", "new", "--campaign", mesh.campaign_a, "--background-skills", "history,arcana"])
    assert "choose one of:" in asked and "Tamsin — rock gnome wizard 4" in asked, asked
    assert "Spellcasting (Int)" in asked, asked


def test_an_encounter_is_sized_for_the_campaigns_stored_party(mesh: RealMesh) -> None:
    with grpc.insecure_channel(mesh.gateway) as channel:
        campaign = (
            memory_pb2_grpc.MemoryServiceStub(channel)
            .CreateCampaign(
                memory_pb2.CreateCampaignRequest(world_id="ashen-reach", name="Stored party"),
                metadata=mesh.auth("dm"),
                timeout=30,
            )
            .campaign.id
        )
    for name, cls, level in (("Ash", "fighter", 3), ("Cor", "cleric", 5)):
        with grpc.insecure_channel(mesh.gateway) as channel:
            npc_pb2_grpc.NpcServiceStub(channel).BuildCharacter(
                npc_pb2.BuildCharacterRequest(
                    campaign_id=campaign,
                    name=name,
                    character_class=cls,
                    level=level,
                    pregenerated=True,
                    save=True,
                ),
                metadata=mesh.auth("dm"),
                timeout=30,
            )
    with grpc.insecure_channel(mesh.gateway) as channel:
        request = gateway_pb2.PlayTurnRequest(
            campaign_id=campaign, turn_id="fight-1", input="We draw our swords and attack the bandits", seed=4
        )
        replies = list(
            gateway_pb2_grpc.GameMasterServiceStub(channel).PlayTurn(
                request, metadata=mesh.auth("dm"), timeout=60
            )
        )
    warnings = [r.warning.message for r in replies if r.WhichOneof("event") == "warning"]
    encounters = [r.encounter.encounter for r in replies if r.WhichOneof("event") == "encounter"]
    assert len(encounters) == 1, warnings
    # The DMG's 2014 thresholds summed over a level 3 and a level 5 character (no party in the request).
    assert list(encounters[0].xp.thresholds_2014) == [75 + 250, 150 + 500, 225 + 750, 400 + 1100]
