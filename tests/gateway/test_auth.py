"""Security: keys, campaigns, roles, audience, forged identity, rate and size limits, TLS."""

from __future__ import annotations

import subprocess
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from dungeonmaster.v1 import common_pb2, gateway_pb2, gateway_pb2_grpc, memory_pb2, npc_pb2
from gateway.gate import Gate
from gateway.keys import KeyRing, Unauthenticated, hash_key, is_loopback, new_key, presented_key
from gateway.ratelimit import RateLimiter
from gateway.service import build_spec
from mesh.errors import ResourceExhausted
from mesh.server import start_server
from tests.gateway.conftest import Rig, auth, base_settings, key_settings
from tests.gateway.fakes import SECRET, FakeMesh, spec_for

GET_CAMPAIGN = "/dungeonmaster.v1.MemoryService/GetCampaign"
GET_CHARACTER = "/dungeonmaster.v1.MemoryService/GetCharacter"


async def _code(
    rig: Rig, method: str, request: bytes, metadata: tuple[tuple[str, str], ...]
) -> grpc.StatusCode:
    try:
        await rig.raw(method)(request, metadata=metadata, timeout=5)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def _campaign(cid: str) -> bytes:
    return memory_pb2.GetCampaignRequest(campaign_id=cid).SerializeToString()


async def test_no_key_or_bad_key_is_unauthenticated(rig: Rig) -> None:
    assert await _code(rig, GET_CAMPAIGN, _campaign("camp-a"), ()) == grpc.StatusCode.UNAUTHENTICATED
    bad = (("authorization", "Bearer dmk_not_a_key"),)
    assert await _code(rig, GET_CAMPAIGN, _campaign("camp-a"), bad) == grpc.StatusCode.UNAUTHENTICATED
    assert await _code(rig, GET_CAMPAIGN, _campaign("camp-a"), (("x-api-key", "dmk_test_dm_a"),)) == (
        grpc.StatusCode.OK
    )
    assert not [c for c in rig.fakes.log.calls if c.metadata.get("x-dm-key-id") != "dm-a"]
    turn = gateway_pb2_grpc.GameMasterServiceStub(rig.channel).PlayTurn(
        gateway_pb2.PlayTurnRequest(campaign_id="camp-a", turn_id="t", input="look"), timeout=5
    )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await turn.read()
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_campaign_scope(rig: Rig) -> None:
    assert await _code(rig, GET_CAMPAIGN, _campaign("camp-a"), auth("dm-a")) == grpc.StatusCode.OK
    assert (
        await _code(rig, GET_CAMPAIGN, _campaign("camp-b"), auth("dm-a")) == grpc.StatusCode.PERMISSION_DENIED
    )
    assert await _code(rig, GET_CAMPAIGN, _campaign("camp-b"), auth("dm-all")) == grpc.StatusCode.OK
    # Reached by id: the owning campaign is looked up before the call is let through.
    char_b = memory_pb2.GetCharacterRequest(character_id="char-b").SerializeToString()
    # Another campaign's character is answered as if it did not exist.
    assert await _code(rig, GET_CHARACTER, char_b, auth("dm-a")) == grpc.StatusCode.NOT_FOUND
    char_a = memory_pb2.GetCharacterRequest(character_id="char-a").SerializeToString()
    assert await _code(rig, GET_CHARACTER, char_a, auth("dm-a")) == grpc.StatusCode.OK
    # World-level writes need a key for every campaign; composite calls obey the same rules.
    create = memory_pb2.CreateWorldRequest(slug="x").SerializeToString()
    path = "/dungeonmaster.v1.MemoryService/CreateWorld"
    assert await _code(rig, path, create, auth("dm-a")) == grpc.StatusCode.PERMISSION_DENIED
    stub = gateway_pb2_grpc.GameMasterServiceStub(rig.channel)
    call = stub.PlayTurn(
        gateway_pb2.PlayTurnRequest(campaign_id="camp-b", turn_id="t1", input="look"), metadata=auth("dm-a")
    )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call.read()
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "camp-b" in (info.value.details() or "")


async def test_player_never_sees_secrets(rig: Rig) -> None:
    char_a = memory_pb2.GetCharacterRequest(character_id="char-a")
    reply = memory_pb2.GetCharacterResponse.FromString(
        await rig.raw(GET_CHARACTER)(char_a.SerializeToString(), metadata=auth("player-a"), timeout=5)
    )
    assert reply.character.name == "Ada" and not reply.character.secrets
    as_dm = memory_pb2.GetCharacterRequest(character_id="char-a", audience=common_pb2.AUDIENCE_DM)
    code = await _code(rig, GET_CHARACTER, as_dm.SerializeToString(), auth("player-a"))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    # Forged identity headers cannot lift a player to DM: the service sees the gateway's identity only.
    forged = (*auth("player-a"), ("x-dm-role", "dm"), ("x-dm-campaigns", "*"))
    code = await _code(rig, GET_CHARACTER, as_dm.SerializeToString(), forged)
    assert code == grpc.StatusCode.PERMISSION_DENIED
    reply = memory_pb2.GetCharacterResponse.FromString(
        await rig.raw(GET_CHARACTER)(as_dm.SerializeToString(), metadata=auth("dm-a"), timeout=5)
    )
    assert list(reply.character.secrets) == [SECRET]  # the secret exists: DMs see it
    # DM-only tools are closed to players.
    npc = npc_pb2.GenerateNpcRequest(campaign_id="camp-a").SerializeToString()
    code = await _code(rig, "/dungeonmaster.v1.NpcService/GenerateNpc", npc, auth("player-a"))
    assert code == grpc.StatusCode.PERMISSION_DENIED


async def test_rate_limit_with_retry_info(rig: Rig) -> None:
    codes = [await _code(rig, GET_CAMPAIGN, _campaign("camp-a"), auth("slow")) for _ in range(3)]
    assert codes[:2] == [grpc.StatusCode.OK, grpc.StatusCode.OK]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await rig.raw(GET_CAMPAIGN)(_campaign("camp-a"), metadata=auth("slow"), timeout=5)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(info.value)
    assert status is not None
    retry = error_details_pb2.RetryInfo()
    assert any(d.Unpack(retry) for d in status.details if d.Is(retry.DESCRIPTOR))
    assert 0 < retry.retry_delay.ToTimedelta().total_seconds() <= 1.0
    # Other keys have their own buckets.
    assert await _code(rig, GET_CAMPAIGN, _campaign("camp-a"), auth("dm-a")) == grpc.StatusCode.OK


async def test_request_size_limit(rig: Rig) -> None:
    big = memory_pb2.GetCampaignRequest(campaign_id="x" * (rig.settings.gateway_max_request_bytes + 10))
    code = await _code(rig, GET_CAMPAIGN, big.SerializeToString(), auth("dm-all"))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_keys_and_buckets_units() -> None:
    key = new_key()
    assert key.startswith("dmk_") and len(key) > 40 and new_key() != key
    assert presented_key((("authorization", f"Bearer {key}"),)) == key
    assert presented_key((("x-api-key", key),)) == key
    assert presented_key((("authorization", f"Basic {key}"),)) == ""
    ring = KeyRing.from_settings(base_settings(gateway_api_keys=key_settings()))
    assert not ring.dev_mode
    with pytest.raises(Unauthenticated):
        ring.authenticate(())
    assert ring.authenticate((("x-api-key", "dmk_test_player_a"),)).identity().metadata() == (
        ("x-dm-role", "player"),
        ("x-dm-campaigns", "camp-a"),
        ("x-dm-key-id", "player-a"),
    )
    dev = KeyRing.from_settings(base_settings())
    assert dev.dev_mode and dev.authenticate(()).all_campaigns
    assert not KeyRing.from_settings(base_settings(host="0.0.0.0")).dev_mode
    assert is_loopback("127.0.0.1") and is_loopback("::1") and not is_loopback("10.0.0.1")
    assert hash_key("a") != hash_key("b")

    gate = Gate(base_settings(gateway_max_deadline_s=600))
    assert gate.timeout("/dungeonmaster.v1.VisualService/GenerateImage", None) == 300.0
    assert gate.timeout("/dungeonmaster.v1.GameMasterService/PlayTurn", None) == 120.0
    assert gate.timeout("/dungeonmaster.v1.EncounterService/RollDice", None) == 30.0
    assert gate.timeout("/dungeonmaster.v1.EncounterService/RollDice", 5.0) == 5.0
    assert gate.timeout("/dungeonmaster.v1.EncounterService/RollDice", 10_000.0) == 600.0

    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert [limiter.try_take("k", 2.0, 2) for _ in range(3)] == [0.0, 0.0, 0.5]
    now[0] = 0.5
    assert limiter.try_take("k", 2.0, 2) == 0.0
    with pytest.raises(ResourceExhausted) as info:
        limiter.take("k", 2.0, 2)
    assert info.value.retry_after_s == 0.5


def _certs(tmp: Path) -> dict[str, Path]:
    """A throwaway CA, a server certificate for 127.0.0.1/localhost, and a client certificate (openssl)."""

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=tmp, check=True, capture_output=True, timeout=60)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=test-ca")  # fmt: skip
    (tmp / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name in ("server", "client"):
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", f"/CN={name}")  # fmt: skip
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", "2", "-extfile", "san.ext")  # fmt: skip
    return {n: tmp / n for n in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")}


async def test_tls_public_port_and_mutual_tls_to_services(tmp_path: Path) -> None:
    certs = _certs(tmp_path)
    read = {k: v.read_bytes() for k, v in certs.items()}
    fake_settings = base_settings()
    async with FakeMesh(fake_settings) as fakes:
        # Memory behind mutual TLS: it accepts only clients with a certificate from the CA.
        await fakes.stop("memory")
        mtls = grpc.ssl_server_credentials(
            [(read["server.key"], read["server.pem"])],
            root_certificates=read["ca.pem"],
            require_client_auth=True,
        )
        async with start_server(
            spec_for("memory", fakes.servicers["memory"], mtls), fake_settings, port=0
        ) as mem:
            addrs = {f"{n}_addr": a for n, a in fakes.addresses().items()}
            addrs["memory_addr"] = f"localhost:{mem.port}"
            settings = base_settings(
                gateway_api_keys=key_settings(),
                gateway_tls_cert_file=str(certs["server.pem"]),
                gateway_tls_key_file=str(certs["server.key"]),
                gateway_upstream_tls_ca_file=str(certs["ca.pem"]),
                gateway_upstream_tls_cert_file=str(certs["client.pem"]),
                gateway_upstream_tls_key_file=str(certs["client.key"]),
                **addrs,
            )
            # The other fakes are plaintext; only memory is reached in this test.
            async with start_server(build_spec(settings), settings, port=0) as gw:
                creds = grpc.ssl_channel_credentials(root_certificates=read["ca.pem"])
                async with grpc.aio.secure_channel(f"localhost:{gw.port}", creds) as channel:
                    reply = await channel.unary_unary(GET_CAMPAIGN)(
                        _campaign("camp-a"), metadata=auth("dm-all"), timeout=10
                    )
                assert memory_pb2.GetCampaignResponse.FromString(reply).campaign.world_id == "world-1"
                async with grpc.aio.insecure_channel(f"localhost:{gw.port}") as plain:
                    with pytest.raises(grpc.aio.AioRpcError) as info:
                        await plain.unary_unary(GET_CAMPAIGN)(
                            _campaign("camp-a"), metadata=auth("dm-all"), timeout=3
                        )
                assert info.value.code() == grpc.StatusCode.UNAVAILABLE
