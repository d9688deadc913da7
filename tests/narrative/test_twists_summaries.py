"""PlotTwist and SummarizeSession through the real gRPC server (procedural backend, fake memory)."""

from __future__ import annotations

import json

import grpc
import pytest

from dungeonmaster.v1 import common_pb2, memory_pb2, narrative_pb2
from tests.narrative.conftest import Mesh
from tests.narrative.test_narrate import field_violations, narrate


def seed_cast(mesh: Mesh) -> None:
    mesh.memory.add_campaign("c1")
    mesh.memory.add_lore(
        "c1", "Timeline", "In 1102 the Long Winter froze the Brinefen and House Varrow lost its heir."
    )
    mesh.memory.add_npc("c1", "Mara")
    mesh.memory.add_npc("c1", "Tolk")
    mesh.memory.add_relationship("c1", "character:c2", "faction:House Varrow", "vassal-of")
    mesh.memory.add_relationship("c1", "faction:Red Hand", "faction:House Varrow", "rival")


async def test_plot_twist_is_structured_consistent_and_recorded(mesh: Mesh) -> None:
    seed_cast(mesh)
    reply = await mesh.stub.PlotTwist(
        narrative_pb2.PlotTwistRequest(
            campaign_id="c1", situation="The heir of House Varrow is missing", seed=4
        ),
        timeout=10,
    )
    twist = reply.twist
    assert twist.title and twist.twist and len(twist.foreshadowing) == 3
    assert set(twist.affected_npcs) <= {"Mara", "Tolk"} and twist.affected_npcs
    assert set(twist.affected_factions) <= {"House Varrow", "Red Hand"} and twist.affected_factions
    assert "Long Winter" in twist.timeline_note, "anchored on the retrieved timeline"
    assert reply.info.procedural and reply.info.backend == "procedural" and reply.info.seed == 4
    note = mesh.memory.campaigns["c1"].events[-1]
    assert note.kind == memory_pb2.EVENT_KIND_NOTE and note.audience == common_pb2.AUDIENCE_DM
    assert json.loads(note.metadata_json)["plot_twist"]["title"] == twist.title
    again = await mesh.stub.PlotTwist(
        narrative_pb2.PlotTwistRequest(
            campaign_id="c1", situation="The heir of House Varrow is missing", seed=4
        ),
        timeout=10,
    )
    assert again.twist == twist


async def test_plot_twist_bad_input(mesh: Mesh) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await mesh.stub.PlotTwist(
            narrative_pb2.PlotTwistRequest(situation="x" * 4001, max_tokens=5000), timeout=5
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(err.value)) == {"situation", "max_tokens"}
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await mesh.stub.PlotTwist(narrative_pb2.PlotTwistRequest(campaign_id="nope"), timeout=5)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_session_then_arc_summaries_are_stored_in_memory(mesh: Mesh) -> None:
    seed_cast(mesh)
    for session, actions in (
        ("s1", ["I bargain with Tolk", "I cross the marsh"]),
        ("s2", ["I open the vault"]),
    ):
        for action in actions:
            await narrate(mesh, campaign_id="c1", session_id=session, action=action, actor="Aria")
    first = await mesh.stub.SummarizeSession(
        narrative_pb2.SummarizeSessionRequest(campaign_id="c1", session_id="s1", seed=2), timeout=10
    )
    assert first.source_events == 4, "two actions and two narrations"
    assert "bargain with Tolk" in first.summary and "cross the marsh" in first.summary
    assert first.event.kind == memory_pb2.EVENT_KIND_SESSION_SUMMARY and first.event.session_id == "s1"
    assert first.event.content == first.summary and first.event.id
    assert json.loads(first.event.metadata_json)["source_events"] == 4
    second = await mesh.stub.SummarizeSession(
        narrative_pb2.SummarizeSessionRequest(campaign_id="c1", session_id="s2", seed=2), timeout=10
    )
    assert second.source_events == 2 and "open the vault" in second.summary
    arc = await mesh.stub.SummarizeSession(
        narrative_pb2.SummarizeSessionRequest(campaign_id="c1", level=narrative_pb2.SUMMARY_LEVEL_ARC),
        timeout=10,
    )
    assert arc.source_events == 2 and arc.event.kind == memory_pb2.EVENT_KIND_ARC_SUMMARY
    assert "bargain with Tolk" in arc.summary.lower() or "bargain with tolk" in arc.summary.lower()
    with pytest.raises(grpc.aio.AioRpcError) as err:  # everything since the last arc is summarised already
        await mesh.stub.SummarizeSession(
            narrative_pb2.SummarizeSessionRequest(campaign_id="c1", level=narrative_pb2.SUMMARY_LEVEL_ARC),
            timeout=10,
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_long_session_is_summarised_in_parts_within_a_small_window(start_narrative) -> None:  # type: ignore[no-untyped-def]
    async with start_narrative(text_context_window=600) as mesh:
        mesh.memory.add_campaign("c1")
        for i in range(40):
            await narrate(
                mesh,
                campaign_id="c1",
                session_id="long",
                action=f"I search room number {i} of the keep",
                max_tokens=60,
            )
        reply = await mesh.stub.SummarizeSession(
            narrative_pb2.SummarizeSessionRequest(campaign_id="c1", session_id="long", max_tokens=120),
            timeout=20,
        )
    assert reply.source_events == 80
    assert reply.summary and len(reply.summary) < 2000


async def test_summary_bad_input(mesh: Mesh) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await mesh.stub.SummarizeSession(narrative_pb2.SummarizeSessionRequest(), timeout=5)
    assert set(field_violations(err.value)) == {"campaign_id", "session_id"}
    mesh.memory.add_campaign("c9")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await mesh.stub.SummarizeSession(
            narrative_pb2.SummarizeSessionRequest(campaign_id="c9", session_id="s"), timeout=5
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
