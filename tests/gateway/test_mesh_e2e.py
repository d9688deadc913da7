"""The gateway in front of the real services, every one its own process (started once for the module).

Forwarding is byte-exact for every module service, a Node.js client plays three turns through the gateway only,
keys and campaigns are enforced against real memory, a dead optional service degrades turns, a dead memory fails
them with UNAVAILABLE until it is back, and a turn's deadline cancels the slow model behind it.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from rich.console import Console

from dungeonmaster.v1 import (
    common_pb2,
    encounter_pb2,
    gateway_pb2,
    gateway_pb2_grpc,
    item_pb2,
    memory_pb2,
    memory_pb2_grpc,
    narrative_pb2,
    npc_pb2,
    npc_pb2_grpc,
    visual_pb2,
)
from gateway import cli
from gateway.routes import module_service_names
from tests.gateway.realmesh import RealMesh, start_mesh
from tests.gateway.slow_model import SlowModel
from tests.support.procs import ROOT, free_port, start_service

HERE = Path(__file__).parent
PARTY = common_pb2.Party(
    members=[common_pb2.PartyMember(name=n, level=3) for n in ("Ash", "Bree", "Cor", "Dov")]
)

KEYS = {
    "svc": ("service", None, {}),
    "dm": ("dm", None, {}),
    "dm-a": ("dm", ["A"], {}),
    "player-a": ("player", ["A"], {}),
    "slow": ("dm", None, {"rate_per_s": 1.0, "burst": 2}),
}


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealMesh]:
    started = start_mesh(tmp_path_factory.mktemp("gateway-e2e"), KEYS)
    try:
        yield started
    finally:
        started.stop_all()


def _turn(
    mesh: RealMesh, text: str, turn_id: str, key: str = "dm", **kw: object
) -> list[gateway_pb2.PlayTurnResponse]:
    with grpc.insecure_channel(mesh.gateway) as channel:
        stub = gateway_pb2_grpc.GameMasterServiceStub(channel)
        request = gateway_pb2.PlayTurnRequest(
            campaign_id=mesh.campaign_a, turn_id=turn_id, input=text, actor="Ash", party=PARTY, seed=3, **kw
        )
        return list(stub.PlayTurn(request, metadata=mesh.auth(key), timeout=60))


def _kinds(replies: list[gateway_pb2.PlayTurnResponse]) -> list[str]:
    return [str(r.WhichOneof("event")) for r in replies]


def test_reflection_through_grpcurl_lists_one_api(mesh: RealMesh) -> None:
    grpcurl = shutil.which("grpcurl") or str(ROOT / ".venv" / "bin" / "grpcurl")
    out = subprocess.run(
        [grpcurl, "-plaintext", mesh.gateway, "list"], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert {*module_service_names(), "dungeonmaster.v1.GameMasterService"} <= set(out)
    desc = subprocess.run(
        [grpcurl, "-plaintext", mesh.gateway, "describe", "dungeonmaster.v1.MemoryService"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "rpc RetrieveContext ( .dungeonmaster.v1.RetrieveContextRequest )" in desc


#: One deterministic call per module service: (service short name, method path, request, streaming?).
BYTE_CASES: list[tuple[str, str, bytes, bool]] = [
    ("memory", "/dungeonmaster.v1.MemoryService/GetWorld", memory_pb2.GetWorldRequest(world_id="ashen-reach").SerializeToString(), False),
    ("memory", "/dungeonmaster.v1.MemoryService/ListLoreEntries", memory_pb2.ListLoreEntriesRequest(world_id="ashen-reach", page_size=5).SerializeToString(), False),
    ("encounter", "/dungeonmaster.v1.EncounterService/RollDice", encounter_pb2.RollDiceRequest(notation="4d6kh3", seed=42).SerializeToString(), False),
    ("encounter", "/dungeonmaster.v1.EncounterService/GetMonster", encounter_pb2.GetMonsterRequest(monster="goblin").SerializeToString(), False),
    ("npc", "/dungeonmaster.v1.NpcService/GetNpcOptions", npc_pb2.GetNpcOptionsRequest().SerializeToString(), False),
    ("item", "/dungeonmaster.v1.ItemService/AppraiseItem", item_pb2.AppraiseItemRequest(item=item_pb2.MagicItem(bonus=2, item_type=item_pb2.ITEM_TYPE_WEAPON, base_item="longsword")).SerializeToString(), False),
    ("visual", "/dungeonmaster.v1.VisualService/BuildImagePrompt", visual_pb2.BuildImagePromptRequest(kind=visual_pb2.IMAGE_KIND_LOCATION, subject="the Brinefen at dusk").SerializeToString(), False),
    ("narrative", "/dungeonmaster.v1.NarrativeService/Narrate", narrative_pb2.NarrateRequest(world_id="ashen-reach", action="I light a lantern", seed=9, max_tokens=120).SerializeToString(), True),
]  # fmt: skip


def _call(
    address: str, path: str, request: bytes, streaming: bool, metadata: tuple[tuple[str, str], ...]
) -> list[bytes]:
    with grpc.insecure_channel(address) as channel:
        if streaming:
            return list(channel.unary_stream(path)(request, metadata=metadata, timeout=60))
        return [channel.unary_unary(path)(request, metadata=metadata, timeout=60)]


def test_forwarding_is_byte_exact_for_every_module_service(mesh: RealMesh) -> None:
    assert {case[0] for case in BYTE_CASES} == {"memory", "narrative", "encounter", "npc", "item", "visual"}
    for service, path, request, streaming in BYTE_CASES:
        via = _call(mesh.gateway, path, request, streaming, mesh.auth("dm"))
        direct = _call(mesh.procs[service].address, path, request, streaming, ())
        if streaming:
            # The last message carries wall-clock latency; every message before it must match exactly.
            assert len(via) == len(direct) >= 3, path
            via, direct = via[:-1], direct[:-1]
        assert via == direct, path
        assert all(via), path
    # Errors too: same code, message and rich details when the request id is the same.
    bad = narrative_pb2.PlotTwistRequest(campaign_id=mesh.campaign_a, max_tokens=-1).SerializeToString()
    path = "/dungeonmaster.v1.NarrativeService/PlotTwist"
    errors = []
    for address, md in ((mesh.gateway, mesh.auth("dm")), (mesh.procs["narrative"].address, ())):
        with pytest.raises(grpc.RpcError) as info:
            _call(address, path, bad, False, (*md, ("x-request-id", "same-request")))
        errors.append(info.value)
    assert [e.code() for e in errors] == [grpc.StatusCode.INVALID_ARGUMENT] * 2
    assert errors[0].details() == errors[1].details()
    assert rpc_status.from_call(errors[0]) == rpc_status.from_call(errors[1])


def test_node_client_plays_three_turns_through_the_gateway(mesh: RealMesh) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is required (installed by make setup / .ci/run)")
    modules = ROOT / "tests" / "interop" / "node_modules"
    if not (modules / "@grpc" / "grpc-js").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=modules.parent, check=True, timeout=300)
    env = dict(
        os.environ, NODE_PATH=str(modules), DM_GATEWAY_ADDR=mesh.gateway, DM_GATEWAY_KEY=mesh.keys["svc"]
    )
    result = subprocess.run(
        [node, "--test", "--test-reporter=spec", str(HERE / "play_turns.test.js")],
        cwd=HERE,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "pass 1" in result.stdout, result.stdout[-3000:]


def test_cli_plays_a_turn_against_the_real_mesh(mesh: RealMesh, tmp_path: Path) -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=120, color_system=None)
    argv = ["--gateway", mesh.gateway, "--key", mesh.keys["dm"], "new-campaign", "--name", "CLI campaign"]
    assert cli.main(argv, console) == 0, buffer.getvalue()
    campaign = buffer.getvalue().split("campaign ", 1)[1].split()[0]
    argv = ["--gateway", mesh.gateway, "--key", mesh.keys["dm"], "play", "--campaign", campaign]
    argv += ["--once", "We draw our swords and attack the lizardfolk in the reeds", "--out", str(tmp_path)]
    assert cli.main(argv, console) == 0, buffer.getvalue()
    out = buffer.getvalue()
    assert "⚔" in out and "XP" in out, out  # an encounter card with its XP arithmetic
    assert "starts a fight" in out and "visual" not in out  # no image asked for, no warning


def test_keys_campaigns_and_secrets_against_real_memory(mesh: RealMesh) -> None:
    with grpc.insecure_channel(mesh.gateway) as channel:
        memory = memory_pb2_grpc.MemoryServiceStub(channel)
        get_a = memory_pb2.GetCampaignRequest(campaign_id=mesh.campaign_a)
        with pytest.raises(grpc.RpcError) as info:
            memory.GetCampaign(get_a, timeout=30)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert (
            memory.GetCampaign(get_a, metadata=mesh.auth("dm-a"), timeout=30).campaign.id == mesh.campaign_a
        )
        with pytest.raises(grpc.RpcError) as info:
            memory.GetCampaign(
                memory_pb2.GetCampaignRequest(campaign_id=mesh.campaign_b),
                metadata=mesh.auth("dm-a"),
                timeout=30,
            )
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED

        # An NPC saved into campaign A has DM-only secrets.
        npc = npc_pb2_grpc.NpcServiceStub(channel).GenerateNpc(
            npc_pb2.GenerateNpcRequest(
                world_id="ashen-reach", campaign_id=mesh.campaign_a, seed=77, save=True
            ),
            metadata=mesh.auth("dm-a"),
            timeout=60,
        )
        assert npc.character_id and npc.npc.secrets
        as_dm = memory_pb2.GetCharacterRequest(character_id=npc.character_id, audience=common_pb2.AUDIENCE_DM)
        seen = memory.GetCharacter(as_dm, metadata=mesh.auth("dm-a"), timeout=30).character
        assert list(seen.secrets)
        plain = memory_pb2.GetCharacterRequest(character_id=npc.character_id)
        seen = memory.GetCharacter(plain, metadata=mesh.auth("player-a"), timeout=30).character
        assert seen.name == npc.npc.name and not seen.secrets
        forged = (*mesh.auth("player-a"), ("x-dm-role", "dm"), ("x-dm-campaigns", "*"), ("x-dm-key-id", "dm"))
        seen = memory.GetCharacter(plain, metadata=forged, timeout=30).character
        assert not seen.secrets
        with pytest.raises(grpc.RpcError) as info:
            memory.GetCharacter(as_dm, metadata=forged, timeout=30)
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        # Player retrieval never carries DM-only lore, which the DM's does.
        query = memory_pb2.RetrieveContextRequest(
            campaign_id=mesh.campaign_a,
            query="the Kindled cult and the Cinder Sleeper",
            token_budget=8000,
            top_k=20,
        )
        pieces = memory.RetrieveContext(query, metadata=forged, timeout=60)
        assert all(
            p.audience != common_pb2.AUDIENCE_DM for p in (*pieces.pinned, *pieces.lore, *pieces.campaign)
        )
        query.audience = common_pb2.AUDIENCE_DM
        pieces = memory.RetrieveContext(query, metadata=mesh.auth("dm-a"), timeout=60)
        assert any(
            p.audience == common_pb2.AUDIENCE_DM for p in (*pieces.pinned, *pieces.lore, *pieces.campaign)
        )
        # The character of campaign A is out of reach of a key for campaign B only... and B's of A's key.
        with pytest.raises(grpc.RpcError) as info:
            memory.CreateCharacter(
                memory_pb2.CreateCharacterRequest(
                    campaign_id=mesh.campaign_b, character=memory_pb2.Character(name="X")
                ),
                metadata=mesh.auth("dm-a"),
                timeout=30,
            )
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED

    # Memory itself caps the audience by the caller's role, whatever the request says.
    with grpc.insecure_channel(mesh.procs["memory"].address) as direct:
        seen = (
            memory_pb2_grpc.MemoryServiceStub(direct)
            .GetCharacter(
                as_dm, metadata=(("x-dm-role", "player"), ("x-dm-campaigns", mesh.campaign_a)), timeout=30
            )
            .character
        )
        assert not seen.secrets

    # A player's turn shows the NPC met without its secrets.
    replies = _turn(mesh, "I greet the innkeeper and ask for a room", "player-turn-1", key="player-a")
    met = [r.npc.npc for r in replies if r.WhichOneof("event") == "npc"]
    assert met and met[0].name and not met[0].secrets


def test_rate_limit_is_resource_exhausted_with_retry_info(mesh: RealMesh) -> None:
    with grpc.insecure_channel(mesh.gateway) as channel:
        stub = memory_pb2_grpc.MemoryServiceStub(channel)
        request = memory_pb2.ListWorldsRequest(page_size=1)
        codes = []
        for _ in range(4):
            try:
                stub.ListWorlds(request, metadata=mesh.auth("slow"), timeout=30)
                codes.append(grpc.StatusCode.OK)
            except grpc.RpcError as exc:
                codes.append(exc.code())
                last = exc
        assert codes[:2] == [grpc.StatusCode.OK] * 2 and grpc.StatusCode.RESOURCE_EXHAUSTED in codes[2:]
        status = rpc_status.from_call(last)
        assert status is not None
        retry = error_details_pb2.RetryInfo()
        assert any(d.Unpack(retry) for d in status.details if d.Is(retry.DESCRIPTOR))
        assert retry.retry_delay.ToTimedelta().total_seconds() > 0


def test_turns_degrade_without_visual(mesh: RealMesh) -> None:
    mesh.procs["visual"].stop()
    try:
        replies = _turn(mesh, "I attack the bog wolves with my spear", "no-visual-1", want_image=True)
        kinds = _kinds(replies)
        assert kinds.count("narration") >= 2 and kinds[-1] == "done"
        warnings = [r.warning for r in replies if r.WhichOneof("event") == "warning"]
        assert [w.component for w in warnings if w.component == "visual"] == ["visual"]
        assert "visual" in warnings[0].message or any("visual" in w.message for w in warnings)
        with grpc.insecure_channel(mesh.gateway) as channel:
            status = gateway_pb2_grpc.GameMasterServiceStub(channel).GetStatus(
                gateway_pb2.GetStatusRequest(), timeout=30
            )
        assert status.serving and "visual" in status.degraded
    finally:
        mesh.restart("visual")


def test_memory_down_is_unavailable_then_turns_work_again(mesh: RealMesh) -> None:
    assert _kinds(_turn(mesh, "I look around the jetty", "mem-0"))[-1] == "done"
    mesh.procs["memory"].stop()
    with pytest.raises(grpc.RpcError) as info:
        _turn(mesh, "I look around the jetty again", "mem-1")
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    status = rpc_status.from_call(info.value)
    assert status is not None
    reason = error_details_pb2.ErrorInfo()
    assert any(d.Unpack(reason) for d in status.details if d.Is(reason.DESCRIPTOR))
    assert reason.reason == "MEMORY_UNAVAILABLE"
    mesh.restart("memory", timeout=180)
    back = time.monotonic()
    # The gateway reaches the restarted memory within seconds (its reconnect backoff is capped at 1 s)...
    with grpc.insecure_channel(mesh.gateway) as channel:
        stub = memory_pb2_grpc.MemoryServiceStub(channel)
        while True:
            try:
                stub.GetCampaign(
                    memory_pb2.GetCampaignRequest(campaign_id=mesh.campaign_a),
                    metadata=mesh.auth("dm"),
                    timeout=5,
                )
                break
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.UNAVAILABLE, exc.details()
                assert time.monotonic() - back < 5, (
                    "the gateway did not reach memory within 5 s of its restart"
                )
                time.sleep(0.1)
    # ...and turns work again: the first one also pays memory's lazy embedding-model load, the next is quick.
    assert _kinds(_turn(mesh, "I look around the jetty again", "mem-1"))[-1] == "done"
    started = time.monotonic()
    assert _kinds(_turn(mesh, "I listen to the tide", "mem-2"))[-1] == "done"
    assert time.monotonic() - started < 5


def test_deadline_on_a_slow_model_cancels_downstream(mesh: RealMesh, tmp_path: Path) -> None:
    """A second narrative service whose model takes 10 s, behind a second gateway; the turn has 200 ms."""
    with SlowModel(delay_s=10.0) as model:
        env = dict(mesh.env, DM_VLLM_URLS=model.url, DM_NARRATIVE_PORT=str(free_port()))
        narrative = start_service("narrative", env, tmp_path / "logs")
        gw_env = dict(
            mesh.gateway_env,
            DM_NARRATIVE_PORT=narrative.env["DM_NARRATIVE_PORT"],
            DM_GATEWAY_PORT=str(free_port()),
        )
        gateway = start_service("gateway", gw_env, tmp_path / "logs")
        try:
            with grpc.insecure_channel(gateway.address) as channel:
                stub = gateway_pb2_grpc.GameMasterServiceStub(channel)
                warm = gateway_pb2.PlayTurnRequest(
                    campaign_id=mesh.campaign_a, turn_id="slow-0", input="I wait", seed=1
                )
                with pytest.raises(grpc.RpcError):  # warms the gateway's world cache and channels
                    list(stub.PlayTurn(warm, metadata=mesh.auth("dm"), timeout=1.0))
                before = len(model.requests)
                started = time.monotonic()
                request = gateway_pb2.PlayTurnRequest(
                    campaign_id=mesh.campaign_a, turn_id="slow-1", input="I wait for the tide", seed=2
                )
                with pytest.raises(grpc.RpcError) as info:
                    list(stub.PlayTurn(request, metadata=mesh.auth("dm"), timeout=0.2))
                elapsed = time.monotonic() - started
            assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert elapsed < 1.0
            deadline = time.monotonic() + 5
            while len(model.aborts) <= before and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(model.requests) > before, "the turn never reached the model"
            assert len(model.aborts) > before, "the model request was not cancelled"
            assert model.aborts[-1] - started < 1.5
            assert model.completed == 0
        finally:
            gateway.stop()
            narrative.stop()
        log = json.dumps(narrative.log()[-2000:])
        assert "Traceback" not in log, log
