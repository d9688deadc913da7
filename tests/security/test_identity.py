"""Service identity: module services serve only mutual TLS, and believe identity metadata only from callers
whose certificate names a service allowed to call them."""

from __future__ import annotations

import datetime

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from dungeonmaster.v1 import common_pb2, encounter_pb2, encounter_pb2_grpc, memory_pb2, memory_pb2_grpc
from tests.gateway.realmesh import RealMesh
from tests.security.conftest import as_service
from tests.support.procs import health_status

FORGED_DM = (("x-dm-role", "dm"), ("x-dm-campaigns", "*"), ("x-dm-key-id", "forged"))


def _ca_file(mesh: RealMesh) -> bytes:
    from pathlib import Path

    return (Path(mesh.env["DM_DATA_DIR"]) / "tls" / "ca.pem").read_bytes()


def _list_campaigns(
    address: str, credentials: grpc.ChannelCredentials | None, metadata: tuple[tuple[str, str], ...] = ()
) -> memory_pb2.ListCampaignsResponse:
    channel = (
        grpc.insecure_channel(address) if credentials is None else grpc.secure_channel(address, credentials)
    )
    with channel:
        return memory_pb2_grpc.MemoryServiceStub(channel).ListCampaigns(
            memory_pb2.ListCampaignsRequest(), metadata=metadata, timeout=10
        )


def _self_signed() -> tuple[bytes, bytes]:
    """A certificate claiming to be the gateway, signed by nobody the mesh trusts."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gateway")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("gateway")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def test_direct_call_without_a_client_certificate_is_refused(secure_mesh: RealMesh) -> None:
    memory = secure_mesh.procs["memory"].address
    # Plaintext: the port speaks only TLS.
    with pytest.raises(grpc.RpcError) as info:
        _list_campaigns(memory, None, FORGED_DM)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    # TLS that trusts the mesh CA but presents no certificate: the handshake is refused.
    with pytest.raises(grpc.RpcError) as info:
        _list_campaigns(
            memory, grpc.ssl_channel_credentials(root_certificates=_ca_file(secure_mesh)), FORGED_DM
        )
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    # A certificate naming the gateway but signed by another CA: refused too.
    cert, key = _self_signed()
    foreign = grpc.ssl_channel_credentials(
        root_certificates=_ca_file(secure_mesh), private_key=key, certificate_chain=cert
    )
    with pytest.raises(grpc.RpcError) as info:
        _list_campaigns(memory, foreign, FORGED_DM)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    # Every module service, not only memory.
    for name in ("narrative", "encounter", "npc", "item", "visual"):
        assert health_status(secure_mesh.procs[name].address, "liveness", timeout=2) is None, name


def test_forged_identity_with_a_non_gateway_certificate_is_refused(secure_mesh: RealMesh) -> None:
    memory = secure_mesh.procs["memory"].address
    # Item never calls memory (encounter does: checks read sheets), the operator certificate is for health only.
    for name in ("item", "operator"):
        with pytest.raises(grpc.RpcError) as info:
            _list_campaigns(memory, as_service(secure_mesh, name), FORGED_DM)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED, name
        with pytest.raises(grpc.RpcError) as info:
            _list_campaigns(memory, as_service(secure_mesh, name))
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED, name
    # Only the gateway may call the other module services.
    encounter = secure_mesh.procs["encounter"].address
    with grpc.secure_channel(encounter, as_service(secure_mesh, "narrative")) as channel:
        with pytest.raises(grpc.RpcError) as info:
            encounter_pb2_grpc.EncounterServiceStub(channel).RollDice(
                encounter_pb2.RollDiceRequest(notation="1d6", seed=1), metadata=FORGED_DM, timeout=10
            )
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # Health answers any certificate from the mesh CA (probes and the launcher use the operator's).
    with grpc.secure_channel(memory, as_service(secure_mesh, "operator")) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=10
        )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_allowed_callers_are_served_and_their_identity_metadata_honoured(secure_mesh: RealMesh) -> None:
    memory = secure_mesh.procs["memory"].address
    # The gateway's certificate without identity acts as a service over every campaign.
    ids = {c.id for c in _list_campaigns(memory, as_service(secure_mesh, "gateway")).campaigns}
    assert {secure_mesh.campaign_a, secure_mesh.campaign_b} <= ids
    # Narrative propagates the player's identity: memory caps the audience at PLAYER.
    with grpc.secure_channel(memory, as_service(secure_mesh, "narrative")) as channel:
        stub = memory_pb2_grpc.MemoryServiceStub(channel)
        request = memory_pb2.ListLoreEntriesRequest(world_id="ashen-reach", audience=common_pb2.AUDIENCE_DM)
        as_dm = stub.ListLoreEntries(request, timeout=10).entries
        as_player = stub.ListLoreEntries(
            request,
            metadata=(("x-dm-role", "player"), ("x-dm-campaigns", secure_mesh.campaign_a)),
            timeout=10,
        ).entries
    assert any(e.audience == common_pb2.AUDIENCE_DM for e in as_dm)
    assert as_player and all(e.audience != common_pb2.AUDIENCE_DM for e in as_player)
