"""Narrate through the real gRPC server with the procedural backend: streaming, context, moderation, bad input."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from dungeonmaster.v1 import common_pb2, memory_pb2, narrative_pb2
from mesh.moderation import sha256_text
from tests.narrative.conftest import Mesh

BRINEFEN = "The Brinefen is a salt marsh where the drowned bells of Saint Oril still ring at low tide."
VARROW = "House Varrow rules the coast from the Gull Tower and owes the smugglers a blood debt."


def seed_campaign(mesh: Mesh, campaign_id: str = "camp-1") -> None:
    data = mesh.memory.add_campaign(campaign_id)
    assert data.world_id
    mesh.memory.add_lore(campaign_id, "The Brinefen", BRINEFEN)
    mesh.memory.add_lore(campaign_id, "House Varrow", VARROW, pinned=True)


async def narrate(mesh: Mesh, **fields: object) -> list[narrative_pb2.NarrateResponse]:
    return [m async for m in mesh.stub.Narrate(narrative_pb2.NarrateRequest(**fields), timeout=10)]


def field_violations(err: grpc.aio.AioRpcError) -> dict[str, str]:
    status = rpc_status.from_call(err)
    assert status is not None, "rich status details expected"
    out: dict[str, str] = {}
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out.update({v.field: v.description for v in bad.field_violations})
    return out


async def test_narration_streams_chunks_and_uses_retrieved_context(mesh: Mesh) -> None:
    seed_campaign(mesh)
    messages = await narrate(
        mesh, campaign_id="camp-1", action="I wade into the Brinefen marsh", actor="Aria", seed=7
    )
    assert len(messages) >= 4, "several chunks, then the final message"
    assert [m.index for m in messages] == list(range(len(messages)))
    assert all(not m.done for m in messages[:-1]) and messages[-1].done
    text = "".join(m.text for m in messages)
    # Memory's search hit for the action is in the narration; the pinned overview is not (not asked about).
    assert "drowned bells of Saint Oril" in text
    assert "House Varrow rules the coast" not in text
    first, last = messages[0], messages[-1]
    assert {p.title for p in first.context} >= {"The Brinefen", "House Varrow"}
    assert last.finish_reason == "stop"
    assert last.info.backend == "procedural" and last.info.procedural and last.info.seed == 7
    assert mesh.memory.retrievals[-1].query == "I wade into the Brinefen marsh"
    # The action and the narration were recorded as events.
    kinds = [e.kind for e in mesh.memory.campaigns["camp-1"].events]
    assert kinds == [memory_pb2.EVENT_KIND_PLAYER_ACTION, memory_pb2.EVENT_KIND_DM_NARRATION]
    assert mesh.memory.campaigns["camp-1"].events[1].content == text


async def test_same_seed_same_narration_different_seed_different(mesh: Mesh) -> None:
    # Without a campaign, so the recorded events of one run do not change the next run's context.
    lore = [memory_pb2.ContextPiece(title="The Brinefen", text=BRINEFEN)]
    runs: dict[int, list[str]] = {}
    for seed in (11, 11, 12, 13):
        msgs = await narrate(mesh, action="I light a torch", actor="Bram", context=lore, seed=seed)
        runs.setdefault(seed, []).append("".join(m.text for m in msgs))
    assert runs[11][0] == runs[11][1]
    assert len({runs[11][0], runs[12][0], runs[13][0]}) == 3


async def test_caller_context_is_used_without_a_campaign(mesh: Mesh) -> None:
    piece = memory_pb2.ContextPiece(
        title="The ferry", text="The ferryman Tolk asks three silver coins per crossing."
    )
    msgs = await narrate(mesh, action="I haggle with the ferryman", context=[piece], seed=3)
    assert "ferryman Tolk asks three silver coins" in "".join(m.text for m in msgs)
    assert not mesh.memory.retrievals, "no campaign: memory is not asked"


async def test_seed_zero_picks_and_reports_a_seed(mesh: Mesh) -> None:
    msgs = await narrate(mesh, action="I listen at the door")
    assert msgs[-1].info.seed != 0


async def test_blocked_input_is_refused_with_reason_and_logged(mesh: Mesh) -> None:
    seed_campaign(mesh)
    action = "Tell me how to build a pipe bomb"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await narrate(mesh, campaign_id="camp-1", action=action)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = field_violations(err.value)
    assert "S9" in violations["action"] and "Indiscriminate Weapons" in violations["action"]
    logged = mesh.memory.moderation
    assert len(logged) == 1
    decision = logged[0]
    assert (decision.direction, decision.allowed, decision.backend) == ("input", False, "rules")
    assert list(decision.categories) == ["S9"] and decision.campaign_id == "camp-1"
    assert decision.text_sha256 == sha256_text(action)
    assert not mesh.memory.campaigns["camp-1"].events, "a refused action is not recorded as played"


async def test_clean_input_passes_and_both_decisions_are_logged(mesh: Mesh) -> None:
    seed_campaign(mesh)
    msgs = await narrate(mesh, campaign_id="camp-1", action="I bow to the knight")
    assert msgs[-1].finish_reason == "stop"
    directions = sorted((d.direction, d.allowed) for d in mesh.memory.moderation)
    assert directions == [("input", True), ("output", True)]


async def test_blocked_output_is_replaced_by_a_safe_continuation(mesh: Mesh) -> None:
    # The procedural writer quotes context verbatim, so a caller-supplied fact with a listed term reaches the
    # output stream; the guard must stop it before any of the term is sent.
    piece = memory_pb2.ContextPiece(
        title="Rumour", text="Smugglers say the old mill hides a pipe bomb under the floor."
    )
    msgs = await narrate(mesh, campaign_id="", action="I ask about rumours", context=[piece], seed=5)
    text = "".join(m.text for m in msgs)
    assert msgs[-1].finish_reason == "moderated"
    assert "pipe bomb" not in text.lower() and "bomb" not in text.lower()
    assert "What do you do?" in text  # the safe continuation
    blocked = [d for d in mesh.memory.moderation if d.direction == "output"]
    assert len(blocked) == 1 and not blocked[0].allowed and list(blocked[0].categories) == ["S9"]


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"action": ""}, "action", "must not be empty"),
        ({"action": "   "}, "action", "must not be empty"),
        ({"action": "x" * 4001}, "action", "at most 4000"),
        ({"action": "I run", "max_tokens": 100_000}, "max_tokens", "between 1 and 4096"),
        ({"action": "I run", "max_tokens": -5}, "max_tokens", "between 1 and 4096"),
        ({"action": "I run", "temperature": 9.5}, "temperature", "between 0 and 2"),
    ],
)
async def test_bad_input_names_the_field(
    mesh: Mesh, fields: dict[str, object], field: str, words: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await narrate(mesh, **fields)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in err.value.details()
    assert words in field_violations(err.value)[field]


async def test_unknown_campaign_is_not_found(mesh: Mesh) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await narrate(mesh, campaign_id="no-such-campaign", action="I look around")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert "no-such-campaign" in err.value.details()


async def test_dm_audience_reaches_memory(mesh: Mesh) -> None:
    seed_campaign(mesh)
    await narrate(mesh, campaign_id="camp-1", action="I study the map", audience=common_pb2.AUDIENCE_DM)
    assert mesh.memory.retrievals[-1].audience == common_pb2.AUDIENCE_DM
