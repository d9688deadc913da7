"""Narrate with outcomes the rules decided: the narration tells them truly; malformed outcomes are refused."""

from __future__ import annotations

import grpc
import pytest

from dungeonmaster.v1 import narrative_pb2
from mesh.text.outcomes import load_tables
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
    ],
)
async def test_malformed_outcomes_name_the_field(
    mesh: Mesh, outcome: narrative_pb2.NarrationOutcome, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await narrate(mesh, action="I sneak", outcomes=[outcome])
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in field_violations(info.value)
