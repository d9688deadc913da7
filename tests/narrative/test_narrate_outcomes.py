"""Narrate with outcomes the rules decided: the narration tells them truly; malformed outcomes are refused."""

from __future__ import annotations

import grpc
import pytest

from dungeonmaster.v1 import narrative_pb2
from mesh.text.outcomes import load_tables
from mesh.text.procedural import load_tables as scene_tables
from tests.narrative.conftest import Mesh
from tests.narrative.test_narrate import field_violations, narrate


def _lines(result: str) -> list[str]:
    return [str(s).format(actor="Bree") for s in load_tables()["skills"]["stealth"][result]]


@pytest.mark.parametrize("success", [True, False])
async def test_narration_tells_the_decided_outcome(mesh: Mesh, success: bool) -> None:
    outcome = narrative_pb2.NarrationOutcome(
        actor="Bree",
        check="stealth",
        success=success,
        degree="success" if success else "failure",
        total=14,
        dc=15,
    )
    replies = await narrate(mesh, action="I sneak past the guard", actor="Bree", seed=5, outcomes=[outcome])
    text = "".join(r.text for r in replies)
    told = "success" if success else "failure"
    other = "failure" if success else "success"
    assert any(line in text for line in _lines(told)), text
    assert not any(line in text for line in _lines(other)), text


@pytest.mark.parametrize(
    ("outcome", "field"),
    [
        (
            narrative_pb2.NarrationOutcome(check="stealth", success=True, degree="fumble"),
            "outcomes[0].degree",
        ),
        (
            narrative_pb2.NarrationOutcome(check="stealth", success=True, degree="splendid"),
            "outcomes[0].degree",
        ),
        (narrative_pb2.NarrationOutcome(check="", success=True), "outcomes[0].check"),
        (narrative_pb2.NarrationOutcome(statement="x" * 1001, success=True), "outcomes[0].statement"),
    ],
)
async def test_malformed_outcomes_name_the_field(
    mesh: Mesh, outcome: narrative_pb2.NarrationOutcome, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await narrate(mesh, action="I sneak", outcomes=[outcome])
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in field_violations(info.value)


async def test_stated_outcomes_are_told_as_written_with_no_invented_clash(mesh: Mesh) -> None:
    """A fight step's outcomes (who hit whom with what, who fell) are told word for word, in order."""
    stated = [
        "Bree attacks Goblin 1 with Shortsword: 17 vs AC 15, hit",
        "Goblin 1 takes 6 piercing damage (7 -> 1 HP)",
        "Goblin 1 falls.",
    ]
    outcomes = [narrative_pb2.NarrationOutcome(statement=s, success=True, degree="success") for s in stated]
    replies = await narrate(mesh, action="I attack the goblin", actor="Bree", seed=5, outcomes=outcomes)
    text = "".join(r.text for r in replies)
    at = [text.find(s) for s in stated]
    assert all(i >= 0 for i in at) and at == sorted(at), text
    for line in scene_tables("scene")["fight"]:
        assert str(line).split("{target}")[-1] not in text, text
